"""Table 2 (paper, efficiency): the cost of an r-times augmented set by text and by latent synthesis.

Latent synthesis is measured end to end by one `experiment.run_one`. Text synthesis is timed on a
sample (`time_text_pipeline`: sample responses with the LLM, label them with the task's gold
program, embed them) and extrapolated to the m new responses per seed pair it would need
(`responses_per_prompt`, `extrapolate`). `frame` and `parts_frame` set the result beside the paper's.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Mapping

import pandas as pd
import torch

from ..datasets import available_tasks
from ..io import LensInputError
from ..text.embeddings import extract_embeddings, format_chat
from ..text.generation import measure_generation_throughput, sample_responses
from ..text.models import load_model
from ..text.tasks import get_task_program
from ..vae import count_parameters
from .figures import human_count

PAPER_HEADER = "paper (Llama-3.1-8B, HH-RLHF)"
OURS_HEADER = "ours (SmolLM2-135M, this machine)"


def check_params(task: str, generation_dtype: str) -> None:
    """Stop before any run: the task's data must exist and the dtype must be a torch dtype."""
    if task not in available_tasks():
        raise LensInputError(f"task {task!r}: data not found (available: {available_tasks()}); build it with `make data`")
    if not isinstance(getattr(torch, generation_dtype, None), torch.dtype):
        raise LensInputError(f"generation_dtype: {generation_dtype!r} is not a torch dtype (e.g. 'bfloat16', 'float32')")


def responses_per_prompt(ratio: int) -> int:
    """New responses m per seed prompt so that the 2 + m responses give r - 1 new pairs:
    the smallest m with C(m + 2, 2) - 1 >= r - 1 (pairing combinatorially, as LENS does)."""
    return next(k for k in range(1, 100) if math.comb(k + 2, 2) - 1 >= ratio - 1)


def time_text_pipeline(model: str, *, device: str, generation_dtype: str, prompt_task: str, n_sample_prompts: int,
                       batch_size: int, max_new_tokens: int, n_label_sample: int, seed: int) -> dict[str, Any]:
    """Time the text-synthesis steps on a sample: generation (`measure_generation_throughput` on
    `n_sample_prompts` prompts), then gold labelling and float32 embedding of `n_label_sample` responses.

    Returns seconds to load the model, the generator's parameter count, the generation sample's
    measurement (`generation_sample`) and seconds per response of each step (`per_response`).
    """
    _say(f"loading {model} ({device})")
    start = time.perf_counter()
    lm, tokenizer = load_model(model, device=device)                 # float32: embeddings
    seconds_load = time.perf_counter() - start
    gen_lm = lm if generation_dtype == "float32" else load_model(model, dtype=getattr(torch, generation_dtype),
                                                                  device=device)[0]
    program = get_task_program(prompt_task)
    prompts = program.make_prompts(n_sample_prompts, seed=seed)
    _say(f"timing generation: {n_sample_prompts} prompts in batches of {batch_size}")
    timed = measure_generation_throughput(gen_lm, tokenizer, [p["prompt"] for p in prompts],
                                          batch_size=batch_size, max_new_tokens=max_new_tokens, seed=seed)
    labelled = prompts[:n_label_sample]
    _say(f"timing labelling and embedding: {len(labelled)} responses")
    responses = sample_responses(gen_lm, tokenizer, [p["prompt"] for p in labelled], batch_size=batch_size,
                                 max_new_tokens=max_new_tokens, seed=seed, progress=False)
    start = time.perf_counter()
    _ = [program.gold_reward(r, p["meta"]) for r, p in zip(responses, labelled)]
    label_each = (time.perf_counter() - start) / len(responses)
    start = time.perf_counter()
    extract_embeddings(lm, tokenizer, [format_chat(tokenizer, p["prompt"], r) for p, r in zip(labelled, responses)],
                       batch_size=batch_size, progress=False)
    embed_each = (time.perf_counter() - start) / len(responses)
    return {"seconds_load": seconds_load, "generator_params": count_parameters(lm), "generation_sample": timed,
            "n_labelled": len(responses),
            "per_response": {"generate": timed["seconds"] / timed["n_responses"], "label": label_each,
                             "embed": embed_each}}


def extrapolate(n_new: int, per_response: Mapping[str, float], seconds_latent_synthesis: float,
                seconds_reward_model: float) -> dict[str, float]:
    """Seconds of each step and pipeline when text synthesis must produce `n_new` = m * N responses.

    Text: each new response is generated, labelled and embedded at the measured per-response cost;
    generation = sampling + labelling, total adds embedding and the reward model. Latent: generation
    = VAE fit + synthesis (measured), total adds the reward model (the same model for both).
    """
    out = {"text_generate": n_new * per_response["generate"], "text_label": n_new * per_response["label"],
           "text_embed": n_new * per_response["embed"], "reward_model": seconds_reward_model,
           "latent_generation": seconds_latent_synthesis}
    out["text_generation"] = out["text_generate"] + out["text_label"]
    out["text_total"] = out["text_generation"] + out["text_embed"] + seconds_reward_model
    out["latent_total"] = seconds_latent_synthesis + seconds_reward_model
    return out


def paper_scale_factor(paper: pd.DataFrame, vae_params_d4096: int) -> float:
    """The paper's text generator (Llama-3.1-8B) over our VAE built at the paper's d = 4096."""
    return float(paper.loc["generator_parameters", "text_synthesis"] / vae_params_d4096)


def factors(seconds: Mapping[str, float], generator_params: int, vae_params: int) -> dict[str, float]:
    """Text cost / latent cost for each quantity of the paper's Table 2."""
    return {"generation_time": seconds["text_generation"] / seconds["latent_generation"],
            "total_runtime": seconds["text_total"] / seconds["latent_total"],
            "generator_parameters": generator_params / vae_params}


# --- words and tables ---------------------------------------------------------------------------------

def human_time(seconds: float) -> str:
    """'2.50 h', '3.2 min' or '4.1 s'."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def factor_text(x: float) -> str:
    """A cost factor as the tables print it: '16,000x' from 100 up, else one decimal ('13.2x')."""
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x"


def factor_words(x: float) -> str:
    """A cost factor in running text: no decimals from 10 up ('18'), else one ('3.4')."""
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def frame(paper: pd.DataFrame, seconds: Mapping[str, float], generator_params: int, vae_params: int) -> pd.DataFrame:
    """Table 2: per quantity (the paper's rows), text / latent / ratio for the paper and for us."""
    ratio = factors(seconds, generator_params, vae_params)
    ours = {"generation_time": (human_time(seconds["text_generation"]), human_time(seconds["latent_generation"])),
            "generator_parameters": (human_count(generator_params), human_count(vae_params)),
            "total_runtime": (human_time(seconds["text_total"]), human_time(seconds["latent_total"]))}
    rows = {}
    for q, row in paper.iterrows():
        rows[row["label"]] = {(PAPER_HEADER, "text"): _paper_value(row["text_synthesis"], row["unit"]),
                              (PAPER_HEADER, "latent"): _paper_value(row["latent_synthesis"], row["unit"]),
                              (PAPER_HEADER, "ratio"): f"{row['ratio']:,g}x",
                              (OURS_HEADER, "text"): ours[q][0], (OURS_HEADER, "latent"): ours[q][1],
                              (OURS_HEADER, "ratio"): factor_text(ratio[q])}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def _paper_value(value: float, unit: str) -> str:
    if unit == "parameters":
        return human_count(value)
    return f"{value:g}" + (" h" if unit == "hours" else "")


def measured_judge(task: str, n_prompts: int, pairs_per_prompt: int, root: Any = None) -> dict[str, Any]:
    """The SmolLM2 judge's measured labelling rate, from the text-rows cache entry `judge_labels_<task>`
    (refused unless computed with these parameters): {"pairs_per_second", "n_pairs", "cpu", "threads"}."""
    from . import row_cache, text_rows

    entry = row_cache.load_entry(f"judge_labels_{task}", text_rows.judge_params(task, n_prompts, pairs_per_prompt), [], root)
    p, prov = entry["payload"], entry["provenance"]
    return {"pairs_per_second": p["pairs_per_second"], "n_pairs": p["n_pairs"], "cpu": prov["hardware"]["cpu"],
            "threads": prov.get("torch_threads")}


def parts_frame(seconds: Mapping[str, float], seconds_vae_fit: float, seconds_synthesis: float,
                judge: Mapping[str, Any] | None = None, n_new_pairs: int = 0) -> pd.DataFrame:
    """Each step of both pipelines, how we obtained its seconds, and the seconds. With `judge`
    (`measured_judge`), one more row: labelling the `n_new_pairs` new pairs with the SmolLM2 judge
    instead of the gold programs, at its rate measured over a whole run of the judge."""
    extrapolated = "extrapolated: m·N × measured s/response"
    rows = [
        ("text", "sample m·N new responses", extrapolated, seconds["text_generate"]),
        ("text", "label them (gold programs)", extrapolated, seconds["text_label"]),
        ("text", "embed them (float32 LLM)", extrapolated, seconds["text_embed"]),
        ("both", "train the reward model on r·N pairs", "measured (LENS run)", seconds["reward_model"]),
        ("latent", "train the VAE", "measured", seconds_vae_fit),
        ("latent", "synthesise r·N pairs", "measured", seconds_synthesis),
    ]
    if judge:
        rows.insert(2, ("text", "or label the (r−1)·N new pairs with the SmolLM2 judge",
                        f"(r−1)·N × rate measured over {judge['n_pairs']:,} judged pairs "
                        f"({judge['pairs_per_second']:.2f} pairs/s)", n_new_pairs / judge["pairs_per_second"]))
    return pd.DataFrame(rows, columns=["pipeline", "step", "how", "seconds"]).set_index(["pipeline", "step"])


def _say(message: str) -> None:
    """A progress line on stderr (relayed by `make book`, hidden in the book)."""
    print(f"table 2: {message}", file=sys.stderr, flush=True)


def paper_factors_words(paper: pd.DataFrame) -> str:
    """The paper's ratios for generation time, total runtime and generator size: '18x, 13x and 16,000x'."""
    r = paper["ratio"]
    return f"{r['generation_time']:,g}x, {r['total_runtime']:,g}x and {r['generator_parameters']:,g}x"

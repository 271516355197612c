"""The text-space rows of Table 1, computed and cached (`row_cache`), and a command line that runs them.

Entries (each `data/cache/text_rows/<name>.json`, params and seeds checked on load):

- `mlp_simulated_<task>`: embedding MLP with text augmentation from the response pool, oriented by
  the simulated annotator at agreement a, for every (a, ratio, seed); 1x rows are method "none".
- `judge_labels_<task>`: SmolLM2-135M-Instruct judging 3 pool pairs per prompt in both orders
  (`text.judge`), its agreement with gold, position bias and measured throughput; the labels
  themselves. Enough for 2x and 4x; `judge_labels_<task>_k7` holds 7 pairs per prompt for 8x (a
  superset: the base run's pairs are copied, the 4 new ones judged). `labels_per_prompt` says which
  run a ratio reads.
- `mlp_judge_<task>[_k7]`: the embedding MLP trained on seed pairs + pool pairs labelled by that judge
  (the self-rewarding row: the model judges its own sampled responses).
- `reward_lm_<task>_<full|lora>_r<ratio>`: SmolLM2 itself fine-tuned as a reward model (`text.reward_lm`).
- `costs_<task>`: measured seconds per training step / epoch, scoring and judging throughput.

Run from a shell (one thread, or `reward-lm --threads 2 --no-gradient-checkpointing` for one long cell
alone on two cores; each entry is stored when it finishes, LM training checkpoints; `reward-lm` prints
its planned steps and an estimate from the runs already cached first, and a run for new seeds adds them
to the cell's entry, each row with its own provenance):
`python -m lens_minimal.companion.text_rows {measure,simulated,judge,reward-lm} --help`.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from .. import paths
from ..io import LensInputError, write_json
from ..annotators import agreement_with_gold, candidate_pairs
from ..baselines import make_augmenter
from ..config import from_dict
from ..datasets import load_task
from ..experiment import ExperimentConfig, run_ratios, split_seed_pairs
from . import ledger, row_cache
from .figures import fmt_mean_spread, human_count

MODEL = "smollm2-135m-instruct"


# --- embedding MLP with text augmentation -------------------------------------------------------

def simulated_params(task: str, agreements: Sequence[float], ratios: Sequence[int], config: dict) -> dict:
    return {"task": task, "method": "text_aug", "annotator": "simulated", "agreements": [float(a) for a in agreements],
            "ratios": [int(r) for r in ratios], "config": config}


def simulated_rows(task: str, agreements: Sequence[float], ratios: Sequence[int], seeds: Sequence[int],
                   config: dict | None = None, world: dict | None = None) -> dict:
    """Runs of `text_aug` with a simulated annotator for every (agreement, ratio > 1, seed), + "none" at 1x."""
    t = load_task(task, world=world or None)
    rows = []
    for s in seeds:
        if 1 in ratios:
            rows += [dict(r, agreement=None) for r in run_ratios(t, "none", [1], s, from_dict(ExperimentConfig, config))]
        for a in agreements:
            cfg = from_dict(ExperimentConfig, {**(config or {}), "annotator": {"kind": "simulated", "agreement": a}})
            rows += [dict(r, agreement=float(a)) for r in run_ratios(t, "text_aug", [r for r in ratios if r != 1], s, cfg)]
    return {"rows": rows}


def judge_rows(task: str, labels_entry: str, ratios: Sequence[int], seeds: Sequence[int], config: dict | None = None) -> dict:
    """Runs of `text_aug` with the judge's labels (read from the cache entry `labels_entry`)."""
    t = load_task(task)
    cfg = from_dict(ExperimentConfig, {**(config or {}), "annotator": {
        "kind": "labels", "labels_path": str(row_cache.entry_path(labels_entry))}})
    rows = []
    for s in seeds:
        rows += [dict(r, annotator="smollm2_judge") for r in run_ratios(t, "text_aug", [r for r in ratios if r != 1], s, cfg)]
    return {"rows": rows}


# --- the SmolLM2 judge ----------------------------------------------------------------------------

BASE_PAIRS_PER_PROMPT = 3   # the first judge run of a task: 3 pool pairs per prompt, enough for 2x and 4x


def labels_per_prompt(ratio: int) -> int:
    """Judge labels per prompt a ratio draws on: the base run up to 4x, ratio - 1 above (8x: 7)."""
    return BASE_PAIRS_PER_PROMPT if ratio <= BASE_PAIRS_PER_PROMPT + 1 else ratio - 1


def judge_entry(task: str, pairs_per_prompt: int, kind: str = "judge_labels") -> str:
    """Cache entry of a judge run (`judge_labels`) or of the MLP on its labels (`mlp_judge`): the base run
    is `<kind>_<task>`, a run with more pairs per prompt `<kind>_<task>_k<pairs>`."""
    return f"{kind}_{task}" + ("" if pairs_per_prompt == BASE_PAIRS_PER_PROMPT else f"_k{pairs_per_prompt}")


def judge_params(task: str, n_prompts: int, pairs_per_prompt: int, label_seed: int = 0, batch_size: int = 16) -> dict:
    from ..text.judge import JUDGE_TEMPLATE

    return {"task": task, "model": MODEL, "n_prompts": n_prompts, "pairs_per_prompt": pairs_per_prompt,
            "label_seed": label_seed, "batch_size": batch_size, "template": JUDGE_TEMPLATE}


def judge_run_params(task: str, n_prompts: int, pairs_per_prompt: int, reuse_base: bool) -> dict:
    """The cache parameters of a judge run: `judge_params`, plus the base run it copied labels from where
    it reused them (`--reuse-base`, runs of more than BASE_PAIRS_PER_PROMPT pairs per prompt)."""
    params = judge_params(task, n_prompts, pairs_per_prompt)
    if reuse_base and pairs_per_prompt > BASE_PAIRS_PER_PROMPT:
        params["reused_from"] = judge_entry(task, BASE_PAIRS_PER_PROMPT)
    return params


def judge_summary(task: str, n_prompts: int, pairs_per_prompt: int, reuse_base: bool = True,
                  root: str | Path | None = None) -> dict[str, Any]:
    """What the chapter shows of a cached judge run: agreement with gold over the pairs whose responses
    differ in gold reward, with its 95% Clopper-Pearson interval, the position-bias figures, the pairs
    judged and the measured rate (pairs/s; for a run that reused the base run's labels, over the new ones)."""
    entry = row_cache.load_entry(judge_entry(task, pairs_per_prompt),
                                 judge_run_params(task, n_prompts, pairs_per_prompt, reuse_base), [], root)
    p = entry["payload"]
    ci = stats.binomtest(round(p["agreement"] * p["n_distinct_gold"]), p["n_distinct_gold"]).proportion_ci(0.95)
    return {"pairs_per_prompt": pairs_per_prompt, "agreement": p["agreement"], "ci_low": ci.low, "ci_high": ci.high,
            "n_pairs": p["n_pairs"], "n_distinct_gold": p["n_distinct_gold"],
            **{k: p[k] for k in ("agreement_one_order", "first_position_logodds", "order_disagreement", "pairs_per_second")},
            "cpu": entry["provenance"]["hardware"]["cpu"]}


def judge_frame(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Judge runs (`judge_summary`), one column each, numbers rounded to 3 decimals for reading."""
    return _rounded_frame(runs, 3)


def _rounded_frame(columns: Mapping[str, Mapping[str, Any]], digits: int) -> pd.DataFrame:
    """One column per key, floats rounded to `digits` for reading (other values as they are)."""
    return pd.DataFrame(columns).map(lambda v: round(v, digits) if isinstance(v, float) else v).astype(object)


def judge_parts_dir(params: Mapping[str, Any], model: str = MODEL) -> Path:
    """Where a judge run keeps its finished chunks (under the cache, named by a hash of its parameters)."""
    key = hashlib.sha256(json.dumps({**params, "model": model}, sort_keys=True).encode()).hexdigest()[:16]
    return paths.cache_dir() / "judge" / f"{params['task']}-{key}"


def judge_labels(task: str, n_prompts: int, pairs_per_prompt: int, label_seed: int = 0, batch_size: int = 16,
                 model: str = MODEL, loaded: tuple | None = None, progress: bool = True, chunk: int = 240,
                 reuse: Sequence[Mapping[str, Any]] = ()) -> dict:
    """Judge `pairs_per_prompt` random candidate pairs of each of the first `n_prompts` training prompts.

    The pairs of a prompt are the first `pairs_per_prompt` of one random order (seeded by `label_seed`),
    so a run with more pairs per prompt holds every pair of a run with fewer. `reuse`: labels of such a
    run by the same judge (same model, template, batch size); their pairs are copied, not judged again.
    Resumable: the pairs to judge are judged in chunks of `chunk`, each written (atomically) under
    `judge_parts_dir`; a rerun with the same parameters judges only the missing chunks. `seconds` sums the
    judging time of all chunks, whichever session ran them, and `pairs_per_second` counts judged pairs only."""
    from ..text.judge import JudgeConfig, judge_pool, position_bias
    from ..text.models import load_model

    train = _train_test_text(task)[0][:n_prompts]
    cands = candidate_pairs(2 + len(train[0]["pool"]))
    gen = torch.Generator().manual_seed(30_000 + label_seed)
    pick = torch.argsort(torch.rand((len(train), len(cands)), generator=gen), dim=1)[:, :pairs_per_prompt]  # (P, k)
    rows = torch.arange(len(train)).repeat_interleave(pairs_per_prompt)
    pairs = cands[pick.reshape(-1)]
    known = {(x["row"], x["i"], x["j"]): x for x in reuse}
    keys = [(int(r), int(p[0]), int(p[1])) for r, p in zip(rows, pairs)]
    todo = torch.tensor([k for k, key in enumerate(keys) if key not in known], dtype=torch.long)   # (T,) to judge
    judged, seconds = {}, 0.0
    lm_tok = loaded
    reused = {"reused": hashlib.sha256(json.dumps(sorted(known)).encode()).hexdigest()[:16]} if known else {}
    parts = judge_parts_dir({**judge_params(task, n_prompts, pairs_per_prompt, label_seed, batch_size), **reused}, model)
    for c, start in enumerate(range(0, len(todo), chunk)):   # resumable: one file per chunk of pairs to judge
        part = parts / f"part-{c:04d}.json"
        if not part.is_file():
            lm_tok = lm_tok or load_model(model)
            take = todo[start:start + chunk]
            lab, sec = judge_pool(*lm_tok, train, rows[take].tolist(), pairs[take], JudgeConfig(batch_size=batch_size),
                                  progress=False)
            write_json(part, {"labels": lab, "seconds": sec})
            if progress:
                print(f"judge {task}: {min(start + chunk, len(todo))}/{len(todo)} pairs, {sec:.0f} s for this chunk", flush=True)
        done = json.loads(part.read_text())
        judged.update({(x["row"], x["i"], x["j"]): x for x in done["labels"]})
        seconds += done["seconds"]
    labels = [judged[key] if key in judged else known[key] for key in keys]
    gold = [[r["gold"][r["chosen"]], r["gold"][r["rejected"]]] + [r["gold"][k] for k in r["pool"]] for r in train]
    gi = torch.tensor([gold[x["row"]][x["i"]] for x in labels])
    gj = torch.tensor([gold[x["row"]][x["j"]] for x in labels])
    margin = torch.tensor([x["margin"] for x in labels])
    rate, n = agreement_with_gold(margin > 0, gi, gj)
    ab, ba = torch.tensor([x["margin_ab"] for x in labels]), torch.tensor([x["margin_ba"] for x in labels])
    rate_ab, _ = agreement_with_gold(ab > 0, gi, gj)
    return {"labels": labels, "agreement": rate, "n_distinct_gold": n, "agreement_one_order": rate_ab,
            **position_bias(ab, ba), "seconds": seconds, "pairs_per_second": len(judged) / seconds if judged else float("nan"),
            "n_pairs": len(labels), "n_reused": len(labels) - len(judged)}


# --- reward models that fine-tune the LLM ----------------------------------------------------------

PAIR_TASKS = ("hh-harmless",)   # human-labelled pairs: no response pool (1x only), no gold (pairwise accuracy)


def seed_pair_texts(task: str, seed: int, n_train: int | None = None) -> tuple[list[int], list, list[str], list[str]]:
    """The seed pairs a reward model trains on at `seed` (the split the embedding MLP uses:
    `split_seed_pairs` of the task's training rows, the first `n_train` when given) as
    (row indices, prompts, chosen, rejected) texts."""
    from ..text.judge import response_texts

    rows = _train_test_text(task)[0]
    idx = split_seed_pairs(len(rows), 0.1, seed)[0].tolist()
    idx = idx[:n_train] if n_train else idx
    if task in PAIR_TASKS:
        return idx, [rows[i]["prompt"] for i in idx], [rows[i]["chosen"] for i in idx], [rows[i]["rejected"] for i in idx]
    texts = [response_texts(rows[i]) for i in idx]
    return idx, [rows[i]["prompt"] for i in idx], [t[0] for t in texts], [t[1] for t in texts]


@functools.lru_cache(maxsize=4)
def _train_test_text(task: str) -> tuple[list[dict], list[dict]]:
    from ..text.hh_harmless import load_hh_split_text
    from ..text.shipped import load_shipped_text

    if task in PAIR_TASKS:
        return load_hh_split_text()
    return load_shipped_text(task, "train"), load_shipped_text(task, "test")


def reward_lm_params(task: str, lora: bool, ratio: int, n_train: int | None, n_test_prompts: int | None,
                     lm_config: dict, labels_entry: str | None) -> dict:
    return {"task": task, "model": MODEL, "lora": lora, "ratio": ratio, "n_train": n_train,
            "n_test_prompts": n_test_prompts, "lm_config": lm_config, "labels_entry": labels_entry}


def reward_lm_rows(task: str, lora: bool, ratio: int, seeds: Sequence[int], n_train: int | None = None,
                   n_test_prompts: int | None = None, lm_config: dict | None = None, labels_entry: str | None = None,
                   workdir: str | Path | None = None, model: str = MODEL, progress: bool = True,
                   gradient_checkpointing: bool = True) -> dict:
    """Fine-tune (all weights, or LoRA + head) on the seed pairs of a split (`seed_pair_texts`), plus at
    ratio > 1 the judge-labelled pool pairs of those seeds; evaluate on the test set (its first
    `n_test_prompts` prompts, or pairs, when given): Best-of-N gold and pairwise accuracy on the tasks with
    a gold reward, held-out pairwise accuracy on `PAIR_TASKS`. One row per seed.

    `gradient_checkpointing` only trades memory for time (the trained weights are the same); it is kept
    in each row, not in the entry's parameters."""
    from ..text.judge import response_texts
    from ..text.reward_lm import (RewardLMConfig, evaluate_reward_lm, evaluate_reward_lm_pairs, load_reward_lm,
                                  pair_dataset, train_reward_lm)

    if task in PAIR_TASKS and ratio != 1:
        raise LensInputError(f"ratio: {task} has no response pool to label, so only ratio 1 applies (got {ratio})")
    cfg = from_dict(RewardLMConfig, {**(lm_config or {}), "lora": lora, "gradient_checkpointing": gradient_checkpointing},
                    "lm_config")
    train_rows, test_rows = _train_test_text(task)
    out = []
    for s in seeds:
        idx, prompts, chosen, rejected = seed_pair_texts(task, s, n_train)
        if ratio > 1:
            ecfg = from_dict(ExperimentConfig, {"annotator": {"kind": "labels", "labels_path": str(row_cache.entry_path(labels_entry))}})
            aug = make_augmenter("text_aug", ecfg, seed=s).bind(load_task(task))
            r, i, j, pref = aug.select_pairs(torch.tensor(idx), ratio)
            for rr, ii, jj, p in zip(r.tolist(), i.tolist(), j.tolist(), pref.tolist()):
                t = response_texts(train_rows[rr])
                prompts.append(train_rows[rr]["prompt"])
                chosen.append(t[ii] if p else t[jj])
                rejected.append(t[jj] if p else t[ii])
        lm, tok = load_reward_lm(model, cfg, seed=s)
        run_dir = Path(workdir or paths.cache_dir() / "reward_lm") / f"{task}-{'lora' if lora else 'full'}-r{ratio}-s{s}"
        info = train_reward_lm(lm, tok, pair_dataset(tok, prompts, chosen, rejected, cfg.max_length), run_dir, cfg, seed=s,
                               progress=progress)
        if task in PAIR_TASKS:
            test = test_rows[:n_test_prompts] if n_test_prompts else test_rows
            metrics = evaluate_reward_lm_pairs(lm, tok, [r["prompt"] for r in test], [r["chosen"] for r in test],
                                               [r["rejected"] for r in test], max_length=cfg.max_length)
        else:
            metrics = evaluate_reward_lm(lm, tok, test_rows, n_prompts=n_test_prompts)
        n_params = sum(p.numel() for p in lm.parameters())
        n_trainable = sum(p.numel() for p in lm.parameters() if p.requires_grad)
        out.append({"task": task, "method": "reward_lm_lora" if lora else "reward_lm_full", "ratio": ratio, "seed": s,
                    **metrics, "n_train_pairs": len(prompts), "seconds_train": info["seconds"], "steps": info["steps"],
                    "train_loss": info["train_loss"], "resumed": info["resumed"], "n_params": n_params,
                    "n_trainable": n_trainable, "gradient_checkpointing": gradient_checkpointing})
    return {"rows": out}


def reward_lm_estimate(task: str, lora: bool, ratio: int, epochs: float = 1.0, n_train: int | None = None,
                       batch_size: int = 8, root: str | Path | None = None) -> str:
    """What a `reward-lm` run will cost, printed before it starts: its planned steps and, for every
    (ratio, torch threads, gradient checkpointing) this task and kind already ran at, the measured
    seconds per step of those rows times the planned steps. Rows stored before threads were recorded
    ran at one thread (the command line's default)."""
    n_pairs = len(seed_pair_texts(task, 0, n_train)[0]) * ratio
    steps = int(np.ceil(n_pairs / batch_size * epochs))
    kind = "lora" if lora else "full"
    lines = [f"reward-lm {task} {kind} {ratio}x: {n_pairs} pairs, {steps} steps of {batch_size} pairs"]
    rates: dict[tuple[int, int, bool], list[tuple[float, float]]] = {}
    for path in sorted(Path(root or row_cache.CACHE_DIR).glob(f"reward_lm_{task}_{kind}_r*.json")):
        for row in json.loads(path.read_text())["payload"]["rows"]:
            key = (row["ratio"], row.get("row_provenance", {}).get("torch_threads", 1), row.get("gradient_checkpointing", True))
            rates.setdefault(key, []).append((row["seconds_train"] / row["steps"], row["seconds_score"]))
    for (r, threads, ckpt), got in sorted(rates.items()):
        per_step, score = np.mean(got, axis=0)
        lines.append(f"  measured at {r}x, {threads} thread(s), checkpointing {'on' if ckpt else 'off'}: "
                     f"{per_step:.1f} s/step over {len(got)} run(s) -> about {per_step * steps / 3600:.1f} h of "
                     f"training + {score / 60:.0f} min of scoring")
    if not rates:
        lines.append(f"  no {task} {kind} run cached yet: `measure --task {task}` times a step first")
    return "\n".join(lines)


def measure_costs(task: str = "instructions", steps: int = 2, batch_size: int = 8, model: str = MODEL) -> dict:
    """Seconds per training step (full, LoRA) at `batch_size` pairs, scoring and judging throughput, on this
    machine at the current torch thread count; per-epoch estimates for the task's seed pairs.

    The steps run on the first `steps` batches of seed pairs of split 0 (a random sample of the task's
    lengths), after one warm-up step; scoring reads the responses of the first test prompts (or pairs);
    the judge is timed on pool pairs (tasks with a pool only)."""
    from ..text.judge import JudgeConfig, judge_pool
    from ..text.models import load_model
    from ..text.reward_lm import RewardLMConfig, encode, load_reward_lm, pad_batch, score_ids

    train, test = _train_test_text(task)
    idx, prompts, chosen, rejected = seed_pair_texts(task, 0)
    out: dict[str, Any] = {"task": task, "batch_size": batch_size, "n_seed_pairs": len(idx), "threads": torch.get_num_threads()}
    for lora in (False, True):
        lm, tok = load_reward_lm(model, RewardLMConfig(lora=lora))
        opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=1e-5)
        batches = [pad_batch(encode(tok, prompts[b * batch_size:(b + 1) * batch_size] * 2,
                                  chosen[b * batch_size:(b + 1) * batch_size] + rejected[b * batch_size:(b + 1) * batch_size]),
                           tok.pad_token_id) for b in range(steps)]
        out["mean_tokens_per_text"] = float(np.mean([float(m.sum()) / len(m) for _, m in batches]))
        times = []
        lm.train()
        for x, m in [batches[0]] + batches:   # the first step warms up
            t0 = time.perf_counter()
            r = lm(input_ids=x, attention_mask=m, use_cache=False).logits[:, 0]
            loss = -torch.nn.functional.logsigmoid(r[: len(r) // 2] - r[len(r) // 2:]).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t0)
        key = "lora" if lora else "full"
        out[f"seconds_per_step_{key}"] = sum(times[1:]) / steps
        out[f"seconds_per_epoch_{key}"] = out[f"seconds_per_step_{key}"] * -(-len(idx) // batch_size)
        out[f"trainable_{key}"] = sum(p.numel() for p in lm.parameters() if p.requires_grad)
        if not lora:
            if task in PAIR_TASKS:
                ids = encode(tok, [r["prompt"] for r in test[:16]] * 2, [r["chosen"] for r in test[:16]] + [r["rejected"] for r in test[:16]])
            else:
                ids = encode(tok, [r["prompt"] for r in test[:2] for _ in r["responses"]], [y for r in test[:2] for y in r["responses"]])
            t0 = time.perf_counter()
            score_ids(lm, ids, tok.pad_token_id)
            out["texts_per_second_score"] = len(ids) / (time.perf_counter() - t0)
        del lm, opt
    if task not in PAIR_TASKS:
        lm, tok = load_model(model)
        pairs = candidate_pairs(5)[:4]
        _, seconds = judge_pool(lm, tok, train, [0, 0, 0, 0, 1, 1, 1, 1], pairs.repeat(2, 1), JudgeConfig())
        out["judge_pairs_per_second"] = 8 / seconds
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m lens_minimal.companion.text_rows", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("measure").add_argument("--task", default="instructions")
    s = sub.add_parser("simulated")
    s.add_argument("--task", required=True)
    s.add_argument("--agreements", default="0.6,0.7,0.8,0.9,1.0")
    s.add_argument("--ratios", default="1,2,4,8")
    s.add_argument("--seeds", default="0,1,2")
    j = sub.add_parser("judge")
    j.add_argument("--task", required=True)
    j.add_argument("--n-prompts", type=int, default=1000)
    j.add_argument("--pairs-per-prompt", type=int, default=1)
    j.add_argument("--ratios", default="", help="also train the MLP on the labels at these ratios (needs labels for every seed prompt)")
    j.add_argument("--seeds", default="0,1,2")
    j.add_argument("--reuse-base", action="store_true",
                   help=f"copy the labels of the base run ({BASE_PAIRS_PER_PROMPT} pairs per prompt) instead of judging them again")
    r = sub.add_parser("reward-lm")
    r.add_argument("--task", required=True)
    r.add_argument("--lora", action="store_true")
    r.add_argument("--ratio", type=int, default=1)
    r.add_argument("--seeds", default="0")
    r.add_argument("--n-train", type=int, default=None)
    r.add_argument("--n-test-prompts", type=int, default=None)
    r.add_argument("--epochs", type=float, default=1.0)
    r.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 beside another job; 2 for one long cell alone on a 2-core machine)")
    r.add_argument("--no-gradient-checkpointing", action="store_true",
                   help="keep activations instead of recomputing them: about a quarter faster, more memory, same weights")
    a = p.parse_args(argv)
    ints = lambda x: [int(v) for v in x.split(",")]  # noqa: E731
    if getattr(a, "threads", 1) < 1:
        p.error(f"--threads must be at least 1 (got {a.threads})")
    torch.set_num_threads(getattr(a, "threads", 1))
    if a.cmd == "measure":
        t0 = time.perf_counter()
        costs = measure_costs(a.task)
        print(costs)
        row_cache.save_entry(f"costs_{a.task}", {"task": a.task}, [], costs, time.perf_counter() - t0)
    elif a.cmd == "simulated":
        ag, ra, se = [float(v) for v in a.agreements.split(",")], ints(a.ratios), ints(a.seeds)
        row_cache.cached(f"mlp_simulated_{a.task}", simulated_params(a.task, ag, ra, {}), se,
                         lambda: simulated_rows(a.task, ag, ra, se), recompute=True)
    elif a.cmd == "judge":
        name = judge_entry(a.task, a.pairs_per_prompt)
        params = judge_run_params(a.task, a.n_prompts, a.pairs_per_prompt, a.reuse_base)
        reuse = []
        if "reused_from" in params:                                     # the base run's pairs are ours too
            base = row_cache.load_entry(params["reused_from"], judge_params(a.task, a.n_prompts, BASE_PAIRS_PER_PROMPT), [])
            reuse = base["payload"]["labels"]
        entry = row_cache.cached(name, params, [], lambda: judge_labels(a.task, a.n_prompts, a.pairs_per_prompt, reuse=reuse),
                                 recompute=True)
        print({k: v for k, v in entry["payload"].items() if k != "labels"})
        if a.ratios:
            row_cache.cached(judge_entry(a.task, a.pairs_per_prompt, "mlp_judge"), mlp_judge_params(a.task, name, ints(a.ratios)),
                             ints(a.seeds), lambda: judge_rows(a.task, name, ints(a.ratios), ints(a.seeds)), recompute=True)
    else:
        lm_config = {"epochs": a.epochs}
        kind = "lora" if a.lora else "full"
        print(reward_lm_estimate(a.task, a.lora, a.ratio, a.epochs, a.n_train), flush=True)
        labels = judge_entry(a.task, labels_per_prompt(a.ratio)) if a.ratio > 1 else None
        # seeds run later join the seeds already in the entry (same parameters), each row with its provenance
        row_cache.add_seeds(f"reward_lm_{a.task}_{kind}_r{a.ratio}",
                            reward_lm_params(a.task, a.lora, a.ratio, a.n_train, a.n_test_prompts, lm_config, labels),
                            ints(a.seeds), lambda: reward_lm_rows(a.task, a.lora, a.ratio, ints(a.seeds), a.n_train,
                                                                  a.n_test_prompts, lm_config, labels,
                                                                  gradient_checkpointing=not a.no_gradient_checkpointing))


# --- reading the rows: cells, LENS band, crossover ---------------------------------------------------

def cells_from_rows(rows: list[dict], metrics: Sequence[str] = ("bon_gold", "pairwise_accuracy")) -> dict:
    """{task: {label: {ratio: {metric: [per seed, by seed]}}}}; label "none", "text_aug@a=0.8", "smollm2_judge"."""
    out: dict = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        if r["method"] == "none":
            label = "none"
        elif r.get("annotator") == "smollm2_judge":
            label = "smollm2_judge"
        else:
            label = f"text_aug@a={r['agreement']:g}"
        cell = out.setdefault(r["task"], {}).setdefault(label, {}).setdefault(str(r["ratio"]), {m: [] for m in metrics})
        for m in metrics:
            cell[m].append(float(r[m]))
    return out


def crossover(agreements: Sequence[float], differences: Sequence[float]) -> float | None:
    """The agreement at which mean(text augmentation - LENS) crosses 0, interpolated linearly between the
    sweep's points; None when it does not cross inside the range (then the sign at the ends says which side)."""
    pts = sorted(zip(agreements, differences))
    for (a0, d0), (a1, d1) in zip(pts, pts[1:]):
        if d0 == 0:
            return float(a0)
        if d0 < 0 < d1 or d1 < 0 < d0:
            return float(a0 + (a1 - a0) * (0 - d0) / (d1 - d0))
    return float(pts[-1][0]) if pts and pts[-1][1] == 0 else None


# --- what the notebook shows (table1_text_rows.ipynb only calls these) -------------------------------

def print_provenance(entry: Mapping[str, Any]) -> None:
    """One line per cache entry read (date, commit, wall time, CPU), or one per row for entries whose rows
    were computed in separate runs (`row_cache.add_seeds`)."""
    prov = entry["provenance"]
    runs = [(f"seed {r['seed']}", r["row_provenance"]) for r in entry["payload"].get("rows", []) if "row_provenance" in r]
    for label, p in runs or [("entry", prov)]:
        wall = f", {p['wall_seconds']:.0f} s" if "wall_seconds" in p else ""     # rows kept from older entries may lack it
        print(f"{entry['name']} ({label}): {p['date']}, commit {p['git_commit'][:12]}{wall} on {p['hardware']['cpu']}")


def load_simulated_rows(tasks: Sequence[str], agreements: Sequence[float], ratios: Sequence[int], seeds: Sequence[int],
                        config: dict, world: dict, source: str) -> list[dict]:
    """The simulated-annotator rows of every task: computed in memory (`source` "compute"), read from
    the cache ("cache") or recomputed and rewritten there ("recompute"); prints each entry's provenance."""
    rows: list[dict] = []
    for t in tasks:
        compute = functools.partial(simulated_rows, t, agreements, ratios, seeds, config, world)
        if source == "compute":
            rows += compute()["rows"]
            continue
        entry = row_cache.cached(f"mlp_simulated_{t}", simulated_params(t, agreements, ratios, config), seeds, compute,
                                 recompute=source == "recompute")
        rows += entry["payload"]["rows"]
        print_provenance(entry)
    return rows


def load_judge_rows(judge_mlp: Mapping[str, Sequence[int]], seeds: Sequence[int], config: dict,
                    root: str | Path | None = None) -> list[dict]:
    """Rows of the embedding MLP trained on seed pairs + pool pairs labelled by the SmolLM2 judge (the
    self-rewarding row), from the cache: `judge_mlp` = {task: [ratios]}, as `text_rows judge --ratios` wrote them."""
    rows: list[dict] = []
    for t, ratios in judge_mlp.items():
        for k in sorted({labels_per_prompt(int(r)) for r in ratios}):   # one entry per judge run (2x, 4x: base; 8x: k = 7)
            entry = row_cache.load_entry(judge_entry(t, k, "mlp_judge"), mlp_judge_params(
                t, judge_entry(t, k), [int(r) for r in ratios if labels_per_prompt(int(r)) == k], config), list(seeds), root)
            print_provenance(entry)
            rows += entry["payload"]["rows"]
    return rows


def mlp_judge_params(task: str, labels_entry: str, ratios: Sequence[int], config: dict | None = None) -> dict:
    return {"task": task, "labels_entry": labels_entry, "ratios": [int(r) for r in ratios], "config": config or {}}


def load_reward_lm_rows(runs: Mapping[str, Mapping[str, Sequence[int]]], seeds: Sequence[int], epochs: float = 1.0,
                        root: str | Path | None = None) -> list[dict]:
    """Rows of the fine-tuned and LoRA reward models from the cache: `runs` = {task: {"full"|"lora": [ratios]}},
    each entry as `reward-lm` wrote it (whole seed split, whole test set, `epochs`, judge labels above 1x),
    with however many of `seeds` it holds (cells are run seed by seed); an entry with other parameters, or
    a seed outside `seeds`, is refused. Prints each entry's provenance."""
    rows: list[dict] = []
    for t, kinds in runs.items():
        for kind, ratios in kinds.items():
            if kind not in ("full", "lora"):
                raise LensInputError(f"reward_lm[{t!r}]: kind {kind!r} is not 'full' or 'lora'")
            for r in ratios:
                labels = judge_entry(t, labels_per_prompt(r)) if r > 1 else None
                name = f"reward_lm_{t}_{kind}_r{r}"
                entry = row_cache.load_entry(name, reward_lm_params(t, kind == "lora", r, None, None, {"epochs": epochs},
                                                                    labels), list(seeds), root, subset=True)
                print_provenance(entry)
                rows += entry["payload"]["rows"]
    return rows


METRIC_WORDS = {"bon_gold": "Best-of-N gold", "pairwise_accuracy": "held-out pairwise accuracy"}


def compared_metric(rows: pd.DataFrame) -> str:
    """The metric fine-tuned cells are compared on: Best-of-N gold, or held-out pairwise accuracy where the
    task has no gold (every `bon_gold` NaN, as on hh-harmless)."""
    return "pairwise_accuracy" if rows["bon_gold"].isna().all() else "bon_gold"


def reward_lm_frame(lm_rows: Sequence[Mapping[str, Any]], none_cells: Mapping[str, Any], lens_cells: Mapping[str, Any],
                    seeds: Sequence[int]) -> pd.DataFrame:
    """One line per fine-tuned / LoRA cell: its seeds, Best-of-N gold and pairwise accuracy, and beside them
    the embedding MLP without augmentation (`none_cells[task]["1"]`) and LENS (`lens_cells[task]`) at the
    cell's ratio (1x cells: LENS's largest ratio) on the SAME seeds (cells hold one value per seed of `seeds`), compared on Best-of-N
    gold, or on held-out pairwise accuracy where a task has no gold (hh-harmless). Cost columns: training
    minutes, how the runs executed (`run_mode`), trainable parameters."""
    table = []
    runs = pd.DataFrame(lm_rows).assign(run_mode=[run_mode(row) for row in lm_rows])
    for (t, method, r), grp in runs.groupby(["task", "method", "ratio"]):
        pos = [list(seeds).index(s) for s in grp["seed"]]
        metric = compared_metric(grp)
        pick = lambda cell: float(np.mean([cell[metric][k] for k in pos]))  # noqa: E731
        at = str(r) if str(r) in lens_cells[t] else max(lens_cells[t], key=int)   # LENS at the same ratio, else its largest
        table.append({"task": t, "row": method, "ratio": f"{r}x", "n seeds": len(grp),
                      "Best-of-N gold": round(grp["bon_gold"].mean(), 3),
                      "pairwise accuracy": round(grp["pairwise_accuracy"].mean(), 3),
                      "compared on": METRIC_WORDS[metric],
                      "none, same seeds": round(pick(none_cells[t]["1"]), 3),
                      "LENS at": f"{at}x", "LENS, same seeds": round(pick(lens_cells[t][at]), 3),
                      "train minutes": round(grp["seconds_train"].mean() / 60, 1),
                      "run as": "; ".join(sorted(set(grp["run_mode"]))),
                      "trainable parameters": int(grp["n_trainable"].iloc[0])})
    return pd.DataFrame(table).set_index(["task", "row", "ratio"])


KIND_WORDS = {"full": "fully fine-tuned", "lora": "LoRA"}   # kind of a fine-tuned cell (method reward_lm_<kind>)


def reward_lm_tables(frame: pd.DataFrame, references: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[str, pd.DataFrame]]:
    """`reward_lm_frame` for reading: per task a caption (the metric compared; Best-of-N gold of a random
    and of the oracle pick where the task has gold, from `references`) and a narrow table, one line per
    cell (fully fine-tuned first, then LoRA, by ratio) with the MLP and LENS on the same seeds."""
    out: dict[str, tuple[str, pd.DataFrame]] = {}
    if frame.empty:                                                    # no fine-tuned or LoRA run
        return out
    for t, part in frame.groupby(level="task", sort=False):
        metric = part["compared on"].iloc[0]
        caption = f"compared on {metric}"
        if t in references:
            caption += f"; Best-of-N gold of a random pick {references[t]['bon_random']:.3f}, of the oracle {references[t]['bon_oracle']:.3f}"
        lines = []
        by_kind_and_ratio = sorted(part.iterrows(), key=lambda kv: (kv[0][1] != "reward_lm_full", int(kv[0][2][:-1])))
        for (_, row, ratio), line in by_kind_and_ratio:
            lines.append({"row": KIND_WORDS[row.split("_")[-1]], "ratio": ratio, "seeds": int(line["n seeds"]),
                          "Best-of-N gold": "—" if pd.isna(line["Best-of-N gold"]) else f"{line['Best-of-N gold']:.3f}",
                          "pairwise accuracy": f"{line['pairwise accuracy']:.3f}",
                          "MLP, no aug.": f"{line['none, same seeds']:.3f}",
                          "LENS": f"{line['LENS, same seeds']:.3f} ({line['LENS at']})",
                          "train min": f"{line['train minutes']:.0f}", "run as": line["run as"],
                          "trainable": human_count(int(line["trainable parameters"]))})
        table = pd.DataFrame(lines).set_index(["row", "ratio"])
        out[t] = (caption, table.loc[:, (table != "—").any()])   # no gold: no Best-of-N column
    return out


def ledger_cells(cells: Mapping[str, Any], lens_cells: Mapping[str, Any], lm_rows: Sequence[Mapping[str, Any]],
                 metrics: Sequence[str] = ("bon_gold", "pairwise_accuracy")) -> dict:
    """What the chapter stores under `numbers.cells` and the claims ledger reads: per task, the rows'
    cells (`none`, `text_aug@a=...`, `smollm2_judge`: one value per seed of the chapter), `lens`, and
    each fine-tuned / LoRA cell with the `seeds` it holds (values in that seed order)."""
    out = {t: {**{m: dict(c) for m, c in cells.get(t, {}).items()}, "lens": dict(lens_cells[t])} for t in lens_cells}
    if lm_rows:
        for (t, method, r), grp in pd.DataFrame(lm_rows).sort_values("seed").groupby(["task", "method", "ratio"]):
            out.setdefault(t, {}).setdefault(method, {})[str(r)] = {**{m: grp[m].tolist() for m in metrics},
                                                                     "seeds": grp["seed"].tolist()}
    return out


def cells_from_table1(record: Mapping[str, Any], tasks: Sequence[str], seeds: Sequence[int], method: str = "lens") -> dict:
    """Cells {task: {ratio: {metric: [per seed]}}} of one method of a Table 1 result/reference, restricted
    to `seeds`; an error when Table 1 was not run at those seeds or tasks."""
    have = record["seeds"]
    missing = [s for s in seeds if s not in have]
    if missing or any(t not in record["numbers"]["cells"] for t in tasks):
        raise LensInputError(f"Table 1 result ({record['profile']}) has seeds {have} and tasks "
                             f"{sorted(record['numbers']['cells'])}; asked seeds {list(seeds)}, tasks {list(tasks)}: "
                             "run LENS here instead (lens_from='run')")
    pos = [have.index(s) for s in seeds]
    return {t: {r: {m: [v[k] for k in pos] for m, v in cell.items()} for r, cell in record["numbers"]["cells"][t][method].items()}
            for t in tasks}


def costs_frame(costs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The measured costs, one column per task, numbers rounded to 2 decimals for reading."""
    return _rounded_frame(costs, 2)


def run_mode(row: Mapping[str, Any]) -> str:
    """How a fine-tuned / LoRA run executed: its torch threads (rows stored before threads were recorded ran
    at one), whether activations were recomputed (gradient checkpointing, the default) and whether it
    resumed from a checkpoint of an earlier process."""
    threads = row.get("row_provenance", {}).get("torch_threads", 1)
    words = [f"{threads} thread{'s' * (threads > 1)}"]
    if not row.get("gradient_checkpointing", True):
        words.append("no checkpointing")
    if row.get("resumed"):
        words.append("resumed")
    return ", ".join(words)


def run_rates(lm_rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """{(task, "full" | "lora"): {"seconds_per_pair", "seconds_score", "n_runs"}} over the cells run on one
    thread with checkpointing from start to end (`run_mode` "1 thread", the mode the estimates state):
    training seconds per training pair (one epoch) and scoring seconds per run, means over runs of every ratio."""
    out = {}
    lm_rows = [r for r in lm_rows if run_mode(r) == "1 thread"]
    if not lm_rows:
        return out
    for (t, method), grp in pd.DataFrame(lm_rows).groupby(["task", "method"]):
        out[(t, method.split("_")[-1])] = {"seconds_per_pair": float((grp["seconds_train"] / grp["n_train_pairs"]).mean()),
                                           "seconds_score": float(grp["seconds_score"].mean()), "n_runs": len(grp)}
    return out


def reward_lm_markdown(frame: pd.DataFrame, costs: Mapping[str, Mapping[str, float]],
                       wanted: Mapping[str, Mapping[str, Sequence[int]]], n_test_texts: Mapping[str, int],
                       unmeasured: Sequence[str] = (), rates: Mapping[tuple[str, str], Mapping[str, float]] | None = None) -> str:
    """What was run of the fine-tuned / LoRA rows and what it shows, and for every wanted cell not run, its
    cost: from the rates of this task's runs of the same kind where there are some (`run_rates`; they ran
    beside another job, as the cells are run here), else from the task's measured per-epoch and scoring
    costs (`costs[task]`, one thread alone; `n_test_texts[task]` responses to score), scaled by how far
    that measure fell short for the task's runs of the other kind where there are some; tasks in
    `unmeasured` (no cost measured, nothing run) get one line saying so."""
    words = []
    for (t, method, ratio), line in frame.iterrows():
        kind = KIND_WORDS[method.split("_")[-1]]
        none_col = line["none, same seeds"]
        metric = line["compared on"]
        own = line["Best-of-N gold"] if metric == METRIC_WORDS["bon_gold"] else line["pairwise accuracy"]
        n, plural = int(line["n seeds"]), "s" if int(line["n seeds"]) > 1 else ""
        caveat = "one seed has no interval: read it as one draw, not as a difference" if n == 1 else \
            f"{n} seeds: read the differences against the spread over seeds, not as settled"
        words.append(f"- **{t}, {kind}, {ratio}** ({n} seed{plural}, {line['train minutes']:.0f} min of training, "
                     f"{line['run as']}): "
                     f"{metric} {own:.3f}, against {none_col:.3f} for the embedding MLP without "
                     f"augmentation and {line['LENS, same seeds']:.3f} for LENS {line['LENS at']} on the same seed{plural}; {caveat}.")
    done = {(t, m.split("_")[-1], int(r[:-1])) for t, m, r in frame.index}
    for t, kinds in wanted.items():
        score_minutes = n_test_texts[t] / costs[t]["texts_per_second_score"] / 60
        for kind in ("full", "lora"):
            for r in kinds.get(kind, []):
                if (t, kind, r) in done:
                    continue
                rate = (rates or {}).get((t, kind))
                if rate:
                    epoch = rate["seconds_per_pair"] * r * costs[t]["n_seed_pairs"] / 60
                    score = rate["seconds_score"] / 60
                    n = rate["n_runs"]
                    basis = f"at the rates of the {n} {KIND_WORDS[kind]} {t} run{'s' * (n > 1)} above"
                else:
                    epoch, score = costs[t][f"seconds_per_epoch_{kind}"] / 60 * r, score_minutes
                    basis = "at the rates measured by `measure`, one job alone"
                    other = "lora" if kind == "full" else "full"
                    ran = (rates or {}).get((t, other))
                    if ran:       # the other kind's run says how far `measure` fell short on this task's texts
                        factor = ran["seconds_per_pair"] * costs[t]["n_seed_pairs"] / costs[t][f"seconds_per_epoch_{other}"]
                        epoch, score = epoch * factor, ran["seconds_score"] / 60
                        basis += (f", times {factor:.1f}: what the {KIND_WORDS[other]} {t} run took against "
                                  f"its own `measure` estimate")
                words.append(f"- **{t}, {KIND_WORDS[kind]}, {r}x**: not run; one seed would "
                             f"take about {epoch + score:.0f} min on one thread ({epoch:.0f} min for one epoch over "
                             f"{r}x the seed pairs, {score:.0f} min to score the test responses; {basis}).")
    for t in unmeasured:
        words.append(f"- **{t}**: no fine-tuned or LoRA cell run and no cost measured on this task.")
    return "\n".join(words)


def labelling_judge_runs(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per task, the judge run (`judge_summary`, keyed "task" or "task, k per prompt") with the most pairs:
    the one holding every label the fine-tuned cells above 1x train on."""
    best: dict[str, Mapping[str, Any]] = {}
    for key, run in runs.items():
        task = key.split(",")[0]
        if task not in best or run["n_pairs"] > best[task]["n_pairs"]:
            best[task] = run
    return best


def reward_lm_ratio_words(lm_rows: Sequence[Mapping[str, Any]], agreement: Mapping[str, float]) -> str:
    """For every task and kind (fully fine-tuned / LoRA) run at two ratios or more: its metric by ratio
    (mean over the seeds of each cell), whether adding judge-labelled pool pairs raised or lowered it at every
    step, and the labelling judge's agreement with gold (`agreement[task]`, where judged). The seed spread of
    cells with two seeds or more is quoted so that a step can be read against it."""
    runs = pd.DataFrame(lm_rows)
    if runs.empty:
        return ""
    words = []
    for (t, method), grp in runs.groupby(["task", "method"], sort=True):
        if grp["ratio"].nunique() < 2:
            continue
        metric = compared_metric(grp)
        means = grp.groupby("ratio")[metric].mean()                      # ratio -> mean over that cell's seeds
        steps = np.diff(means.to_numpy())
        shape = ("lower at every added ratio" if (steps < 0).all() else
                 "higher at every added ratio" if (steps > 0).all() else "not monotone in the ratio")
        path = " → ".join(f"{v:.3f} ({r}x)" for r, v in means.items())
        change = means.iloc[-1] - means.iloc[0]
        line = (f"- **{t}, {KIND_WORDS[method.split('_')[-1]]}**: {METRIC_WORDS[metric]} {path}: {shape}, "
                f"{change:+.3f} from {means.index[0]}x to {means.index[-1]}x")
        task_cells = runs[runs["task"] == t].groupby(["method", "ratio"])[metric]
        spreads = task_cells.agg(np.ptp)[task_cells.size() > 1]            # (method, ratio) -> max - min over seeds
        own = spreads[spreads.index.get_level_values("method") == method]
        if len(own):
            line += f"; seeds of one cell differ by up to {own.max():.3f}"
        else:
            line += "; one seed per cell, so each step is a single draw"
            if len(spreads):                                             # another kind's seeds show the spread
                (m, r), spread = spreads.idxmax(), spreads.max()
                line += f" (the seeds of the {KIND_WORDS[m.split('_')[-1]]} {r}x cell differ by {spread:.3f})"
        if t in agreement:
            line += (f". The extra pairs are labelled by the SmolLM2 judge, which agrees with gold on "
                     f"{agreement[t]:.1%} of judged pairs")
            if agreement[t] < 0.6:
                line += ": close to a coin, so most of what they add is label noise"
        words.append(line + ".")
    return "\n".join(words)


def reference_picks(rows: Sequence[Mapping[str, Any]], tasks: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per task, the gold reward of a random and of the oracle pick (the same in every row of a task)."""
    return {t: {k: float(np.mean([r[k] for r in rows if r["task"] == t])) for k in ("bon_random", "bon_oracle")}
            for t in tasks}


def lens_cells_from_runs(runs: pd.DataFrame) -> dict:
    """LENS cells {task: {ratio: {metric: [per seed, by seed]}}} of a `run_grid` of method "lens"."""
    return {t: by_method["lens"] for t, by_method in ledger.per_seed_cells(runs).items()}


def cells_frame(cells: Mapping[str, Any], lens_cells: Mapping[str, Any], tasks: Sequence[str]) -> pd.DataFrame:
    """Every row of every task (LENS first), per ratio: seeds, Best-of-N gold and pairwise accuracy (mean ± sd)."""
    table = []
    for t in tasks:
        for label, by_ratio in [("LENS", lens_cells[t]), *cells[t].items()]:
            for r in sorted(by_ratio, key=int):
                cell = by_ratio[r]
                table.append({"task": t, "row": label, "ratio": f"{r}x", "n seeds": len(cell["bon_gold"]),
                              **{name: fmt_mean_spread(np.mean(cell[m]), np.std(cell[m], ddof=1))
                                 for name, m in (("Best-of-N gold", "bon_gold"), ("pairwise accuracy", "pairwise_accuracy"))}})
    return pd.DataFrame(table).set_index(["task", "row", "ratio"])


def judge_differences(cells: Mapping[str, Any], lens_cells: Mapping[str, Any], tasks: Sequence[str],
                      ratios: Sequence[int]) -> dict[str, dict[str, float]]:
    """{"task@ratio": paired difference over seeds of (text augmentation labelled by the SmolLM2 judge - LENS)}
    in Best-of-N gold, for every task and ratio where both were run."""
    out = {}
    for t in tasks:
        for r in ratios:
            judged = cells.get(t, {}).get("smollm2_judge", {}).get(str(r))
            if judged is not None and str(r) in lens_cells.get(t, {}):
                out[f"{t}@{r}"] = ledger.paired_difference(judged["bon_gold"], lens_cells[t][str(r)]["bon_gold"])
    return out


def n_test_texts(task: str) -> int:
    """Responses in the task's test set (what a text reward model must score once per evaluation)."""
    test = _train_test_text(task)[1]
    return 2 * len(test) if task in PAIR_TASKS else sum(len(r["responses"]) for r in test)


def crossover_markdown(crossing: Mapping[str, float | None], diffs: Mapping[str, Mapping[str, Mapping[str, float]]],
                       agreements: Sequence[float], judged: Mapping[str, Mapping[str, Any]],
                       judge_diffs: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """The crossover sentences, written from the numbers: per task and ratio, where text augmentation
    overtakes LENS (or on which side it stays), then the judge's measured agreement and, where it was
    run, text augmentation with the judge's own labels against LENS (`judge_differences`)."""
    low, high = min(agreements), max(agreements)
    words = []
    for key, a in crossing.items():
        t, r = key.split("@")
        lo, hi = diffs[key][f"{low:g}"]["mean"], diffs[key][f"{high:g}"]["mean"]
        if a is not None:
            words.append(f"- **{t}, {r}x**: text augmentation overtakes LENS at agreement ≈ {a:.2f}.")
        else:
            side = "above" if lo > 0 else ("below" if hi < 0 else "crosses back and forth around")
            words.append(f"- **{t}, {r}x**: no crossover in [{low}, {high}]: text augmentation is {side} LENS at "
                         f"every agreement (mean difference {lo:+.3f} at a = {low}, {hi:+.3f} at a = {high}).")
    for t, j in judged.items():
        words.append(f"- The SmolLM2 judge agrees with gold on {j['agreement']:.2f} of {j['n_distinct_gold']} {t} pairs "
                     f"(95% interval {j['ci_low']:.2f} to {j['ci_high']:.2f}).")
    for key, d in (judge_diffs or {}).items():
        t, r = key.split("@")
        words.append(f"- **{t}, {r}x, labelled by the SmolLM2 judge itself** (self-rewarding): text augmentation minus "
                     f"LENS {ledger.format_difference(d)}: {ledger.compare_words(d)}.")
    return "\n".join(words)


if __name__ == "__main__":
    main()

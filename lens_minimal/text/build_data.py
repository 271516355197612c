"""Build the default data: SmolLM2 responses to our two tasks, gold-scored and embedded.

For each task (`lens_minimal.text.tasks`):
  * train: `n_train` prompts x `k_train` sampled responses. The seed pair is two responses with
    different gold rewards, picked uniformly at random (seeded by the prompt id) among all such
    pairs; chosen = the higher gold. The other responses form the prompt's "pool" (text-space
    augmentation draws from it). If all k responses tie, up to `max_extra_rounds` more rounds of
    k samples are drawn and the first one with a different gold replaces the last response; if
    every draw ties, the prompt is replaced by a reserve prompt (the same template stream, indices
    after n_train) and the replacement is recorded in `replaces`.
  * test: `n_test` prompts x `k_test` responses (Best-of-N and held-out pairwise accuracy).
Embeddings (float32 model, stored float16) read the last real token of the chat-formatted
(prompt, response) — the same template the model was prompted with. Layer "last" for every
response; layers 10 and 20 (of 30) only for the train seed pair and all test responses, to keep
`data/` small.

Layout under `out/<task>/`: `build.json` (the plan, written first), `train/shard-XXX.jsonl.gz`
+ `shard-XXX.safetensors`, `test/shard-XXX.*`, then `manifest.json` and the data card
`README.md`. A shard is written (atomically) only when complete; a rerun skips every shard whose
safetensors metadata matches the build config and the sha256 of its jsonl file, so an
interrupted build resumes where it stopped. Deterministic for a seed on one platform, library
versions and thread count (sampling reseeds per batch from the shard's identity).

Run: `lens build-data` or `python -m lens_minimal.text.build_data --threads 2`.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .. import paths
from ..config import from_dict
from ..experiment import run_grid, summarize
from ..io import LensInputError, atomic_path, sha256_file, write_json
from . import hh_harmless
from .generation import batch_seed, sample_responses
from .shipped import load_shipped_task
from .shards import gzip_jsonl, layer_name, read_jsonl_gz, shard_complete, shard_paths
from .tasks import get_task_program


@dataclass
class BuildConfig:
    model: str = "smollm2-135m-instruct"   # registry name / folder / hub id (lens_minimal.text.models)
    n_train: int = 1000                    # training prompts (one seed pair each)
    k_train: int = 5                       # responses per training prompt (2 for the pair, rest pool)
    n_test: int = 200                      # test prompts
    k_test: int = 16                       # responses per test prompt (Best-of-16)
    shard_size: int = 50                   # prompts per shard (the unit of resumption)
    temperature: float = 1.0               # sampling temperature
    top_p: float = 0.95                    # nucleus sampling
    max_new_tokens: int = 48               # response length cap (tokens)
    sample_dtype: str = "bfloat16"         # sampling only, a speed choice; embeddings use float32
    gen_batch_size: int = 32               # prompts per sampling batch (fixes the random streams)
    embed_batch_size: int = 16             # texts per embedding forward pass
    max_extra_rounds: int = 3              # extra rounds of k_train draws for an all-tie prompt
    layers: list = field(default_factory=lambda: [-1, 10, 20])   # -1 = last (after final norm)
    seed: int = 0                          # everything random derives from it

    def key(self, task: str) -> str:
        """sha256 identifying what a shard of `task` holds (config + task name)."""
        blob = json.dumps({"task": task, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


class _Builder:
    """Holds the two models and builds the shards of one task."""

    def __init__(self, cfg: BuildConfig, progress: bool = True):
        from .models import load_model

        self.cfg, self.progress = cfg, progress
        dtype = getattr(torch, cfg.sample_dtype)
        self.sampler, self.tok = load_model(cfg.model, dtype=dtype)
        self.embedder, self.embed_tok = (self.sampler, self.tok) if dtype == torch.float32 else \
            load_model(cfg.model, dtype=torch.float32)

    # -- sampling and scoring
    def _sample(self, prompts: list[str], *seed_parts) -> list[str]:
        c = self.cfg
        return sample_responses(self.sampler, self.tok, prompts, temperature=c.temperature, top_p=c.top_p,
                                max_new_tokens=c.max_new_tokens, batch_size=c.gen_batch_size,
                                seed=batch_seed(c.seed, *seed_parts), progress=False)

    def _sample_k(self, task, rows: list[dict], k: int, *seed_parts) -> tuple[list[list[str]], list[list[float]]]:
        flat = [r["prompt"] for r in rows for _ in range(k)]
        texts = self._sample(flat, *seed_parts)
        responses = [texts[i * k:(i + 1) * k] for i in range(len(rows))]
        gold = [[task.gold_reward(t, r["meta"]) for t in rs] for r, rs in zip(rows, responses)]
        return responses, gold

    def _untied(self, task, name: str, s: int, rows: list[dict], tag: str) -> list[dict | None]:
        """k_train responses per row with at least two distinct gold values, or None (all tied)."""
        k = self.cfg.k_train
        responses, gold = self._sample_k(task, rows, k, name, "train", s, tag, 0)
        drawn = [k] * len(rows)
        for r in range(1, self.cfg.max_extra_rounds + 1):
            tied = [i for i in range(len(rows)) if len(set(gold[i])) == 1]
            if not tied:
                break
            more_r, more_g = self._sample_k(task, [rows[i] for i in tied], k, name, "train", s, tag, r)
            for i, rs, gs in zip(tied, more_r, more_g):
                drawn[i] += k
                new = [j for j, g in enumerate(gs) if g != gold[i][0]]
                if new:   # the first differing draw replaces the last response
                    responses[i][-1], gold[i][-1] = rs[new[0]], gs[new[0]]
                    drawn[i] += new[0] + 1 - k   # count draws up to and including the one kept
        return [None if len(set(g)) == 1 else {**row, "responses": rs, "gold": g, "n_drawn": n}
                for row, rs, g, n in zip(rows, responses, gold, drawn)]

    def train_rows(self, task, name: str, s: int, rows: list[dict], reserve: list[dict]) -> list[dict]:
        out = self._untied(task, name, s, rows, "main")
        attempt = 0
        while any(o is None for o in out):
            missing = [i for i, o in enumerate(out) if o is None]
            if len(reserve) < len(missing):
                raise RuntimeError(f"{name} train shard {s}: ran out of reserve prompts for all-tie prompts")
            repl, reserve = reserve[:len(missing)], reserve[len(missing):]
            attempt += 1
            got = self._untied(task, name, s, repl, f"replace{attempt}")
            for i, new_row, g in zip(missing, repl, got):
                if g is not None:
                    out[i] = {**g, "replaces": rows[i]["id"]}
        for o in out:
            o.setdefault("replaces", None)
            rng = random.Random(f"pair/{self.cfg.seed}/{o['id']}")
            g = o["gold"]
            pairs = [(i, j) for i in range(len(g)) for j in range(i + 1, len(g)) if g[i] != g[j]]
            i, j = rng.choice(pairs)
            o["chosen"], o["rejected"] = (i, j) if g[i] > g[j] else (j, i)
            o["pool"] = [m for m in range(len(g)) if m not in (i, j)]
        return out

    def test_rows(self, task, name: str, s: int, rows: list[dict]) -> list[dict]:
        responses, gold = self._sample_k(task, rows, self.cfg.k_test, name, "test", s)
        return [{**r, "responses": rs, "gold": g} for r, rs, g in zip(rows, responses, gold)]

    # -- embedding
    def embed(self, rows: list[dict]) -> dict[int, torch.Tensor]:
        """{layer: (P, k, d) float32} for every response of every row."""
        from .embeddings import extract_embeddings, format_chat

        k = len(rows[0]["responses"])
        texts = [format_chat(self.embed_tok, r["prompt"], t) for r in rows for t in r["responses"]]
        e = extract_embeddings(self.embedder, self.embed_tok, texts, layers=tuple(self.cfg.layers), pooling="last",
                               batch_size=self.cfg.embed_batch_size, progress=False)
        return {layer: x.reshape(len(rows), k, -1) for layer, x in e.items()}

    # -- one shard
    def build_shard(self, task, name: str, split: str, s: int, rows: list[dict], reserve: list[dict], out: Path) -> None:
        if split == "train":
            done = self.train_rows(task, name, s, rows, reserve)
        else:
            done = self.test_rows(task, name, s, rows)
        e = self.embed(done)
        tensors = {}
        for layer, x in e.items():
            if layer == -1 or split == "test":
                tensors[layer_name(layer)] = x.half()                          # (P, k, d)
            else:
                idx = torch.tensor([[r["chosen"], r["rejected"]] for r in done])  # (P, 2)
                tensors[layer_name(layer)] = torch.stack(
                    [x[p, idx[p]] for p in range(len(done))]).half()           # (P, 2, d): chosen, rejected
        blob = gzip_jsonl(done)
        jpath, tpath = shard_paths(out, name, split, s)
        with atomic_path(jpath) as tmp:
            tmp.write_bytes(blob)
        meta = {"config_key": self.cfg.key(name), "jsonl_sha256": hashlib.sha256(blob).hexdigest(),
                "n_prompts": str(len(done)), "task": name, "split": split, "shard": str(s)}
        with atomic_path(tpath) as tmp:   # written last: its presence with matching sha means complete
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)


def plan(cfg: BuildConfig, name: str) -> dict:
    """Shards of a task build: {split: [(first prompt index, count), ...]}."""
    def spans(n):
        return [(a, min(cfg.shard_size, n - a)) for a in range(0, n, cfg.shard_size)]
    return {"train": spans(cfg.n_train), "test": spans(cfg.n_test)}


def prompt_streams(cfg: BuildConfig, name: str) -> tuple[list[dict], list[dict]]:
    """(train stream incl. per-shard reserves after n_train, test prompts); disjoint seeds."""
    task = get_task_program(name)
    n_shards = len(plan(cfg, name)["train"])
    train = task.make_prompts(cfg.n_train + n_shards * cfg.shard_size, seed=2 * cfg.seed)
    test = task.make_prompts(cfg.n_test, seed=2 * cfg.seed + 1)
    return train, test


def estimate_seconds(cfg: BuildConfig, n_tasks: int, seconds_per_batch_16: float, embed_tokens_per_s: float,
                     avg_embed_tokens: float = 150.0) -> float:
    """Rough build time: sampling batches (timed at 16 new tokens, scaled to max_new_tokens) + embedding."""
    responses = n_tasks * (cfg.n_train * cfg.k_train * 1.05 + cfg.n_test * cfg.k_test)
    batches = responses / cfg.gen_batch_size
    return batches * seconds_per_batch_16 * cfg.max_new_tokens / 16 + responses * avg_embed_tokens / embed_tokens_per_s


def _probe(builder: _Builder, name: str) -> tuple[float, float, float]:
    """Quick throughput probe: (sampling new tok/s, seconds per full batch at 16 new tokens, embedding tok/s)."""
    from .embeddings import extract_embeddings, format_chat
    from .generation import measure_generation_throughput

    prompts = [r["prompt"] for r in get_task_program(name).make_prompts(builder.cfg.gen_batch_size, seed=999)]
    gen = measure_generation_throughput(builder.sampler, builder.tok, prompts, batch_size=len(prompts),
                                        max_new_tokens=16, warmup=False)
    texts = [format_chat(builder.embed_tok, p, "A short answer.") for p in prompts[:16]]
    n_tok = sum(len(x) for x in builder.embed_tok(texts, add_special_tokens=False)["input_ids"])
    t0 = time.perf_counter()
    extract_embeddings(builder.embedder, builder.embed_tok, texts, layers=tuple(builder.cfg.layers), progress=False)
    return gen["tokens_per_s"], gen["seconds_per_batch"], n_tok / (time.perf_counter() - t0)


def build_data(
    tasks: Sequence[str] = ("instructions", "summaries"),
    out: str | Path = paths.DATA_DIR,
    config: BuildConfig | dict | None = None,
    *,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Build (or resume) the shipped data for `tasks` under `out`; returns {task: manifest}."""
    cfg = config if isinstance(config, BuildConfig) else from_dict(BuildConfig, config, where="build-data config")
    if cfg.n_train < 1 or cfg.n_test < 1 or cfg.k_train < 2 or cfg.k_test < 2 or cfg.shard_size < 1:
        raise LensInputError("build-data config: need n_train, n_test, shard_size >= 1 and k_train, k_test >= 2")
    for name in tasks:
        get_task_program(name)   # unknown names fail before any model is loaded
    if threads:
        torch.set_num_threads(int(threads))
    out = Path(out)
    todo = {name: [(split, s) for split, spans in plan(cfg, name).items() for s in range(len(spans))
                   if not shard_complete(out, name, split, s, cfg.key(name))] for name in tasks}
    manifests = {}
    if any(todo.values()):
        builder = _Builder(cfg, progress)
        tok_s, spb, emb_s = _probe(builder, tasks[0])
        n_left = sum(len(v) for v in todo.values())
        n_all = sum(len(plan(cfg, n)["train"]) + len(plan(cfg, n)["test"]) for n in tasks)
        eta = estimate_seconds(cfg, len(tasks), spb, emb_s) * n_left / n_all
        print(f"build-data: {n_left} of {n_all} shards to build; sampling {tok_s:.0f} new tok/s, embedding "
              f"{emb_s:.0f} tok/s on {torch.get_num_threads()} threads -> estimated {eta / 60:.0f} min", flush=True)
    for name in tasks:
        task = get_task_program(name)
        spans = plan(cfg, name)
        write_json(out / name / "build.json", {"task": name, "config": dataclasses.asdict(cfg),
                                               "config_key": cfg.key(name),
                                               "shards": {k: len(v) for k, v in spans.items()}})
        train_stream, test_prompts = prompt_streams(cfg, name)
        for split, s in tqdm(todo[name], desc=f"{name} shards", unit="shard", disable=not progress):
            a, n = spans[split][s]
            if split == "train":
                r0 = cfg.n_train + s * cfg.shard_size
                builder.build_shard(task, name, split, s, train_stream[a:a + n], train_stream[r0:r0 + cfg.shard_size], out)
            else:
                builder.build_shard(task, name, split, s, test_prompts[a:a + n], [], out)
        manifests[name] = write_manifest(out, name, cfg)
        write_data_card(out, name)
    return manifests


def write_manifest(out: Path, name: str, cfg: BuildConfig) -> dict:
    """`<out>/<task>/manifest.json`: counts, sha256 of every shard file, model, settings, versions."""
    import numpy
    import safetensors
    import transformers

    from .models import model_checksum, resolve_model

    spans = plan(cfg, name)
    files, counts = {}, {"train_prompts": 0, "train_responses": 0, "replaced_prompts": 0, "extra_draw_prompts": 0,
                         "test_prompts": 0, "test_responses": 0}
    for split, sp in spans.items():
        for s in range(len(sp)):
            for p in shard_paths(out, name, split, s):
                if not p.is_file():
                    raise LensInputError(f"{p}: missing; rerun `lens build-data --tasks {name}` to finish the build")
                files[str(p.relative_to(out / name))] = sha256_file(p)
            rows = read_jsonl_gz(shard_paths(out, name, split, s)[0])
            for r in rows:   # the config key does not cover the gold program: catch a changed one here
                if [get_task_program(name).gold_reward(t, r["meta"]) for t in r["responses"]] != r["gold"]:
                    raise LensInputError(f"{shard_paths(out, name, split, s)[0]}: row {r['id']}: stored gold rewards differ "
                                         f"from the current gold program; delete {out / name} and rebuild")
            counts[f"{split}_prompts"] += len(rows)
            counts[f"{split}_responses"] += sum(len(r["responses"]) for r in rows)
            if split == "train":
                counts["replaced_prompts"] += sum(r["replaces"] is not None for r in rows)
                counts["extra_draw_prompts"] += sum(r["n_drawn"] > cfg.k_train for r in rows)
    where = Path(resolve_model(cfg.model))
    conv = where / "conversion.json"
    manifest = {
        "task": name,
        "config": dataclasses.asdict(cfg),
        "config_key": cfg.key(name),
        "shards": {k: len(v) for k, v in spans.items()},
        "counts": counts,
        "files": files,
        "model": {"name": cfg.model, "weights_checksum": model_checksum(cfg.model),
                  "gguf_sha256": json.loads(conv.read_text()).get("gguf_sha256") if conv.is_file() else None},
        "embeddings": {"pooling": "last token of format_chat(prompt, response)", "computed_dtype": "float32",
                       "stored_dtype": "float16", "layers": {layer_name(x): x for x in cfg.layers},
                       "train_tensors": "last (P, k_train, d); earlier layers (P, 2, d) = chosen, rejected",
                       "test_tensors": "every layer (P, k_test, d)"},
        "seeds": {"train_prompts": 2 * cfg.seed, "test_prompts": 2 * cfg.seed + 1, "sampling": cfg.seed,
                  "pair_pick": f"random.Random('pair/{cfg.seed}/<prompt id>')"},
        "packages": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "safetensors": safetensors.__version__,
                     "numpy": numpy.__version__},
        "threads": torch.get_num_threads(),
    }
    write_json(out / name / "manifest.json", manifest)
    return manifest


def gold_stats(train_rows: list[dict], test_rows: list[dict]) -> dict:
    """Distribution and label statistics of the gold rewards (data card, sanity checks)."""
    def describe(x: torch.Tensor) -> dict:
        q = torch.quantile(x, torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9])).tolist()
        return {"n": x.numel(), "mean": x.mean().item(), "std": x.std().item(), "min": x.min().item(),
                "max": x.max().item(), "q10_25_50_75_90": q, "frac_zero": (x == 0).float().mean().item(),
                "frac_one": (x == 1).float().mean().item(),
                "histogram_10_bins": torch.histc(x, bins=10, min=0, max=1).long().tolist()}
    out: dict = {}
    if train_rows:
        g = torch.tensor([x for r in train_rows for x in r["gold"]])
        ch = torch.tensor([r["gold"][r["chosen"]] for r in train_rows])
        rj = torch.tensor([r["gold"][r["rejected"]] for r in train_rows])
        out["train_all_responses"] = describe(g)
        out["train_pairs"] = {"chosen_mean": ch.mean().item(), "rejected_mean": rj.mean().item(),
                              "margin_mean": (ch - rj).mean().item(), "margin_median": (ch - rj).median().item(),
                              "frac_prompts_with_extra_draws": sum(r["n_drawn"] > len(r["responses"]) for r in train_rows) / len(train_rows),
                              "frac_prompts_replaced": sum(r["replaces"] is not None for r in train_rows) / len(train_rows)}
    if test_rows:
        g = torch.tensor([r["gold"] for r in test_rows])                    # (P, N)
        n = g.shape[1]
        ties = (g.unsqueeze(2) == g.unsqueeze(1)).float()                  # (P, N, N)
        out["test_all_responses"] = describe(g.flatten())
        out["test_best_of_n"] = {"n": n, "random_pick_mean_gold": g.mean().item(),
                                 "oracle_pick_mean_gold": g.max(dim=1).values.mean().item(),
                                 "worst_pick_mean_gold": g.min(dim=1).values.mean().item(),
                                 "frac_prompts_all_tied": (g.max(1).values == g.min(1).values).float().mean().item(),
                                 "frac_pairs_tied": ((ties.sum() - ties.diagonal(dim1=1, dim2=2).sum()) / (g.shape[0] * n * (n - 1))).item()}
    return out


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def sanity_lines(out: Path, name: str, seeds: tuple[int, ...] = (0, 1, 2)) -> list[str]:
    """Card section: the no-augmentation embedding MLP on the seed pairs, against random and oracle picks."""
    task = load_shipped_task(name, data_dir=out)
    df = run_grid(task, [], [1], list(seeds), progress=False)
    row = summarize(df).iloc[0]
    ref = df.iloc[0]
    return ["## Sanity run: is the task learnable, and not saturated?", "",
            f"The no-augmentation reward model (`lens_minimal.experiment.run_grid(task, [], [1], seeds={list(seeds)})`: "
            f"embedding MLP, Bradley-Terry loss, {len(task.train)} seed pairs of which 10% held out for early stopping), "
            f"mean ± standard deviation over {len(seeds)} seeds:", "",
            "| | Best-of-%d gold | pairwise accuracy on test pairs |" % task.test.n_candidates, "|---|---|---|",
            f"| random pick | {_fmt(ref.bon_random)} | 0.500 |",
            f"| no-augmentation reward model | {_fmt(row.bon_gold_mean)} ± {_fmt(row.bon_gold_std)} "
            f"| {_fmt(row.pairwise_accuracy_mean)} ± {_fmt(row.pairwise_accuracy_std)} |",
            f"| oracle pick | {_fmt(ref.bon_oracle)} | 1.000 |", "",
            f"The reward model closes {_fmt((row.bon_gold_mean - ref.bon_random) / (ref.bon_oracle - ref.bon_random))} "
            "of the gap between random and oracle picks."]


def write_data_card(out: Path, name: str) -> None:
    """`<out>/<task>/README.md`: what the data is, the gold reward program, its distribution, examples."""
    task = get_task_program(name)
    manifest = json.loads((Path(out) / name / "manifest.json").read_text())
    rows = {split: [r for s in range(manifest["shards"][split]) for r in read_jsonl_gz(shard_paths(out, name, split, s)[0])]
            for split in ("train", "test")}
    st = gold_stats(rows["train"], rows["test"])
    cfg, c = manifest["config"], manifest["counts"]
    lines = [f"# Data card: `{name}`", "",
             f"Built by `lens build-data` (module `lens_minimal.text.build_data`) with `{cfg['model']}` "
             f"(weights sha256 `{manifest['model']['weights_checksum']}`). Load with "
             f"`lens_minimal.text.shipped.load_shipped_task({name!r})`; every file's sha256 is in `manifest.json`.", "",
             "## Contents", "",
             f"* train: {c['train_prompts']} prompts x {cfg['k_train']} responses; one seed preference pair per prompt "
             f"(chosen = higher gold), the other {cfg['k_train'] - 2} responses are the text-augmentation pool. "
             f"{c['extra_draw_prompts']} prompts needed extra draws (all first responses tied), "
             f"{c['replaced_prompts']} were replaced by reserve prompts.",
             f"* test: {c['test_prompts']} prompts x {cfg['k_test']} responses (Best-of-{cfg['k_test']}).",
             f"* sampling: temperature {cfg['temperature']}, top-p {cfg['top_p']}, at most {cfg['max_new_tokens']} new tokens, "
             f"model in {cfg['sample_dtype']} (speed choice), seed {cfg['seed']}.",
             "* embeddings: float32 model, last real token of the chat-formatted (prompt, response), stored float16; "
             "`last` for every response, layers 10 and 20 for the train seed pair and every test response.", "",
             "## Gold reward", "", "From the docstring of `lens_minimal.text.tasks." + name + "`:", "", "```text",
             (task.__doc__ or "").strip(), "```", "",
             "## Distribution of the gold reward", "",
             "| set | n | mean | std | q10 | q25 | median | q75 | q90 | share 0 | share 1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in ("train_all_responses", "test_all_responses"):
        d = st[key]
        lines.append(f"| {key.replace('_', ' ')} | {d['n']} | {_fmt(d['mean'])} | {_fmt(d['std'])} | "
                     + " | ".join(_fmt(v) for v in d["q10_25_50_75_90"]) + f" | {_fmt(d['frac_zero'])} | {_fmt(d['frac_one'])} |")
    lines += ["", "Histogram (10 equal bins on [0, 1]), test responses: "
              + ", ".join(str(v) for v in st["test_all_responses"]["histogram_10_bins"]), "",
              "## Labels", ""]
    tp, bon = st["train_pairs"], st["test_best_of_n"]
    lines += [f"* seed pairs: mean gold chosen {_fmt(tp['chosen_mean'])}, rejected {_fmt(tp['rejected_mean'])}, "
              f"margin mean {_fmt(tp['margin_mean'])} (median {_fmt(tp['margin_median'])}).",
              f"* test Best-of-{bon['n']}: random pick {_fmt(bon['random_pick_mean_gold'])}, oracle pick "
              f"{_fmt(bon['oracle_pick_mean_gold'])}, worst pick {_fmt(bon['worst_pick_mean_gold'])}; "
              f"tied pairs {_fmt(bon['frac_pairs_tied'])}, prompts with all {bon['n']} tied {_fmt(bon['frac_prompts_all_tied'])}.",
              "", *sanity_lines(out, name),
              "", "## Examples (test set: best and worst response of a few prompts)", ""]
    for r in rows["test"][:3]:
        best = max(range(len(r["gold"])), key=lambda i: r["gold"][i])
        worst = min(range(len(r["gold"])), key=lambda i: r["gold"][i])
        lines += ["**Prompt:**", "", "```text", r["prompt"], "```", "",
                  f"High (gold {r['gold'][best]:.3f}):", "", "```text", r["responses"][best], "```", "",
                  f"Low (gold {r['gold'][worst]:.3f}):", "", "```text", r["responses"][worst], "```", ""]
    with atomic_path(Path(out) / name / "README.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def build_data_main(argv: Sequence[str] | None = None) -> int:
    """Command line for `lens build-data` / `python -m lens_minimal.text.build_data`."""
    p = argparse.ArgumentParser(prog="lens build-data", description="Build (or resume) the default SmolLM2 data.")
    p.add_argument("--tasks", nargs="+", default=["instructions", "summaries", hh_harmless.NAME],
                   help=f"task names: instructions, summaries (sampled and gold-scored), {hh_harmless.NAME} "
                        "(embeds the shipped HH-RLHF pairs)")
    p.add_argument("--out", default=str(paths.DATA_DIR), help="output folder (default: the repo's data/)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (on a CPU shared with other jobs use 1: "
                   "oversubscribed threads made sampling 10x slower in our measurements)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help=f"override BuildConfig fields ({', '.join(f.name for f in dataclasses.fields(BuildConfig))})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:   # `lens build-data -- --threads 2` passes the separator through
        argv = argv[1:]
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise LensInputError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        overrides[key] = json.loads(value) if value[:1] in "[{0123456789-" or value in ("true", "false") else value
    base = dataclasses.asdict(BuildConfig())
    cfg = from_dict(BuildConfig, {**base, **overrides}, where="--set")
    gold_tasks = tuple(t for t in args.tasks if t != hh_harmless.NAME)
    if gold_tasks:
        build_data(gold_tasks, args.out, cfg, threads=args.threads, progress=not args.quiet)
    if hh_harmless.NAME in args.tasks:   # embeds the shipped HH-RLHF file (no sampling, no gold program)
        if args.threads:
            torch.set_num_threads(int(args.threads))
        hh_harmless.build_hh_harmless(args.out, progress=not args.quiet)
    return 0


main = build_data_main   # the name `lens build-data` calls


if __name__ == "__main__":
    sys.exit(build_data_main())

"""Table 1 (paper, main results): run the grid on every task, then turn the runs into the book's
tables and sentences.

The notebook `notebooks/table1_main_results.ipynb` calls these in order: `check_params`,
`run_tasks` (the `experiment.run_grid` rows of every task), `ledger.per_seed_cells` (the numbers it
stores, which the claims ledger reads) and `reference_picks`; then the presentation: `blocks` (one
table per task), `gains_frame` and `verdict_markdown` (paired differences over seeds, as in the
ledger). Nothing here computes a number the stored results do not hold.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import from_dict
from ..datasets import available_tasks, load_task
from ..evaluation import t_halfwidth
from ..experiment import ExperimentConfig, paired_gains, run_grid, summarize
from ..io import LensInputError
from . import ledger, text_rows
from .figures import METHOD_LABEL, table1_frame

METRIC_LABEL = {"bon_gold": "gold reward", "pairwise_accuracy": "pairwise accuracy"}
TIMING_COLUMNS = ("seconds_fit", "seconds_augment", "seconds_train")


# --- running ----------------------------------------------------------------------------------------

def check_params(tasks: Sequence[str], ratios: Sequence[int], task_paths: Mapping[str, Any]) -> None:
    """Stop before any run: ratio 1 (the baseline every row is compared with) and data for every task."""
    if 1 not in ratios:
        raise LensInputError(
            f"ratios: must include 1 (the no-augmentation baseline every row is compared with), got {list(ratios)}")
    missing = [t for t in tasks if t not in task_paths and t not in available_tasks()]
    if missing:
        raise LensInputError(f"tasks {missing}: data not found on this machine (available: {available_tasks()}); "
                             "build it with `make data`, or run the smoke profile")


def run_tasks(tasks: Sequence[str], methods: Sequence[str], ratios: Sequence[int], seeds: Sequence[int],
              config: Mapping[str, Any], world: Mapping[str, Any] | None = None,
              task_paths: Mapping[str, Mapping[str, str]] | None = None,
              progress: bool = True, per_item: bool = False) -> tuple[pd.DataFrame, dict[str, float]]:
    """`experiment.run_grid` on every task; returns (all runs, seconds per task).

    `config` is the `ExperimentConfig` dict (one spelling of every parameter); `task_paths` names
    your own embedded files per task (from `lens embed`). `progress` draws the grid's progress bar
    on stderr, which `make book` relays line by line. `per_item` keeps each run's per-prompt (or
    per-pair) scores for `bootstrap_gains`.
    """
    experiment_config = from_dict(ExperimentConfig, dict(config), "config")
    frames, seconds = [], {}
    for t in tasks:
        start = time.perf_counter()
        task = load_task(t, world=dict(world) if world else None, files=(task_paths or {}).get(t))
        frames.append(run_grid(task, methods, ratios, seeds, experiment_config, progress=progress, per_item=per_item))
        seconds[t] = time.perf_counter() - start
    return pd.concat(frames, ignore_index=True), seconds


def reference_picks(runs: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per task with a gold reward, the gold reward of a random pick and of the oracle pick (same for
    every run of a task); tasks of held-out human pairs have none."""
    return {t: {k: float(g[k].mean()) for k in ("bon_random", "bon_oracle")} for t, g in runs.groupby("task")
            if g["bon_random"].notna().all()}


def run_timings(runs: pd.DataFrame, seconds_per_task: Mapping[str, float], seconds_total: float) -> dict[str, Any]:
    """Machine-dependent seconds (stored as timings, never compared): total, per task, per method and ratio."""
    mean_seconds = runs.groupby(["method", "ratio"])[list(TIMING_COLUMNS)].mean()
    return {"seconds_total": seconds_total, "seconds_per_task": dict(seconds_per_task),
            "mean_seconds": {f"{m}@{r}": row.to_dict() for (m, r), row in mean_seconds.iterrows()}}


def bootstrap_gains(runs: pd.DataFrame) -> dict[str, Any]:
    """Gain of every augmented cell over no augmentation, per task, on its main metric: mean over
    seeds and test items, with a paired bootstrap 95% interval over the test items (prompts, or
    held-out pairs) of the seed-averaged differences (`experiment.paired_gains`).
    Returns `{task: {method: {str(ratio): {gain, gain_ci_low, gain_ci_high, gain_sd_over_seeds, ...}}}}`."""
    out: dict[str, Any] = {}
    for row in paired_gains(runs).itertuples(index=False):
        values = {k: v for k, v in row._asdict().items() if k not in ("task", "method", "ratio")}
        out.setdefault(row.task, {}).setdefault(row.method, {})[str(row.ratio)] = values
    return out


def bootstrap_frame(gains: Mapping[str, Any], tasks: Sequence[str]) -> pd.DataFrame:
    """`bootstrap_gains` as a table: gain over no augmentation and its paired bootstrap interval."""
    rows = []
    for t in tasks:
        for method, by_ratio in gains.get(t, {}).items():
            for ratio, g in by_ratio.items():
                reading = ("higher" if g["gain_ci_low"] > 0 else "lower" if g["gain_ci_high"] < 0 else "not clearly different")
                rows.append({"task": t, "method": METHOD_LABEL.get(method, method), "ratio": f"{ratio}x",
                             "gain over 1x": f"{g['gain']:+.3f}",
                             "95% paired bootstrap interval": f"[{g['gain_ci_low']:+.3f}, {g['gain_ci_high']:+.3f}]",
                             "reading": reading, "test items": g["n_items"], "seeds": g["n_seeds"]})
    return pd.DataFrame(rows).set_index(["task", "method", "ratio"])


# --- the text-space rows, from the text-rows chapter's cache -------------------------------------------

# Our cells under the paper's text-space rows. The MLP on pool pairs labelled by SmolLM2 stands for two
# of them at once: an embedding MLP with text augmentation labelled by an LLM, and self-rewarding (the
# labelling LLM is the one that sampled the responses).
TEXT_ROW_METHODS = {"reward_lm_full": ("text_full_ft",), "reward_lm_lora": ("text_lora",),
                    "smollm2_judge": ("text_mlp", "self_rewarding")}


def text_space_summary(judge_mlp: Mapping[str, Sequence[int]], reward_lm: Mapping[str, Mapping[str, Sequence[int]]],
                       seeds: Sequence[int], ratios: Sequence[int], epochs: float = 1.0, root: Any = None) -> pd.DataFrame:
    """The text-space cells run so far at `ratios`, read from `data/cache/text_rows` (`text_rows.load_judge_rows`,
    `load_reward_lm_rows`: refused on a parameter mismatch) and summarized like the latent rows under the
    paper's method names (`TEXT_ROW_METHODS`); each cell over the seeds of `seeds` it holds (`n_seeds`)."""
    rows = text_rows.load_judge_rows(judge_mlp, seeds, {}, root) if judge_mlp else []
    rows += text_rows.load_reward_lm_rows(reward_lm, seeds, epochs, root) if reward_lm else []
    named = [dict(r, method=m) for r in rows if r["ratio"] in ratios
             for m in TEXT_ROW_METHODS["smollm2_judge" if r.get("annotator") == "smollm2_judge" else r["method"]]]
    return summarize(pd.DataFrame(named), metrics=ledger.TABLE1_METRICS) if named else pd.DataFrame()


# --- tables -----------------------------------------------------------------------------------------

def has_metric(summary: pd.DataFrame, task: str, metric: str) -> bool:
    """Whether `metric` was measured on `task` (held-out-pair tasks have no Best-of-N gold: all NaN)."""
    column = summary.loc[summary["task"] == task, f"{metric}_mean"]
    return bool(column.notna().any())


def blocks(summary: pd.DataFrame, paper: pd.DataFrame, dataset_for: Mapping[str, str],
           references: Mapping[str, Mapping[str, float]] | None = None) -> list[tuple[str, pd.DataFrame]]:
    """Table 1 as one block per task, narrow enough for the book's text column: (title, table) pairs.

    Per task: the Best-of-N gold reward beside the paper's number for the dataset the task stands
    in for (when the task has a gold reward), then the pairwise accuracy (ours only; the paper
    reports none for Table 1). Columns are (ratio, source); rows the paper's methods, then ours.
    """
    out = []
    for task in dict.fromkeys(summary["task"]):
        ds = dataset_for.get(task)
        stands_in = f" (stands in for {ledger.DATASET_LABEL[ds]})" if ds in ledger.DATASET_LABEL else ""
        one = summary[summary["task"] == task]
        if has_metric(summary, task, "bon_gold"):
            frame = _one_task(table1_frame(one, paper, dataset_for, references, metric="bon_gold"))
            out.append((f"**{task}**{stands_in}: Best-of-N gold reward, the paper's beside ours", frame))
            frame = _one_task(table1_frame(one, paper, dataset_for, metric="pairwise_accuracy"))
            out.append((f"**{task}**: pairwise accuracy on held-out pairs (ours only)", frame))
        else:   # real human pairs: held-out accuracy is the metric; the paper's gold numbers beside, for direction
            frame = _one_task(table1_frame(one, paper, dataset_for, metric="pairwise_accuracy",
                                           paper_beside=ds in ledger.DATASET_LABEL, spread="ci"))
            real = f" (real human pairs of {ledger.DATASET_LABEL[ds]})" if ds in ledger.DATASET_LABEL else ""
            out.append((f"**{task}**{real}: held-out pairwise accuracy, mean ± 95% interval over seeds; "
                        "the paper's column is its Best-of-16 gold reward (another metric: compare directions only)",
                        frame))
    return out


def _one_task(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the task level of a one-task `figures.table1_frame`; the source level reads 'paper' / 'ours'."""
    frame = frame.droplevel("task", axis=1)
    sources = frame.columns.get_level_values("source")
    if set(sources) == {"ours"}:
        return frame.droplevel("source", axis=1)
    renamed = [("paper (gold)" if s.endswith(" gold") else "paper") if s.startswith("paper") else s for s in sources]
    frame.columns = pd.MultiIndex.from_arrays([frame.columns.get_level_values("ratio"), renamed],
                                              names=["ratio", "source"])
    return frame


# --- paired differences, in words -------------------------------------------------------------------

def main_metric(cells: Mapping[str, Any], task: str) -> str:
    """The metric a task is judged on: Best-of-N gold where measured, else pairwise accuracy."""
    base = ledger.cell_values(cells, task, "none", 1, "bon_gold")
    return "bon_gold" if np.isfinite(np.asarray(base, dtype=float)).all() else "pairwise_accuracy"


def gains_frame(cells: Mapping[str, Any], tasks: Sequence[str], methods: Sequence[str],
                ratios: Iterable[int]) -> pd.DataFrame:
    """Each augmented cell minus no augmentation on the same task, paired by seed, with its t-interval."""
    rows, labels = [], set()
    for t in tasks:
        metric = main_metric(cells, t)
        labels.add(METRIC_LABEL[metric])
        base = ledger.cell_values(cells, t, "none", 1, metric)
        for m in methods:
            for r in sorted(x for x in ratios if x != 1):
                d = ledger.paired_difference(ledger.cell_values(cells, t, m, r, metric), base)
                rows.append({"task": t, "method": METHOD_LABEL.get(m, m), "ratio": f"{r}x",
                             "difference": ledger.format_difference(d), "reading": ledger.compare_words(d)})
    frame = pd.DataFrame(rows).set_index(["task", "method", "ratio"])
    return frame.rename(columns={"difference": f"{' / '.join(sorted(labels))} minus 1x"})


def verdict_markdown(cells: Mapping[str, Any], tasks: Sequence[str], methods: Sequence[str],
                     ratios: Iterable[int], dataset_for: Mapping[str, str], paper: pd.DataFrame) -> str:
    """The verdict bullets, written from the numbers: per task, LENS at the top ratio against no
    augmentation (with the paper's pair of numbers beside it) and against the naive latent baselines."""
    top = max(ratios)
    if "lens" not in methods or top == 1:
        return "LENS was not run in this profile."
    paper_hits = paper.set_index(["method", "dataset", "ratio"])["bon_gold"]
    lines = []
    for t in tasks:
        metric = main_metric(cells, t)
        lens = ledger.cell_values(cells, t, "lens", top, metric)
        d = ledger.paired_difference(lens, ledger.cell_values(cells, t, "none", 1, metric))
        ds = dataset_for.get(t)
        paper_note = ""
        if metric == "bon_gold" and ds and ("lens", ds, top) in paper_hits.index:
            paper_note = (f" The paper reports {paper_hits[('lens', ds, top)]:.2f} against "
                          f"{paper_hits[('lens', ds, 1)]:.2f} on {ledger.DATASET_LABEL[ds]}.")
        lines.append(f"- **{t}**: LENS at {top}x against no augmentation: {ledger.format_difference(d)}, "
                     f"{ledger.compare_words(d)}.{paper_note}")
        for other in ("direct", "gaussian"):
            if other in methods:
                d2 = ledger.paired_difference(lens, ledger.cell_values(cells, t, other, top, metric))
                lines.append(f"  Against {METHOD_LABEL[other].lower()} at {top}x: "
                             f"{ledger.format_difference(d2)}, {ledger.compare_words(d2)}.")
    return "\n".join(lines)


def interval_reach(n_seeds: int, confidence: float = ledger.CONFIDENCE) -> str:
    """How many standard deviations of the per-seed differences a t-interval over `n_seeds` seeds
    reaches to each side of the mean, as text ('2.48'; undefined for one seed).

    `evaluation.t_halfwidth` is linear in the standard deviation: divide it out of any sample."""
    if n_seeds < 2:
        return "(undefined: one seed)"
    sample = np.arange(n_seeds, dtype=float)
    return f"{t_halfwidth(sample, confidence) / sample.std(ddof=1):.2f}"

"""The paper's ablations (gamma, sigma2, seed size, representation): from runs to the book's numbers,
tables, figures and verdict sentences, so the four ablation notebooks stay short.

Runs come from `experiment.sweep` (one parameter of the method swept; no augmentation once per seed:
`shared_baseline=True`) or `experiment.run_task_variants` (one task variant per value, each with its own
no-augmentation runs: `shared_baseline=False`). `ablation_numbers` turns them into the result
numbers the ledger reads (`ledger.judge_sweep`): per task its primary metric, the per-seed values
of every cell and the paired gains (bootstrap over test items, same seeds) the chapter states.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..datasets import load_task
from ..experiment import ExperimentConfig, paired_gains, run_task_variants, sweep
from ..io import LensInputError
from ..text import reembed
from .figures import METHOD_LABEL, fmt_mean_spread, plt
from .ledger import compare_words, judge, load_claims, value_key

METRIC_LABEL = {"bon_gold": "Best-of-N gold reward", "pairwise_accuracy": "held-out pairwise accuracy"}
DIAGNOSTIC_LABEL = {
    "recon_error": "reconstruction error (seed pairs)",
    "recon_error_test": "reconstruction error (test embeddings)",
    "pair_w2": "W2 between a pair's posteriors",
    "pair_distance_ratio": "partner distance / unrelated distance",
    "class_separation": "chosen-rejected centroid gap / spread",
    "latent_norm": "mean ||mu||",
    "effective_dims": "latent dimensions in use",
}


# --- the runs of each chapter ------------------------------------------------------------------

def run_sweeps(tasks: Sequence[str], param: str, values: Sequence[Any], seeds: Sequence[int],
               config: ExperimentConfig, *, ratio: int = 4, world: Mapping[str, Any] | None = None,
               reference: Any = None, diagnose: Any = None, progress: bool = True) -> pd.DataFrame:
    """`experiment.sweep` of `param` over `values` on every task (the gamma and sigma2 chapters);
    `reference` (the paper's best value) must be one of `values`."""
    if reference is not None and reference not in values:
        raise LensInputError(f"paper_best: {reference} must be one of the swept values {list(values)}")
    return pd.concat([sweep(load_task(t, world=dict(world or {}) or None), param, values, seeds, config, ratio=ratio,
                            diagnose=diagnose, progress=progress) for t in tasks], ignore_index=True)


def run_seed_sizes(tasks: Sequence[str], sizes: Sequence[int], seeds: Sequence[int], config: ExperimentConfig, *,
                   ratio: int = 4, world: Mapping[str, Any] | None = None, progress: bool = True) -> pd.DataFrame:
    """LENS at `ratio` and no augmentation on the first n seed pairs of every task, for each n in `sizes`
    (nested subsets, `EmbeddingTask.with_seed_pairs`)."""
    frames = []
    for t in tasks:
        task = load_task(t, world=dict(world or {}) or None)
        frames.append(run_task_variants({n: task.with_seed_pairs(n) for n in sizes}, ["lens"], [1, ratio], seeds, config,
                                   progress=progress))
    return pd.concat(frames, ignore_index=True)


def run_representations(representations: Mapping[str, Sequence[str]], seeds: Sequence[int], config: ExperimentConfig,
                        *, models: Mapping[str, str] | None = None, device: str = "cpu", model_dtype: str = "float32",
                        n_seed_pairs: int = 0, ratio: int = 4, progress: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """LENS at `ratio` and no augmentation on each embedding of each task: shipped layers and
    re-embeddings by label (`load_task(task, layer=label)`), plus `models` ({label: model id}),
    embedded once per task (`text.reembed`, resumable) when missing. `n_seed_pairs` > 0 keeps the
    first n seed pairs. Returns the runs and {"task / label": subset note} for re-embeddings that
    cover part of the test set."""
    models = dict(models or {})
    frames, subsets = [], {}
    for t, layers in representations.items():
        for label, model in models.items():
            if label not in reembed.available_labels(t):
                reembed.build_reembedded(t, model, label=label, device=device, dtype=model_dtype, progress=progress)
        variants = {layer: load_task(t, layer=layer) for layer in [*layers, *models]}
        subsets |= {f"{t} / {k}": v.info["subset"] for k, v in variants.items() if v.info.get("subset")}
        if n_seed_pairs:
            variants = {k: v.with_seed_pairs(n_seed_pairs) for k, v in variants.items()}
        frames.append(run_task_variants(variants, ["lens"], [1, ratio], seeds, config, progress=progress))
    return pd.concat(frames, ignore_index=True), subsets


def collapse_words(numbers: Mapping[str, Any], task: str, reference: Any, config: ExperimentConfig) -> dict[str, str]:
    """Glue values of the gamma chapter's sentence on the latent space of `task`: latent dimensions in
    use and mean latent norm at the reference gamma and at 0, and the synthesis noise's norm
    (about sqrt(latent_dim * sigma2)) as a share of the latent norm at the reference."""
    diag = numbers["tasks"][task]["diagnostics"]
    out = {"diag_task": task}
    norm_at_ref = float("nan")
    for key, value in (("best", reference), ("zero", 0.0)):
        d = diag.get(value_key(value))
        dims, norm = (float(np.mean(d["effective_dims"])), float(np.mean(d["latent_norm"]))) if d else (np.nan, np.nan)
        out |= {f"dims_at_{key}": f"{dims:.1f}", f"norm_at_{key}": f"{norm:.1f}"}
        norm_at_ref = norm if key == "best" else norm_at_ref
    noise = (config.vae.latent_dim * config.synthesis.sigma2) ** 0.5
    out["noise_share"] = f"{100 * noise / norm_at_ref:.0f}%"
    return out


def run_timings(runs: pd.DataFrame, seconds_total: float, cpu_seconds: float) -> dict[str, Any]:
    """Machine-dependent numbers of a chapter: wall and CPU seconds, mean seconds per step and method."""
    steps = runs.groupby("method")[["seconds_fit", "seconds_augment", "seconds_train"]].mean()
    return {"seconds_total": seconds_total, "cpu_seconds_kernel": cpu_seconds, "mean_seconds": steps.to_dict()}


# --- numbers, tables, figures, sentences --------------------------------------------------------

def primary_metric(runs: pd.DataFrame) -> str:
    """"bon_gold" when the runs carry a gold reward, else "pairwise_accuracy" (held-out human pairs)."""
    return "bon_gold" if runs["bon_gold"].notna().any() else "pairwise_accuracy"


def _comparisons(gains: pd.DataFrame, b_of: Any) -> list[dict]:
    out = []
    for _, g in gains.iterrows():
        value = None if pd.isna(g["value"]) else value_key(g["value"])
        out.append({"a": {"value": value, "method": g["method"]}, "b": b_of(value),
                    "gain": g["gain"], "lo": g["gain_ci_low"], "hi": g["gain_ci_high"],
                    "sd_over_seeds": g["gain_sd_over_seeds"], "n_seeds": int(g["n_seeds"]), "n_items": int(g["n_items"])})
    return out


def ablation_numbers(runs: pd.DataFrame, param: str, *, shared_baseline: bool = True, reference: Any = None,
                     reference_method: str = "lens", diagnostics: Sequence[str] = (), picks: bool = False) -> dict:
    """Result numbers of an ablation: {"param", "tasks": {task: {metric, cells, comparisons, ...}}}.

    `cells` = {value: {method: {metric: [per seed, by seed]}}}; with `shared_baseline` the
    no-augmentation runs go to `baseline` and every cell is compared with them, else each value's
    cells are compared with that value's own "none" cell. `reference` (a swept value, e.g. the
    paper's best) adds the comparison of every other value of `reference_method` with it.
    `diagnostics` (columns of `runs`) are kept per value and seed under `diagnostics`. `picks` keeps
    the random-pick and oracle-pick gold rewards per value (`bon_random`, `bon_oracle`; gold tasks),
    the floor and ceiling of a value whose test set differs from the others'.
    """
    numbers: dict[str, Any] = {"param": param, "tasks": {}}
    for task, g in runs.sort_values("seed", kind="stable").groupby("task", sort=False):
        metrics = [m for m in ("bon_gold", "pairwise_accuracy") if g[m].notna().any()]
        swept = g[g["method"] != "none"] if shared_baseline else g
        cells: dict[str, dict] = {}
        for (value, method), h in swept.groupby(["value", "method"], sort=False):
            cells.setdefault(value_key(value), {})[method] = {m: h[m].tolist() for m in metrics}
        tn: dict[str, Any] = {"metric": primary_metric(g), "cells": cells}
        if shared_baseline:
            tn["baseline"] = {m: g.loc[g["method"] == "none", m].tolist() for m in metrics}
            gains = paired_gains(g, {"method": "none"}, by=("method", "ratio", "value"))
            tn["comparisons"] = _comparisons(gains, lambda v: {"value": None, "method": "none"})
        else:
            gains = paired_gains(g, ("none", 1), by=("method", "ratio"), within=("task", "value"))
            tn["comparisons"] = _comparisons(gains, lambda v: {"value": v, "method": "none"})
        if reference is not None:
            ref = swept[swept["method"] == reference_method]
            gains = paired_gains(ref, {"method": reference_method, "value": reference}, by=("method", "ratio", "value"))
            tn["comparisons"] += _comparisons(gains, lambda v: {"value": value_key(reference), "method": reference_method})
        if picks and "bon_gold" in metrics:
            tn["picks"] = {value_key(v): {k: float(h[k].mean()) for k in ("bon_random", "bon_oracle")}
                           for v, h in g.groupby("value", sort=False)}
        if diagnostics:
            tn["diagnostics"] = {value_key(v): {d: h[d].tolist() for d in diagnostics}
                                 for v, h in swept.groupby("value", sort=False)}
        numbers["tasks"][task] = tn
    return numbers


def find_comparison(tn: Mapping[str, Any], a: Mapping[str, Any], b: Mapping[str, Any]) -> dict:
    """The comparison of cell `a` with cell `b` ({value, method}; value None = shared baseline)."""
    for c in tn["comparisons"]:
        if c["a"] == dict(a) and c["b"] == dict(b):
            return c
    raise KeyError(f"no comparison of {a} with {b}")


def fmt_gain(c: Mapping[str, Any], digits: int = 3) -> str:
    """'+0.012 (95% CI -0.004 to +0.027)'."""
    return f"{c['gain']:+.{digits}f} (95% CI {c['lo']:+.{digits}f} to {c['hi']:+.{digits}f})"


def _words(c: Mapping[str, Any]) -> str:
    return compare_words({"lo": c["lo"], "hi": c["hi"]})


def _baseline_of(tn: Mapping[str, Any], value: str) -> dict:
    return {"value": None, "method": "none"} if "baseline" in tn else {"value": value, "method": "none"}


def ablation_table(numbers: Mapping[str, Any], task: str, param_label: str, *, method: str = "lens",
                   reference: Any = None, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per swept value: ours (mean ± sd over seeds), the paired gain over no augmentation,
    against the reference value if any, and the paper's number where it has one."""
    tn = numbers["tasks"][task]
    metric = tn["metric"]
    ref = None if reference is None else value_key(reference)
    rows = []
    for value, cell in tn["cells"].items():
        v = np.asarray(cell[method][metric], dtype=float)
        row = {param_label: value, f"LENS {METRIC_LABEL[metric]}": fmt_mean_spread(v.mean(), v.std(ddof=1) if len(v) > 1 else np.nan)}
        if "none" in cell:
            n = np.asarray(cell["none"][metric], dtype=float)
            row[f"no augmentation"] = fmt_mean_spread(n.mean(), n.std(ddof=1) if len(n) > 1 else np.nan)
        c = find_comparison(tn, {"value": value, "method": method}, _baseline_of(tn, value))
        row["LENS minus no augmentation"] = fmt_gain(c)
        row["test items"] = str(c["n_items"])
        if "picks" in tn:
            row["random / oracle pick"] = f"{tn['picks'][value]['bon_random']:.3f} / {tn['picks'][value]['bon_oracle']:.3f}"
        if ref is not None:
            row[f"minus LENS at {ref}"] = "(reference)" if value == ref else fmt_gain(
                find_comparison(tn, {"value": value, "method": method}, {"value": ref, "method": method}))
        if paper is not None:
            hit = paper[paper["value"] == value]
            row["paper (gold RM reward)"] = ", ".join(f"{METHOD_LABEL.get(m, m).split(' (')[0]} {x:.2f}"
                                                      for m, x in zip(hit["method"], hit["bon_gold"])) or "-"
        rows.append(row)
    if "baseline" in tn:
        b = np.asarray(tn["baseline"][metric], dtype=float)
        rows.append({param_label: "no augmentation", f"LENS {METRIC_LABEL[metric]}": fmt_mean_spread(b.mean(), b.std(ddof=1))})
    return pd.DataFrame(rows).fillna("").set_index(param_label)


def plot_ablation(numbers: Mapping[str, Any], param_label: str, *, method: str = "lens",
                  paper: pd.DataFrame | None = None) -> plt.Figure:
    """Gain of LENS over no augmentation (paired bootstrap 95% interval over test items, same seeds)
    against the swept value, one panel per task; with `paper`, a last panel with the paper's numbers."""
    tasks = list(numbers["tasks"])
    n_panels = len(tasks) + (paper is not None and len(paper) > 0)
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        tn = numbers["tasks"][task]
        values = list(tn["cells"])
        comps = [find_comparison(tn, {"value": v, "method": method}, _baseline_of(tn, v)) for v in values]
        x = np.arange(len(values))
        gain = np.array([c["gain"] for c in comps])
        err = np.array([[c["gain"] - c["lo"] for c in comps], [c["hi"] - c["gain"] for c in comps]])
        ax.errorbar(x, gain, yerr=err, fmt="o-", capsize=3, color="C0", label="LENS minus no augmentation")
        ax.axhline(0, color="0.4", lw=1, ls="--")
        ax.set_xticks(x, values)
        ax.set_xlabel(param_label)
        ax.set_ylabel(f"gain in {METRIC_LABEL[tn['metric']]}")
        ax.set_title(task, fontsize=10)
    if n_panels > len(tasks):
        ax = axes[0][-1]
        values = list(dict.fromkeys(paper["value"]))
        for m, marker in (("lens", "o"), ("none", "x")):
            hit = paper[paper["method"] == m]
            if len(hit):
                ax.plot([values.index(v) for v in hit["value"]], hit["bon_gold"], marker=marker, ls="-" if m == "lens" else "",
                        color="C1" if m == "lens" else "black", label=METHOD_LABEL.get(m, m))
        ax.set_xticks(range(len(values)), values)
        ax.set_xlabel(param_label)
        ax.set_ylabel("paper: Best-of-16 gold RM reward")
        ax.set_title("paper (no intervals reported)", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_diagnostics(numbers: Mapping[str, Any], param_label: str, names: Sequence[str]) -> plt.Figure:
    """Latent diagnostics (mean ± sd over seeds) against the swept value, one panel per diagnostic."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, (task, tn) in enumerate(numbers["tasks"].items()):
            values = list(tn["diagnostics"])
            v = [np.asarray(tn["diagnostics"][x][name], dtype=float) for x in values]
            sd = [a.std(ddof=1) if len(a) > 1 else 0.0 for a in v]
            ax.errorbar(np.arange(len(values)) + 0.06 * i, [a.mean() for a in v], yerr=sd, fmt="o-", ms=4,
                        capsize=2, label=task)
            ax.set_xticks(range(len(values)), values)
        ax.set_title(DIAGNOSTIC_LABEL.get(name, name), fontsize=9)
        ax.set_xlabel(param_label)
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def verdict_lines(numbers: Mapping[str, Any], param_label: str, *, method: str = "lens",
                  reference: Any = None) -> list[str]:
    """Markdown bullets, written from the numbers: per task, the value with the highest mean, LENS
    against no augmentation at each value and, with `reference`, the reference against each other value."""
    lines = []
    ref = None if reference is None else value_key(reference)
    for task, tn in numbers["tasks"].items():
        metric = tn["metric"]
        means = {v: float(np.mean(c[method][metric])) for v, c in tn["cells"].items()}
        top = max(means, key=means.get)
        vs_none = [find_comparison(tn, {"value": v, "method": method}, _baseline_of(tn, v)) for v in tn["cells"]]
        up, down = sum(c["lo"] > 0 for c in vs_none), sum(c["hi"] < 0 for c in vs_none)
        lines.append(f"- **{task}** ({METRIC_LABEL[metric]}): LENS is clearly above no augmentation at {up} of "
                     f"{len(vs_none)} values of {param_label} and clearly below at {down}; the highest mean is at "
                     f"{param_label} = {top} ({means[top]:.3f}).")
        for v in tn["cells"]:
            c = find_comparison(tn, {"value": v, "method": method}, _baseline_of(tn, v))
            lines.append(f"  - {param_label} = {v}: LENS minus no augmentation {fmt_gain(c)}, {_words(c)}.")
        if ref is not None and ref in tn["cells"]:
            for v in tn["cells"]:
                if v != ref:
                    c = find_comparison(tn, {"value": v, "method": method}, {"value": ref, "method": method})
                    lines.append(f"  - {param_label} = {v} minus {param_label} = {ref}: {fmt_gain(c)}, {_words(c)}.")
    return lines


def ledger_lines(notebook: str, numbers: Mapping[str, Any]) -> list[str]:
    """Markdown bullets: the ledger's verdict on every claim `notebook` tests, from `numbers`."""
    record = {notebook: {"numbers": numbers}}
    lines = []
    for claim in load_claims():
        if claim.tested_by == notebook:
            j = judge(claim, record)
            lines.append(f"- **{claim.id}**: {claim.text} Paper: {claim.paper}. Ours: {j.ours}. "
                         f"Verdict: **{j.verdict}**.")
    return lines

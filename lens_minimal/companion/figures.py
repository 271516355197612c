"""Plots and tables of the book, so the notebooks stay short: call, plot, table, glue.

Every function here only draws or formats numbers it is given; nothing is computed for the
first time in a plot. Figures are saved with `results.save_figure` (no volatile metadata).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")   # files only; the book shows the saved SVG
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from .ledger import DATASET_LABEL  # noqa: E402
from .walkthrough import standardize  # noqa: E402

CHOSEN_COLOR, REJECTED_COLOR = "#1b7837", "#b2182b"
METHOD_LABEL = {
    "none": "No augmentation (1x)",
    "lens": "LENS",
    "lens_no_div": "LENS without divergence (gamma = 0)",
    "vae_prior": "VAE prior samples",
    "direct": "Direct perturbation",
    "gaussian": "Gaussian sampling",
}


def pca_basis(x: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (d,) and top-k principal directions (d, k) of rows x (n, d); signs fixed for stable plots."""
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    comps = vh[:k].T                                                   # (d, k)
    flip = torch.sign(comps[comps.abs().argmax(0), torch.arange(k)])   # largest entry positive
    return mean, comps * flip


def project(x: torch.Tensor, basis: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
    """Rows x (n, d) in the 2-D PCA coordinates of `basis`. -> (n, 2)"""
    mean, comps = basis
    return ((x - mean) @ comps).numpy()


def plot_latent_pairs(ax, chosen_2d: np.ndarray, rejected_2d: np.ndarray, title: str) -> None:
    """Scatter of chosen and rejected posterior means in 2-D, with thin lines joining each pair."""
    for (x0, y0), (x1, y1) in zip(chosen_2d, rejected_2d):
        ax.plot([x0, x1], [y0, y1], color="0.8", lw=0.4, zorder=1)
    ax.scatter(*chosen_2d.T, s=8, color=CHOSEN_COLOR, label="chosen", zorder=2)
    ax.scatter(*rejected_2d.T, s=8, color=REJECTED_COLOR, label="rejected", zorder=2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")


def plot_synthetic_around_seeds(ax, seeds_2d: np.ndarray, recon_2d: np.ndarray, synth_2d: np.ndarray,
                                color: str, label: str) -> None:
    """Seeds (n, 2) as circles, their reconstructions g(mu) (n, 2) as crosses joined to them, and
    their synthetic samples (n, k, 2) as small dots."""
    for i, (s, r, cloud) in enumerate(zip(seeds_2d, recon_2d, synth_2d)):
        ax.plot([s[0], r[0]], [s[1], r[1]], color=color, lw=0.8, alpha=0.6, zorder=1)
        ax.scatter(*cloud.T, s=6, color=color, alpha=0.45, zorder=1)
        first = i == 0
        ax.scatter(*s, s=60, color=color, edgecolor="black", zorder=2, label=f"{label} seed" if first else None)
        ax.scatter(*r, s=60, color=color, marker="X", edgecolor="black", linewidth=0.5, zorder=2,
                   label="its reconstruction g(mu)" if first else None)


def plot_latent_space(latent: Mapping[float, tuple[torch.Tensor, torch.Tensor]], gammas: Sequence[float],
                      n_shown: int) -> plt.Figure:
    """One panel per gamma: the first `n_shown` pairs' posterior means (mu_chosen, mu_rejected), each
    (N, latent_dim), on the first two principal components of that VAE's means."""
    fig, axes = plt.subplots(1, len(gammas), figsize=(5 * len(gammas), 4.2), squeeze=False)
    for ax, gamma in zip(axes[0], gammas):
        mu_c, mu_r = latent[gamma]
        basis = pca_basis(torch.cat([mu_c, mu_r]))
        plot_latent_pairs(ax, project(mu_c[:n_shown], basis), project(mu_r[:n_shown], basis),
                          f"gamma = {gamma:g}: posterior means mu, PCA")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_synthetic_example(vae, e_chosen: torch.Tensor, e_rejected: torch.Tensor,
                           example: Mapping[str, Mapping[str, torch.Tensor]]) -> plt.Figure:
    """`walkthrough.synthetic_example` drawn on the first two principal components of all standardised
    seed embeddings (`e_chosen`, `e_rejected`: (N, d)): seeds, their reconstructions and samples."""
    basis = pca_basis(standardize(vae, torch.cat([e_chosen, e_rejected])))
    dim = e_chosen.shape[-1]

    def to_2d(x: torch.Tensor) -> np.ndarray:                  # (..., d) -> (..., 2)
        return project(standardize(vae, x.reshape(-1, dim)), basis).reshape(*x.shape[:-1], 2)

    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for side, color in (("chosen", CHOSEN_COLOR), ("rejected", REJECTED_COLOR)):
        plot_synthetic_around_seeds(ax, to_2d(example["seed"][side]), to_2d(example["recon"][side]),
                                    to_2d(example["synth"][side]), color, side)
    ax.set_xlabel("PC 1 of the standardised seed embeddings")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gold_vs_ratio(summary: pd.DataFrame, references: Mapping[str, Mapping[str, float]],
                       methods: Sequence[str]) -> plt.Figure:
    """Best-of-N gold reward (mean and 95% interval over seeds) against the augmentation ratio.

    `summary` is `experiment.summarize` output. The shared no-augmentation model (ratio 1) is one
    black point that every method's line starts from; methods are shifted slightly sideways so
    their error bars stay apart. One panel per task; dotted lines mark the random and oracle picks.
    A task without gold reward (held-out human pairs) shows its held-out pairwise accuracy instead.
    """
    tasks = list(dict.fromkeys(summary["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.0 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        s = summary[summary["task"] == task]
        gold = bool(s["bon_gold_mean"].notna().any())
        metric = "bon_gold" if gold else "pairwise_accuracy"
        s = s.rename(columns={f"{metric}_mean": "value_mean", f"{metric}_ci": "value_ci"})
        base = s[s["method"] == "none"]
        for i, method in enumerate(methods):
            m = s[s["method"] == method].sort_values("ratio")
            shift = 0.12 * (i - (len(methods) - 1) / 2)
            x = np.concatenate([base["ratio"].to_numpy(float), m["ratio"].to_numpy(float) + shift])
            y = np.concatenate([base["value_mean"].to_numpy(), m["value_mean"].to_numpy()])
            line, = ax.plot(x, y, marker="o", ms=4, label=METHOD_LABEL.get(method, method))
            ax.errorbar(m["ratio"] + shift, m["value_mean"], yerr=m["value_ci"].fillna(0), fmt="none",
                        ecolor=line.get_color(), capsize=3)
        ax.errorbar(base["ratio"], base["value_mean"], yerr=base["value_ci"].fillna(0), fmt="o",
                    color="black", capsize=3, zorder=3, label=METHOD_LABEL["none"])
        ref = references.get(task, {}) if gold else {}
        for key, name in (("bon_random", "random pick"), ("bon_oracle", "oracle pick")):
            if key not in ref:
                continue
            ax.axhline(ref[key], color="0.5", ls=":", lw=1)
            ax.annotate(name, (0.99, ref[key]), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", fontsize=8, color="0.4")
        ax.set_xticks(sorted(set(s["ratio"])))
        ax.set_xlabel("augmentation ratio r (pairs = r x seeds)")
        ax.set_ylabel("Best-of-N gold reward" if gold else "held-out pairwise accuracy")
        ax.set_title(task, fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def human_count(n: float) -> str:
    """'8.0B', '134.5M' or '29.4k'."""
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def fmt_mean_spread(mean: float, std: float, digits: int = 3) -> str:
    """'mean ± std' (the spread over seeds); just the mean for a single seed."""
    if std is None or np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


LATENT_FROM_NONE = ("lens", "direct", "gaussian", "lens_no_div", "vae_prior", "text_mlp",   # share the 1x model
                    "self_rewarding")   # ours is the embedding MLP on self-labelled pairs: at 1x, no augmentation


def table1_frame(summary: pd.DataFrame, paper: pd.DataFrame, dataset_for: Mapping[str, str],
                 references: Mapping[str, Mapping[str, float]] | None = None,
                 metric: str = "bon_gold", paper_beside: bool | None = None, spread: str = "std") -> pd.DataFrame:
    """Table 1 as strings: one row per method (the paper's rows, then ours), columns (task, ratio).

    Each task is set beside the paper dataset it stands in for (`dataset_for`). At 1x every
    embedding-MLP method is the same model (no augmentation), as in the paper. A cell over fewer seeds
    than the table's most says how many. Cells: 'pending' for text-space rows not run yet, 'not run' for our methods outside this profile's grid, '-'
    where a source has no such row. `references` adds the random-pick and oracle-pick rows.
    `paper_beside` sets the paper's gold-reward column beside ours (default: only for the gold metric;
    True also beside held-out accuracy, labelled as the other metric it is); `spread` "std" shows
    mean ± standard deviation over seeds, "ci" mean ± the half-width of the 95% t-interval.
    """
    paper_beside = metric == "bon_gold" if paper_beside is None else paper_beside
    paper_label = "paper {} gold" if metric != "bon_gold" else "paper {}"
    ratios = sorted(set(summary["ratio"]) | ({1, 4, 8} if paper_beside else set()))
    tasks = list(dict.fromkeys(summary["task"]))
    paper_methods = list(dict.fromkeys(paper["method"]))
    ours_methods = [m for m in dict.fromkeys(summary["method"]) if m != "none"]
    most_seeds = summary["n_seeds"].max() if "n_seeds" in summary else 0
    text_methods = set(paper.loc[paper["space"] == "text", "method"])
    rows: dict[str, dict] = {}
    for method in paper_methods + [m for m in ours_methods if m not in paper_methods]:
        label = (paper.loc[paper["method"] == method, "label"].iloc[0] if method in paper_methods
                 else METHOD_LABEL.get(method, method))
        row = {}
        for task in tasks:
            ds = dataset_for.get(task)
            for r in ratios:
                if paper_beside:
                    hit = paper[(paper["method"] == method) & (paper["dataset"] == ds) & (paper["ratio"] == r)]
                    row[(task, f"{r}x", paper_label.format(DATASET_LABEL.get(ds, '')).replace("  ", " ").strip())] = (
                        f"{hit['bon_gold'].iloc[0]:.2f}" if len(hit) else "-")
                cell_method = "none" if r == 1 and method in LATENT_FROM_NONE else method
                s = summary[(summary["task"] == task) & (summary["method"] == cell_method) & (summary["ratio"] == r)]
                if len(s):
                    ours = fmt_mean_spread(s[f"{metric}_mean"].iloc[0], s[f"{metric}_{spread}"].iloc[0])
                    n = int(s["n_seeds"].iloc[0]) if "n_seeds" in s else most_seeds
                    ours += f" ({n} seed{'s' * (n > 1)})" if n < most_seeds else ""   # a cell run on fewer seeds
                elif method in text_methods:
                    ours = "pending"
                elif method in ours_methods or method in LATENT_FROM_NONE:
                    ours = "not run"
                else:
                    ours = "-"
                row[(task, f"{r}x", "ours")] = ours
        rows[label] = row
    for key, label in (("bon_random", "Random pick (reference)"), ("bon_oracle", "Oracle pick (reference)")):
        if references is None or metric != "bon_gold":
            continue
        rows[label] = {col: (f"{references[col[0]][key]:.3f}" if col[2] == "ours" else "-")
                       for col in next(iter(rows.values()))}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["task", "ratio", "source"])
    return df


def plot_gold_vs_agreement(ax, agreements: Sequence[float], text_aug: Mapping[float, Sequence[float]],
                           lens: Sequence[float], none: Sequence[float], title: str,
                           judge: tuple[float, float, float] | None = None,
                           judged: Sequence[float] | None = None) -> None:
    """Best-of-N gold of text augmentation against the annotator's agreement with gold (mean and 95%
    t-interval over seeds), LENS at the same ratio as a horizontal band, no augmentation as a dashed line,
    and the SmolLM2 judge's measured agreement (value, interval low, high) as a shaded vertical strip;
    `judged`: per-seed Best-of-N gold of text augmentation labelled by that judge, drawn at its agreement."""
    from ..evaluation import t_halfwidth

    means = [float(np.mean(text_aug[a])) for a in agreements]
    half = [t_halfwidth(np.asarray(text_aug[a])) for a in agreements]
    ax.errorbar(agreements, means, yerr=half, marker="o", capsize=3, color="#2166ac", label="text augmentation (simulated judge)")
    m, h = float(np.mean(lens)), t_halfwidth(np.asarray(lens))
    ax.axhspan(m - h, m + h, color="#d6604d", alpha=0.25, lw=0)
    ax.axhline(m, color="#d6604d", lw=1.5, label="LENS (mean, 95% band)")
    ax.axhline(float(np.mean(none)), color="0.4", ls="--", lw=1, label="no augmentation (1x)")
    if judge is not None:
        ax.axvspan(judge[1], judge[2], color="#1b7837", alpha=0.2, lw=0)
        ax.axvline(judge[0], color="#1b7837", lw=1, label="SmolLM2 judge's agreement")
        if judged is not None:
            ax.errorbar([judge[0]], [float(np.mean(judged))], yerr=[t_halfwidth(np.asarray(judged))], marker="s",
                        capsize=3, color="#1b7837", ls="none", label="text augmentation (SmolLM2 judge)")
    ax.set_xlabel("annotator agreement with gold")
    ax.set_ylabel("Best-of-N gold reward")
    ax.set_title(title, fontsize=10)


# --- beyond the paper: gains over no augmentation ---------------------------------------------------

METRIC_LABEL = {"bon_gold": "Best-of-N gold reward", "pairwise_accuracy": "held-out pairwise accuracy"}


def fmt_gain(gain: float, low: float, high: float, digits: int = 3) -> str:
    """'+0.004 [-0.003, +0.011]': a gain and its 95% interval."""
    return f"{gain:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def gain_table(gains: pd.DataFrame, order: Sequence[str], scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Candidates (rows, in `order`) x datasets: gain over no augmentation with its paired 95% interval,
    a mark where the interval excludes 0 (+ above, - below); with `scores`, the protocol's score and rank."""
    tasks = list(dict.fromkeys(gains["task"]))
    rows = {}
    for cand in order:
        g = gains[gains["candidate"] == cand].set_index("task")
        row = {}
        for t in tasks:
            lo, hi = g.at[t, "gain_ci_low"], g.at[t, "gain_ci_high"]
            mark = " +" if lo > 0 else " -" if hi < 0 else ""
            row[t] = fmt_gain(g.at[t, "gain"], lo, hi) + mark
        if scores is not None:
            s = scores.set_index("candidate").loc[cand]
            row["score (z)"], row["rank"] = f"{s['score']:+.2f}", int(s["rank"])
        rows[cand] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "candidate"
    return df


def plot_gains(validation: pd.DataFrame, confirmation: pd.DataFrame | None, chosen: str,
               metric_of: Mapping[str, str]) -> plt.Figure:
    """Gain over no augmentation per dataset (one panel each): every candidate on the dev slice (grey;
    the chosen one black) and the chosen one's confirmation on the final slice (colour); 95% paired
    intervals; the dashed line is no augmentation."""
    tasks = list(dict.fromkeys(validation["task"]))
    order = list(dict.fromkeys(validation["candidate"]))
    # narrow panels and 8-point labels: the figure is shown about 7.5 inches wide in the book
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.5 * len(tasks) + 1.7, 0.2 * len(order) + 1.4), squeeze=False,
                             sharey=True)
    for ax, task in zip(axes[0], tasks):
        v = validation[validation["task"] == task].set_index("candidate").loc[order]
        y = np.arange(len(order))[::-1].astype(float)
        for yi, (cand, row) in zip(y, v.iterrows()):
            color = "black" if cand == chosen else "0.6"
            ax.errorbar(row["gain"], yi, xerr=[[row["gain"] - row["gain_ci_low"]], [row["gain_ci_high"] - row["gain"]]],
                        fmt="o", ms=3, color=color, capsize=2)
        if confirmation is not None:
            c = confirmation[confirmation["task"] == task].iloc[0]
            ax.errorbar(c["gain"], -1.2, xerr=[[c["gain"] - c["gain_ci_low"]], [c["gain_ci_high"] - c["gain"]]],
                        fmt="D", ms=5, color="#2166ac", capsize=3)
        ax.axvline(0, color="0.3", ls="--", lw=1)
        ax.set_yticks(list(y) + ([-1.2] if confirmation is not None else []))
        ax.set_yticklabels(order + ([f"{chosen}: confirmation"] if confirmation is not None else []), fontsize=8)
        ax.set_xlabel(f"gain in\n{METRIC_LABEL.get(metric_of.get(task, ''), 'the metric')}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(task, fontsize=9)
    fig.tight_layout()
    return fig


DIAGNOSTIC_LABEL = {"nn_distance_ratio": "distance to real (x held-out)", "two_sample_accuracy": "two-sample accuracy",
                    "label_agreement_synthetic": "order agreement", "label_agreement_heldout": "agreement on real held-out"}


def diagnostics_frame(diagnostics: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """(dataset, candidate in `order`) rows x the measures of `diagnostics.describe_synthetic`, rounded;
    the real held-out agreement is a reference column (per dataset, the same for every candidate).
    Long rather than wide, so the table keeps four columns at any number of datasets."""
    parts = []
    for task, g in diagnostics.groupby("task", sort=False):
        g = g.set_index("candidate").loc[list(order)]
        parts.append(pd.DataFrame({DIAGNOSTIC_LABEL[k]: g[k].round(2) for k in DIAGNOSTIC_LABEL}).assign(dataset=task))
    df = pd.concat(parts).reset_index().set_index(["dataset", "candidate"])
    return df

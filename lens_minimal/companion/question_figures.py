"""Figures of the open-question, diagnostics and theory chapters; every interval is a 95% interval.

Gains are paired over test items (bootstrap, `evaluation.paired_gain_ci`); means over seeds carry
Student-t intervals (`evaluation.t_halfwidth`).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..evaluation import t_halfwidth
from .figures import CHOSEN_COLOR, REJECTED_COLOR

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _axes(n: int, width: float = 5.0, height: float = 3.4, sharey: bool = False):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, sharey=sharey)
    return fig, list(axes[0])


def _label(labels: str | Mapping[str, tuple[str, str]], task: str) -> str:
    return labels if isinstance(labels, str) else labels[task][1]


def plot_gains(gains: pd.DataFrame, metric_label: str | Mapping[str, tuple[str, str]], title: str = "") -> plt.Figure:
    """One panel per task: each comparison 'a minus b' as a point with its paired interval; 0 marked.
    `metric_label`: one label, or {task: (column, label)} (`questions.primary_metrics`)."""
    tasks = list(dict.fromkeys(gains.task))
    fig, axes = _axes(len(tasks), width=5.5, height=0.45 * gains.groupby("task").size().max() + 1.4)
    for ax, task in zip(axes, tasks):
        g = gains[gains.task == task].reset_index(drop=True)
        y = np.arange(len(g))[::-1]
        color = ["#2ca02c" if lo > 0 else "#d62728" if hi < 0 else "0.35" for lo, hi in zip(g.gain_ci_low, g.gain_ci_high)]
        for yi, (_, r), c in zip(y, g.iterrows(), color):
            ax.errorbar(r.gain, yi, xerr=[[r.gain - r.gain_ci_low], [r.gain_ci_high - r.gain]], fmt="o", color=c, capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [f"{a}  −  {b}" for a, b in zip(g.a, g.b)], fontsize=8)
        ax.set_xlabel(f"difference in {_label(metric_label, task)}")
        ax.set_title(f"{task}{': ' + title if title else ''}", fontsize=10)
    fig.tight_layout()
    return fig


def _mean_ci(values: Iterable[float]) -> tuple[float, float]:
    v = np.asarray(list(values), dtype=float)
    half = t_halfwidth(v)
    return float(v.mean()), 0.0 if np.isnan(half) else half


def plot_metric_vs_steps(df: pd.DataFrame, metrics: Mapping[str, tuple[str, str]], series: Mapping[str, str]) -> plt.Figure:
    """Each task's metric (`metrics`: {task: (column, label)}; mean over seeds, t-interval) against
    optimiser steps, one line per series.

    `series`: prefix of variant names (e.g. "lens@8 capped E=") -> legend label; the number after
    the prefix is the epoch count, the x value the mean number of steps taken.
    """
    tasks = list(dict.fromkeys(df.task))
    fig, axes = _axes(len(tasks), width=5.5, height=3.8)
    for ax, task in zip(axes, tasks):
        d = df[df.task == task]
        for (prefix, label), color in zip(series.items(), COLORS):
            rows = d[d.variant.str.startswith(prefix) & d.variant.str[len(prefix):].str.isdigit()]
            pts = sorted((g.steps.mean(), *_mean_ci(g[metrics[task][0]])) for _, g in rows.groupby("variant"))
            if not pts:
                continue
            x, m, h = map(np.array, zip(*pts))
            ax.errorbar(x, m, yerr=h, color=color, marker="o", ms=4, capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("optimiser steps of the reward model")
        ax.set_ylabel(metrics[task][1])
        ax.set_title(task, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gain_sweep(ax, gains: pd.DataFrame, xs: Mapping[str, float], xlabel: str, metric_label: str,
                    log: bool = False, label: str | None = None, color: str = COLORS[0]) -> None:
    """Gain over the baseline (paired interval) against a swept value; `xs`: variant name -> x."""
    g = gains[gains.a.isin(list(xs))].assign(x=lambda t: t.a.map(xs)).sort_values("x")
    ax.errorbar(g.x, g.gain, yerr=[g.gain - g.gain_ci_low, g.gain_ci_high - g.gain], marker="o", ms=4,
                capsize=3, color=color, label=label)
    ax.axhline(0, color="black", lw=0.8)
    if log:
        ax.set_xscale("log", base=2)
    ax.set_xticks(list(g.x), [f"{x:g}" for x in g.x])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"gain in {metric_label}")


def plot_points(ax, x: Iterable[float], y: Iterable[float], labels: Iterable[str], xlabel: str, ylabel: str,
                zero: bool = True) -> None:
    """Scatter, one color per label (e.g. per latent dimension), with a zero line unless `zero=False`."""
    frame = pd.DataFrame({"x": list(x), "y": list(y), "label": list(labels)})
    for (lab, g), color in zip(frame.groupby("label", sort=False), COLORS * 3):
        ax.scatter(g.x, g.y, color=color, s=18, label=lab)
    if zero:
        ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def plot_bars(ax, df: pd.DataFrame, column: str, by: str, ylabel: str, reference: str | None = None) -> None:
    """Mean over seeds with t-interval of `column` per value of `by`; `reference`: a second column
    (e.g. the real-data value) drawn as a hollow marker beside each bar."""
    groups = list(dict.fromkeys(df[by]))
    for i, name in enumerate(groups):
        g = df[df[by] == name]
        m, h = _mean_ci(g[column])
        ax.bar(i, m, yerr=h, color=COLORS[i % len(COLORS)], alpha=0.8, capsize=4)
        if reference is not None:
            r, hr = _mean_ci(g[reference])
            ax.errorbar(i + 0.3, r, yerr=hr, fmt="D", mfc="white", color="black", ms=5, capsize=3,
                        label="real reference" if i == 0 else None)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)
    if reference is not None:
        ax.legend(fontsize=7)


def plot_latent_scatter(ax, chosen_2d: np.ndarray, rejected_2d: np.ndarray, title: str) -> None:
    """Chosen and rejected posterior means in 2-D (no pair lines: many points)."""
    ax.scatter(*chosen_2d.T, s=5, color=CHOSEN_COLOR, alpha=0.6, label="chosen")
    ax.scatter(*rejected_2d.T, s=5, color=REJECTED_COLOR, alpha=0.6, label="rejected")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7)


def plot_lines(ax, df: pd.DataFrame, x: str, y: str, by: str, xlabel: str, ylabel: str, log: bool = False,
               reference: str | None = None) -> None:
    """Mean over seeds (t-interval) of `y` against `x`, one line per value of `by`; `reference`: a
    column drawn as a dashed line (e.g. the agreement of the real pairs)."""
    for (name, g), color in zip(df.groupby(by, sort=False), COLORS * 3):
        pts = sorted((xv, *_mean_ci(h[y])) for xv, h in g.groupby(x))
        xs, m, h = map(np.array, zip(*pts))
        ax.errorbar(xs, m, yerr=h, marker="o", ms=4, capsize=3, color=color, label=f"{by} {name}")
    if reference is not None:
        ax.axhline(df[reference].mean(), color="black", ls="--", lw=1, label="real seed pairs")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def plot_synthesis_choices(gains: pd.DataFrame, ratio: int, latent_dims: Iterable[int], top_ks: Iterable[int],
                           ratios: Iterable[int], decodes: Iterable[str], metric_label: str) -> plt.Figure:
    """`metric_label`: the y label (tasks sharing a panel should share a metric)."""
    """Four panels of gains over no augmentation (paired intervals): latent dimension, ratio, top-k
    (with the unfiltered draw as a hollow marker), decode. One line per task."""
    from ..synthesis import synthetic_per_side

    base, k0 = f"lens@{ratio}", synthetic_per_side(ratio)
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.6))
    for (task, g), color in zip(gains.groupby("task", sort=False), COLORS):
        lat = {(f"latent={d}" if d != 16 else base): d for d in latent_dims}
        plot_gain_sweep(axes[0], g, lat, "latent dimension", metric_label, log=True, label=task, color=color)
        rat = {(f"ratio={r}" if r != ratio else base): r for r in ratios if r != 1}
        plot_gain_sweep(axes[1], g, rat, "augmentation ratio", metric_label, log=True, label=task, color=color)
        ks = {(f"top-k={k}" if k != k0 else base): k for k in top_ks}
        plot_gain_sweep(axes[2], g, ks, f"k kept of 16 candidates (at {ratio}x)", metric_label, log=True,
                        label=task, color=color)
        nf = g[g.a == "no filter"]
        if len(nf):
            axes[2].errorbar([k0 * 1.08], nf.gain, yerr=[nf.gain - nf.gain_ci_low, nf.gain_ci_high - nf.gain],
                             fmt="o", mfc="white", color=color, capsize=3, label=f"{task}: no filter (k={k0} of {k0})")
        order = [base] + [f"decode={d}" for d in decodes if d != "generate"]
        dec = g[g.a.isin(order)].set_index("a").loc[[a for a in order if a in set(g.a)]].reset_index()
        names = ["generate" if a == base else a.split("=", 1)[1] for a in dec.a]
        x = np.arange(len(dec)) + 0.1 * list(gains.task.unique()).index(task)
        axes[3].errorbar(x, dec.gain, yerr=[dec.gain - dec.gain_ci_low, dec.gain_ci_high - dec.gain], fmt="o",
                         color=color, capsize=3, label=task)
        axes[3].set_xticks(np.arange(len(dec)), names)
    axes[3].axhline(0, color="black", lw=0.8)
    axes[3].set_xlabel(f"decode of synthetic embeddings (at {ratio}x)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

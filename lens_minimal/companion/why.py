"""The summing-up chapter, "Why LENS does (not) help here": every paired comparison of a latent
synthesis against no augmentation that the other chapters measured, side by side.

It computes nothing new. It walks the result files of the chapters it names and collects each
paired gain they stored (a dict with `gain` and its interval, `lo`/`hi` or `gain_ci_low`/
`gain_ci_high`), labelled by chapter, dataset and comparison. A comparison counts as "against no
augmentation" when its baseline side names method `none` and its augmented side does not.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

from .figures import METHOD_LABEL

# The chapters whose result files hold paired gains, in book order.
CHAPTERS = ("table1_main_results", "ablation_gamma", "ablation_sigma2", "ablation_seed_size",
            "ablation_representation", "open_weak_baseline", "open_steps_vs_data", "open_synthesis_choices",
            "beyond_latent_synthesis")
_DATASETS = ("instructions", "summaries", "hh-harmless", "synthetic")


def _interval(node: Mapping[str, Any]) -> tuple[float, float] | None:
    for lo, hi in (("lo", "hi"), ("gain_ci_low", "gain_ci_high")):
        if lo in node and hi in node:
            return float(node[lo]), float(node[hi])
    return None


def _side(side: Any) -> str:
    """'lens sigma2=0.01' from {"method": "lens", "value": "0.01"} (ablation comparison sides)."""
    if not isinstance(side, Mapping):
        return str(side)
    value = side.get("value")
    return f"{side.get('method', '?')}" + (f" @ {value}" if value not in (None, "") else "")


def _walk(node: Any, path: list[str]) -> Iterator[tuple[list[str], Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        if "gain" in node and _interval(node) is not None:
            yield path, node
            return
        for key, value in node.items():
            yield from _walk(value, path + [str(key)])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, path + [f"#{i}"])     # a list position, not a name


def collect_gains(records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per paired gain found in `records` (chapter name -> result file): chapter, dataset,
    comparison, gain, lo, hi, n_seeds, n_items, versus_none."""
    rows = []
    for chapter, record in records.items():
        for path, node in _walk(record.get("numbers", {}), []):
            dataset = next((p for p in path if p in _DATASETS), "")
            rest = [p for p in path if p != dataset and p not in ("tasks", "gains", "comparisons", "bootstrap_gains")
                    and not p.startswith("#")]
            if "a" in node and "b" in node:
                param = record.get("numbers", {}).get("param", "")
                comparison = f"{_side(node['a'])} vs {_side(node['b'])}" + (f" ({param})" if param else "")
                a_text, b_text = _side(node["a"]), _side(node["b"])
            elif chapter == "table1_main_results" and len(rest) >= 2:      # {method: {ratio: gain}}
                a_text, b_text = f"{rest[0]} @ {rest[1]}x", "none @ 1x"
                comparison = f"{METHOD_LABEL.get(rest[0], rest[0])} {rest[1]}x vs no augmentation"
            else:                                                          # "x: lens@8 - x: none"
                comparison = " / ".join(rest)
                a_text, _, b_text = comparison.partition(" - ")
            lo, hi = _interval(node)
            rows.append({"chapter": chapter, "dataset": dataset, "comparison": comparison,
                         "gain": float(node["gain"]), "lo": lo, "hi": hi,
                         "n_seeds": node.get("n_seeds"), "n_items": node.get("n_items"),
                         "versus_none": _is_none(b_text) and not _is_none(a_text)})
    return pd.DataFrame(rows, columns=["chapter", "dataset", "comparison", "gain", "lo", "hi", "n_seeds",
                                       "n_items", "versus_none"])


def _is_none(text: str) -> bool:
    return re.search(r"(^|[\s:@])none(\b|@)", text) is not None


def reading(lo: float, hi: float) -> str:
    """'clearly higher' / 'clearly lower' / 'unclear' from a 95% interval."""
    return "clearly higher" if lo > 0 else "clearly lower" if hi < 0 else "unclear"


def verdict_counts(gains: pd.DataFrame) -> dict[str, int]:
    """How many comparisons against no augmentation read clearly higher, clearly lower, unclear."""
    versus = gains[gains["versus_none"]]
    counts = {k: 0 for k in ("clearly higher", "clearly lower", "unclear")}
    for lo, hi in zip(versus["lo"], versus["hi"]):
        counts[reading(lo, hi)] += 1
    return counts


def table(gains: pd.DataFrame, only_versus_none: bool = True) -> pd.DataFrame:
    """The comparisons as a display table, largest gain first."""
    g = gains[gains["versus_none"]] if only_versus_none else gains
    g = g.sort_values("gain", ascending=False)
    return pd.DataFrame({
        "chapter": g["chapter"], "dataset": g["dataset"], "comparison": g["comparison"],
        "gain": [f"{x:+.3f}" for x in g["gain"]],
        "95% interval": [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(g["lo"], g["hi"])],
        "reading": [reading(lo, hi) for lo, hi in zip(g["lo"], g["hi"])],
    }).reset_index(drop=True)


def clear_gains_markdown(gains: pd.DataFrame) -> str:
    """The comparisons where a latent synthesis clearly beats no augmentation, as bullets (or a sentence)."""
    g = gains[gains["versus_none"] & (gains["lo"] > 0)].sort_values("gain", ascending=False)
    if g.empty:
        return "- None: no comparison against no augmentation has an interval above zero."
    return "\n".join(f"- {r.chapter}, {r.dataset or 'all'}: {r.comparison}: {r.gain:+.3f} "
                     f"(95% interval {r.lo:+.3f} to {r.hi:+.3f})" for r in g.itertuples())


def plot_gains(gains: pd.DataFrame, chapters: Sequence[str] = CHAPTERS) -> plt.Figure:
    """Forest plot: every gain over no augmentation with its 95% interval, grouped by chapter."""
    g = gains[gains["versus_none"]].copy()
    g["order"] = [chapters.index(c) if c in chapters else len(chapters) for c in g["chapter"]]
    g = g.sort_values(["order", "dataset", "gain"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8.0, max(3.0, 0.22 * len(g) + 1.0)))
    colors = {c: plt.cm.tab10(i % 10) for i, c in enumerate(dict.fromkeys(g["chapter"]))}
    for i, r in g.iterrows():
        ax.plot([r["lo"], r["hi"]], [i, i], color=colors[r["chapter"]], lw=2)
        ax.plot(r["gain"], i, "o", color=colors[r["chapter"]], ms=4)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(g)))
    ax.set_yticklabels([f"{r.dataset}: {r.comparison}"[:70] for r in g.itertuples()], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("gain over no augmentation (each chapter's main metric), 95% paired interval")
    handles = [plt.Line2D([], [], color=c, lw=2, label=name) for name, c in colors.items()]
    ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=False)
    fig.tight_layout()
    return fig


def counts_by_chapter(gains: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: how many comparisons against no augmentation read clearly higher / lower / unclear."""
    versus = gains[gains["versus_none"]]
    rows = {}
    for chapter, g in versus.groupby("chapter", sort=False):
        rows[chapter] = verdict_counts(g.assign(versus_none=True))
    return pd.DataFrame.from_dict(rows, orient="index")[["clearly higher", "unclear", "clearly lower"]]


def weak_baseline_sentence(gains: pd.DataFrame) -> str:
    """Where the clear gains come from: the tuned baseline or a weak one (rows labelled 'E=')."""
    clear = gains[gains["versus_none"] & (gains["lo"] > 0)]
    weak = clear["comparison"].str.contains("E=")
    if clear.empty:
        return "No comparison shows a clear gain, against the tuned baseline or a weak one."
    if weak.all():
        return (f"Every clear gain ({len(clear)}) is measured against a weak baseline (no regularisation, a fixed "
                "number of epochs, the last epoch kept), none against the book's tuned baseline.")
    return (f"{int((~weak).sum())} of the {len(clear)} clear gains are measured against the book's tuned baseline; "
            f"{int(weak.sum())} against a weak one.")


def diagnostics_sentence(record: Mapping[str, Any], dataset: str | None = None) -> str:
    """What the synthetic pairs are, from the diagnostics chapter: how well a classifier tells LENS's
    synthetic embeddings from real ones, and how often the tuned reward model agrees with their labels."""
    import numpy as np

    described = record["numbers"]["described"]
    dataset = dataset or next(iter(described))   # default: the first dataset the chapter described
    d = described[dataset]
    parts = []
    for method in ("lens", "direct", "gaussian"):
        if method in d:
            m = d[method]
            parts.append(f"{METHOD_LABEL.get(method, method)}: two-sample accuracy {np.mean(m['two_sample_accuracy']):.2f}, "
                         f"label agreement {np.mean(m['label_agreement_synthetic']):.2f} on synthetic pairs "
                         f"(real held-out pairs: {np.mean(m['label_agreement_heldout']):.2f})")
    return f"On `{dataset}` (means over seeds; 0.5 two-sample accuracy = indistinguishable from real): " + "; ".join(parts) + "."

"""The open questions of the book (issue 9) as variant sets, and their runs as plain numbers and sentences.

Each question notebook builds its `variants.Variant` list here from a few parameters, runs it with
`variants.run_variants`, and stores per-seed values (`cells`) and paired gains (`gains_dict`) in its
result file, so the summing-up chapter can read every number from one place:

    numbers["cells"][task][variant][metric] = [value per seed, in seed order]
    numbers["gains"][task]["<a> - <b>"]    = {gain, lo, hi, sd_over_seeds, n_seeds, n_items}

Variant names are short and readable ("none", "lens@8", "weak E=3: lens@8"): the figures print them.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping

import pandas as pd

from ..variants import Variant

CONFIDENCE = 0.95


def tag(method: str, ratio: int) -> str:
    """'none' for ratio 1, else 'method@ratio'."""
    return "none" if ratio == 1 else f"{method}@{ratio}"


def unregularised(epochs: int) -> dict:
    """Reward-model overrides of the weak baseline: no dropout, no weight decay, exactly `epochs` epochs, last kept."""
    return {"reward": {"dropout": 0.0, "weight_decay": 0.0, "max_epochs": int(epochs), "early_stopping": False}}


def weak_baseline_variants(method: str, ratio: int, weak_epochs: Iterable[int]) -> list[Variant]:
    """No augmentation and `method@ratio`, with the tuned reward model (ours) and with weak ones.

    Tuned: dropout, weight decay, early stopping on held-out seed pairs (the `RewardConfig` defaults).
    Weak "E=e": unregularised, trained exactly e epochs, last epoch kept (as a paper might).
    """
    out = [Variant("tuned: none"), Variant(f"tuned: {tag(method, ratio)}", method, ratio)]
    for e in weak_epochs:
        out += [Variant(f"weak E={e}: none", config=unregularised(e)),
                Variant(f"weak E={e}: {tag(method, ratio)}", method, ratio, unregularised(e))]
    return out


def weak_baseline_pairs(method: str, ratio: int, weak_epochs: Iterable[int]) -> list[tuple[str, str]]:
    """The comparisons of the weak-baseline question: each augmented model against no augmentation
    trained the same way, and each weak no-augmentation model against the tuned one."""
    aug = tag(method, ratio)
    out = [(f"tuned: {aug}", "tuned: none")]
    out += [(f"weak E={e}: {aug}", f"weak E={e}: none") for e in weak_epochs]
    out += [(f"weak E={e}: none", "tuned: none") for e in weak_epochs]
    return out


def steps_variants(methods: Iterable[str], ratio: int, epochs: Iterable[int], epochs_full: Iterable[int],
                   steps_per_epoch: int, reward: Mapping | None = None) -> list[Variant]:
    """Data or steps: every model trained a fixed number of epochs, the last kept.

    - "none E=e" for e in `epochs`;
    - "<method>@<ratio> capped E=e" for e in `epochs`: `steps_per_epoch` steps per epoch (those of no
      augmentation), each batch drawn from the augmented set: same steps, different data;
    - "<method>@<ratio> E=e" for e in `epochs_full`: full passes over the augmented set (about
      `ratio` times the steps of "none E=e").
    `reward`: reward-model overrides shared by all (e.g. no dropout); early stopping is always off.
    """
    def cfg(e: int, cap: int | None = None) -> dict:
        return {"reward": {**dict(reward or {}), "max_epochs": int(e), "early_stopping": False,
                           "max_steps_per_epoch": cap}}
    out = [Variant(f"none E={e}", config=cfg(e)) for e in epochs]
    for m in methods:
        out += [Variant(f"{tag(m, ratio)} capped E={e}", m, ratio, cfg(e, steps_per_epoch)) for e in epochs]
        out += [Variant(f"{tag(m, ratio)} E={e}", m, ratio, cfg(e)) for e in epochs_full]
    return out


def steps_pairs(methods: Iterable[str], ratio: int, epochs: Iterable[int], epochs_full: Iterable[int]) -> list[tuple[str, str]]:
    """Comparisons of the data-or-steps question, each against no augmentation:
    equal epochs (full passes), equal steps (full passes vs `ratio` times the epochs of none, where
    that count was run), and equal steps with capped epochs."""
    epochs, out = list(epochs), []
    for m in methods:
        aug = tag(m, ratio)
        out += [(f"{aug} E={e}", f"none E={e}") for e in epochs_full if e in epochs]
        out += [(f"{aug} E={e}", f"none E={ratio * e}") for e in epochs_full if ratio * e in epochs]
        out += [(f"{aug} capped E={e}", f"none E={e}") for e in epochs]
    return out


def steps_question(methods: Iterable[str], ratio: int, epochs: Iterable[int], epochs_full: Iterable[int],
                   reward: Mapping | None = None, config: Mapping | None = None) -> Callable[[int], list[Variant]]:
    """`steps_variants` as a function of a task's number of seed pairs (for `run_tasks`): the cap is
    the steps per epoch of no augmentation on that task."""
    methods, epochs, epochs_full = list(methods), list(epochs), list(epochs_full)
    return lambda n: steps_variants(methods, ratio, epochs, epochs_full, steps_per_epoch(n, config), reward)


def steps_per_epoch(n_seed_pairs: int, config: Mapping | None = None) -> int:
    """Optimiser steps in one epoch over the training seed pairs (the validation share held out)."""
    from ..config import from_dict
    from ..experiment import ExperimentConfig, split_seed_pairs

    cfg = from_dict(ExperimentConfig, config, "config")
    n_train = len(split_seed_pairs(n_seed_pairs, cfg.val_fraction, 0)[0])
    return math.ceil(n_train / cfg.reward.batch_size)


def synthesis_variants(ratio: int, latent_dims: Iterable[int], top_ks: Iterable[int], ratios: Iterable[int],
                       decodes: Iterable[str], n_candidates: int = 16) -> list[Variant]:
    """LENS variants of the synthesis choices, all against the same no-augmentation model.

    - "latent=L": latent dimension L at `ratio` (each its own VAE);
    - "top-k=k": k of `n_candidates` candidates kept per seed embedding at `ratio`; "no filter" keeps
      the smallest k the ratio needs from exactly k candidates (nothing is filtered);
    - "ratio=r": the default LENS at ratio r;
    - "decode=name": `SynthesisConfig.decode` at `ratio`.
    The default LENS at `ratio` appears once, as "lens@ratio"; every other name that would be it is left out.
    """
    from ..synthesis import synthetic_per_side

    base = tag("lens", ratio)
    out = [Variant("none"), Variant(base, "lens", ratio)]
    add = lambda name, r, cfg: out.append(Variant(name, "lens", r, cfg))  # noqa: E731
    for d in latent_dims:
        if d != 16:
            add(f"latent={d}", ratio, {"vae": {"latent_dim": int(d)}})
    add("no filter", ratio, {"synthesis": {"n_candidates": 1}})
    for k in top_ks:
        if k != synthetic_per_side(ratio):
            add(f"top-k={k}", ratio, {"synthesis": {"top_k": int(k), "n_candidates": n_candidates}})
    for r in ratios:
        if r not in (1, ratio):
            add(f"ratio={r}", r, {})
    for name in decodes:
        if name != "generate":
            add(f"decode={name}", ratio, {"synthesis": {"decode": name}})
    return out


METRIC_LABEL = {"bon_gold": "Best-of-N gold reward", "pairwise_accuracy": "held-out pairwise accuracy"}


def primary_metrics(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """{task: (column, label)}: "bon_gold" for tasks with a gold reward, "pairwise_accuracy" for
    held-out human pairs (the metric `per_item`, and so every paired gain, is about)."""
    return {t: (m := "bon_gold" if g["bon_gold"].notna().all() else "pairwise_accuracy", METRIC_LABEL[m])
            for t, g in df.groupby("task", sort=False)}


def cells(df: pd.DataFrame, metrics: Iterable[str]) -> dict:
    """{task: {variant: {metric: [value per seed, in seed order]}}} of a `run_variants` frame."""
    out: dict = {}
    for (task, variant), g in df.sort_values("seed").groupby(["task", "variant"], sort=False):
        out.setdefault(task, {})[variant] = {m: [float(x) for x in g[m]] for m in metrics}
    return out


def gains_dict(gains: pd.DataFrame) -> dict:
    """{task: {"a - b": {gain, lo, hi, sd_over_seeds, n_seeds, n_items}}} of a `variant_gains` frame."""
    out: dict = {}
    for _, r in gains.iterrows():
        out.setdefault(r.task, {})[f"{r.a} - {r.b}"] = {
            "gain": r.gain, "lo": r.gain_ci_low, "hi": r.gain_ci_high, "sd_over_seeds": r.gain_sd_over_seeds,
            "n_seeds": int(r.n_seeds), "n_items": int(r.n_items)}
    return out


def reading(g: Mapping[str, float]) -> str:
    """'higher', 'lower' or 'no clear difference' for a gain with interval (lo, hi)."""
    return "higher" if g["lo"] > 0 else "lower" if g["hi"] < 0 else "no clear difference"


def format_gain(g: Mapping[str, float], digits: int = 3) -> str:
    """'+0.012 (95% CI -0.003 to +0.027; sd over 5 seeds 0.010)'."""
    sd = "" if math.isnan(g["sd_over_seeds"]) else f"; sd over {g['n_seeds']} seeds {g['sd_over_seeds']:.{digits}f}"
    return f"{g['gain']:+.{digits}f} ({CONFIDENCE:.0%} CI {g['lo']:+.{digits}f} to {g['hi']:+.{digits}f}{sd})"


def gains_table(gains: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The paired gains as a readable table: task, comparison, gain with interval, reading."""
    rows = [{"task": r.task, "comparison": f"{r.a}  minus  {r.b}",
             "gain (paired over test items)": format_gain(
                 {"gain": r.gain, "lo": r.gain_ci_low, "hi": r.gain_ci_high, "sd_over_seeds": r.gain_sd_over_seeds,
                  "n_seeds": int(r.n_seeds)}, digits),
             "reading": reading({"lo": r.gain_ci_low, "hi": r.gain_ci_high})} for _, r in gains.iterrows()]
    return pd.DataFrame(rows).set_index(["task", "comparison"])


def mean_sd_table(df: pd.DataFrame, metrics: Iterable[str], digits: int = 3) -> pd.DataFrame:
    """Mean ± sd over seeds of each metric, per (task, variant), in the frame's order."""
    rows = []
    for (task, variant), g in df.groupby(["task", "variant"], sort=False):
        row = {"task": task, "variant": variant, "seeds": len(g)}
        for m in metrics:
            v = g[m].astype(float)
            row[m] = ("n/a" if v.isna().all() else f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}" if len(v) > 1
                      else f"{v.mean():.{digits}f}")
        rows.append(row)
    return pd.DataFrame(rows).set_index(["task", "variant"])


def run_tasks(tasks: Iterable[str], variants: list[Variant] | Callable[[int], list[Variant]], seeds: Iterable[int], config: Mapping | None = None,
              world: Mapping | None = None, pairs: Iterable[tuple[str, str]] = ()) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """`run_variants` on every task (loaded by name), then `variant_gains` for `pairs`.

    `variants` may be a function of the task's number of seed pairs (e.g. for steps per epoch).

    Returns (runs, gains, seconds per task). A task whose data is missing is an error naming it
    before anything runs.
    """
    import time

    from ..datasets import available_tasks, load_task
    from ..io import LensInputError
    from ..variants import run_variants, variant_gains

    tasks, seeds = list(tasks), list(seeds)
    missing = [t for t in tasks if t not in available_tasks()]
    if missing:
        raise LensInputError(f"tasks {missing}: data not found on this machine (available: {available_tasks()})")
    frames, seconds = [], {}
    for t in tasks:
        start = time.perf_counter()
        task = load_task(t, world=dict(world or {}) or None)
        vs = variants(len(task.train)) if callable(variants) else variants
        frames.append(run_variants(task, vs, seeds, config))
        seconds[t] = time.perf_counter() - start
    runs = pd.concat(frames, ignore_index=True)
    pairs = list(pairs)
    return runs, (variant_gains(runs, pairs) if pairs else pd.DataFrame()), seconds


def result_numbers(runs: pd.DataFrame, gains: pd.DataFrame, metrics: Iterable[str] = ("bon_gold", "pairwise_accuracy")) -> dict:
    """`cells` and `gains` of a question, plus each variant's mean steps and epochs (what the reward model got)."""
    training = {task: {v: {"steps": float(g.steps.mean()), "epochs": float(g.epochs.mean())}
                       for v, g in d.groupby("variant", sort=False)} for task, d in runs.groupby("task", sort=False)}
    return {"cells": cells(runs, metrics), "gains": gains_dict(gains), "training": training}


def weak_baseline_sentences(gains: pd.DataFrame, method: str, ratio: int, weak_epochs: Iterable[int]) -> str:
    """The verdict of the weak-baseline question, one bullet per task, written from the gains."""
    aug, lines = tag(method, ratio), []
    for task, g in gains.groupby("task", sort=False):
        by = {(r.a, r.b): {"gain": r.gain, "lo": r.gain_ci_low, "hi": r.gain_ci_high,
                           "sd_over_seeds": r.gain_sd_over_seeds, "n_seeds": int(r.n_seeds)} for _, r in g.iterrows()}
        tuned = by[(f"tuned: {aug}", "tuned: none")]
        weak = {e: by[(f"weak E={e}: {aug}", f"weak E={e}: none")] for e in weak_epochs}
        base = {e: by[(f"weak E={e}: none", "tuned: none")] for e in weak_epochs}
        wins = [e for e, x in weak.items() if x["lo"] > 0]
        lines.append(f"- **{task}**: against the tuned baseline, {aug} minus none is {format_gain(tuned)} "
                     f"({reading(tuned)}).")
        for e in weak_epochs:
            lines.append(f"  - weak, {e} epoch{'s' if e != 1 else ''}: the weak baseline itself is {format_gain(base[e])} "
                         f"against the tuned one; {aug} minus it: {format_gain(weak[e])} ({reading(weak[e])}).")
        lines.append(f"  - LENS is clearly ahead of a weak baseline at E = {', '.join(map(str, wins))}." if wins else
                     "  - LENS is not clearly ahead of any weak baseline.")
    return "\n".join(lines)


def per_seed_gains(runs: pd.DataFrame, baseline: str = "none", metric_of: str = "per_item") -> pd.DataFrame:
    """Per (task, variant, seed): mean over test items of variant minus `baseline` on the same seed,
    beside the variant's VAE reconstruction error on held-out seed embeddings."""
    rows = []
    for task, d in runs.groupby("task", sort=False):
        base = {s: float(pd.Series(v).mean()) for s, v in d[d.variant == baseline].set_index("seed")[metric_of].items()}
        for _, r in d[d.variant != baseline].iterrows():
            rows.append({"task": task, "variant": r.variant, "seed": r.seed, "recon_heldout": r.recon_heldout,
                         "gain": float(pd.Series(r[metric_of]).mean()) - base[r.seed]})
    return pd.DataFrame(rows)


def theorem2_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run of a ratio sweep: `gap` = held-out loss minus training loss (on the augmented set the
    model was trained on), beside the losses and the held-out accuracy."""
    out = runs[["task", "variant", "ratio", "seed", "train_loss", "train_loss_real", "heldout_loss", "heldout_accuracy"]].copy()
    out["gap"] = out.heldout_loss - out.train_loss
    out["gap_real"] = out.heldout_loss - out.train_loss_real
    return out


def interval(values: Iterable[float], minus: Iterable[float] | None = None) -> dict:
    """Mean over seeds of values (minus `minus`, paired by seed) with its 95% t-interval:
    {mean, lo, hi, n}, the form the claims ledger's `interval` test reads."""
    from .ledger import paired_difference

    v = [float(x) for x in values]
    return paired_difference(v, [0.0] * len(v) if minus is None else [float(x) for x in minus])


def theory_sentences(task1: str, sigma2: float, flips: Mapping, task2: str, ratio: int, gap_change: Mapping,
                     acc_change: Mapping, flip_threshold: float) -> str:
    """The verdict lines of the theory chapter, written from its numbers ({mean, lo, hi, n} each);
    `flip_threshold`: the share of flips below which the ledger counts the order as preserved."""
    def ci(d: Mapping, pct: bool = False) -> str:
        f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:+.3f}")
        return f"{f(d['mean'])} (95% CI {f(d['lo'])} to {f(d['hi'])}, {d['n']} seeds)"
    held = ("below" if flips["hi"] < flip_threshold else "not clearly below" if flips["mean"] < flip_threshold else "above")
    gap = "shrinks" if gap_change["hi"] < 0 else "grows" if gap_change["lo"] > 0 else "does not clearly change"
    acc = "rises" if acc_change["lo"] > 0 else "falls" if acc_change["hi"] < 0 else "does not clearly change"
    return "\n".join([
        f"- **Theorem 1** ({task1}, sigma2 = {sigma2:g}, default VAE): of the synthetic pairs whose seed pair is "
        f"gold-ordered, {ci(flips, pct=True)} flip their gold order: {held} the {flip_threshold:.0%} the ledger "
        "accepts as 'order preserved'.",
        f"- **Theorem 2** ({task2}, 1x to {ratio}x): the gap between held-out and training loss {gap}, "
        f"by {ci(gap_change)}; the held-out accuracy {acc}, by {ci(acc_change)}.",
    ])


def steps_kind(a: str, b: str) -> str:
    """What a comparison of the data-or-steps question holds equal: 'equal epochs', 'equal steps'
    (full epochs against ratio x the epochs of none) or 'equal steps, capped epochs'."""
    ea, eb = int(a.rsplit("E=", 1)[1]), int(b.rsplit("E=", 1)[1])
    if " capped " in a:
        return "equal steps, capped epochs"
    return "equal epochs" if ea == eb else "equal steps (about)"


def steps_sentences(gains: pd.DataFrame) -> str:
    """The verdict lines of the data-or-steps question: per task and comparison kind, each gain and its reading."""
    lines = []
    for task, g in gains.groupby("task", sort=False):
        lines.append(f"- **{task}**:")
        for kind in ("equal epochs", "equal steps (about)", "equal steps, capped epochs"):
            rows = [r for _, r in g.iterrows() if steps_kind(r.a, r.b) == kind]
            parts = [f"{r.a} minus {r.b}: {format_gain(_gain(r))} ({reading(_gain(r))})" for r in rows]
            if parts:
                lines.append(f"  - {kind}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def _gain(r) -> dict:
    return {"gain": r.gain, "lo": r.gain_ci_low, "hi": r.gain_ci_high, "sd_over_seeds": r.gain_sd_over_seeds,
            "n_seeds": int(r.n_seeds)}


def sweep_sentences(gains: pd.DataFrame) -> str:
    """Per task: which variants beat the baseline clearly (interval above 0), the best and the worst gain."""
    lines = []
    for task, g in gains.groupby("task", sort=False):
        up = [r.a for _, r in g.iterrows() if r.gain_ci_low > 0]
        down = [r.a for _, r in g.iterrows() if r.gain_ci_high < 0]
        best, worst = g.loc[g.gain.idxmax()], g.loc[g.gain.idxmin()]
        lines.append(
            f"- **{task}**: of {len(g)} settings, {len(up)} {'is' if len(up) == 1 else 'are'} clearly above "
            f"{g.b.iloc[0]}{' (' + ', '.join(up) + ')' if up else ''} and {len(down)} clearly below"
            f"{' (' + ', '.join(down) + ')' if down else ''}. Best: {best.a}, {format_gain(_gain(best))}; "
            f"worst: {worst.a}, {format_gain(_gain(worst))}.")
    return "\n".join(lines)

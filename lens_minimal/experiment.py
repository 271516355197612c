"""One experiment = fit an augmenter on seed pairs, augment to ratio r, train the reward MLP, evaluate.

`run_one` is a single (method, ratio, seed) run; `run_grid` repeats it; `summarize` gives mean, spread
and a 95% interval over seeds. The seed controls the train/validation split of the seed pairs,
the augmenter, and the reward model's initialisation and batches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .baselines import AugmentConfig, Augmenter, make_augmenter
from .data import EmbeddingTask, PreferencePairs
from .evaluation import evaluate_reward_model, paired_gain_ci, t_halfwidth
from .io import LensInputError
from .reward import RewardConfig, train_reward_model
from .synthesis import check_ratio


@dataclass
class ExperimentConfig(AugmentConfig):
    """The augmenter's parameters (`vae`, `synthesis`, `noise_scale`, inherited) and the reward model's.

    Build it with `config.from_dict(ExperimentConfig, {...})`; the dict's nesting is the one spelling
    of every parameter (see `lens_minimal.config`).
    """
    reward: RewardConfig = field(default_factory=RewardConfig)
    val_fraction: float = 0.1     # share of seed pairs held out for early stopping (never augmented)
    best_of: int | None = None    # N of Best-of-N; None = all candidates of the test set


def split_seed_pairs(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (train, validation) row indices of n seed pairs."""
    if not 0.0 < val_fraction < 1.0:
        raise LensInputError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(10_000 + seed))
    n_val = max(1, round(val_fraction * n))
    return perm[n_val:], perm[:n_val]


def fit_on_training_split(task: EmbeddingTask, method: str, seed: int, config: ExperimentConfig | None = None,
                          progress: bool = False) -> tuple[Augmenter, PreferencePairs, PreferencePairs]:
    """The one fitting protocol: hold out `val_fraction` of the task's seed pairs (`split_seed_pairs`),
    fit the augmenter on the rest only. Returns (fitted augmenter, training seeds, validation pairs).

    `lens run` (through `run_ratios`) and `lens augment` both call this, so the validation slice that
    early-stops the reward model never feeds the augmenter on either route.
    """
    config = config or ExperimentConfig()
    train_idx, val_idx = split_seed_pairs(len(task.train), config.val_fraction, seed)
    seeds, val = task.train.subset(train_idx), task.train.subset(val_idx)
    augmenter = make_augmenter(method, config, seed=seed)
    augmenter.progress = progress
    augmenter.bind(task).fit(seeds)
    return augmenter, seeds, val


def augment_for_training(pairs: PreferencePairs, method: str, ratio: int, seed: int,
                         config: ExperimentConfig | None = None, progress: bool = False) -> PreferencePairs:
    """What `lens augment` writes: the augmented training seeds (exactly as `run_ratios` trains on them)
    followed by the validation originals, untouched; `holdout_by_seed` with the same seed and
    `val_fraction` separates the two again. Method 'none' (ratio 1) returns `pairs` unchanged."""
    if method == "none":
        if check_ratio(ratio) != 1:
            raise LensInputError(f"method 'none' is no augmentation: use ratio 1 (got {ratio})")
        return pairs
    # A pairs file has no response pool: text augmentation, which needs one, says so in `bind`.
    task = EmbeddingTask("pairs", pairs, pairs)
    augmenter, seeds, val = fit_on_training_split(task, method, seed, config, progress)
    return PreferencePairs.cat([augmenter.augment(seeds, ratio), val])


def run_ratios(task: EmbeddingTask, method: str, ratios: Iterable[int], seed: int,
               config: ExperimentConfig | None = None, per_item: bool = False) -> list[dict[str, Any]]:
    """`run_one` for several ratios, fitting the augmenter once (its fit does not depend on the ratio)."""
    config = config or ExperimentConfig()
    ratios = [check_ratio(r) for r in ratios]
    t0 = time.perf_counter()
    augmenter, seeds, val = fit_on_training_split(task, method, seed, config)
    seconds_fit = time.perf_counter() - t0
    rows = []
    for ratio in ratios:
        t1 = time.perf_counter()
        augmented = augmenter.augment(seeds, ratio)
        t2 = time.perf_counter()
        model, history = train_reward_model(augmented, val, config.reward, seed=seed)
        t3 = time.perf_counter()
        metrics = evaluate_reward_model(model, task.test, n=config.best_of, per_item=per_item)
        rows.append({
            "task": task.name, "method": method, "ratio": ratio, "seed": seed, **metrics,
            "n_train_pairs": len(augmented), "n_synthetic_pairs": int(augmented.is_synthetic.sum()),
            "epochs": len(history["val_loss"]),
            "seconds_fit": seconds_fit, "seconds_augment": t2 - t1, "seconds_train": t3 - t2,
        })
    return rows


def run_one(task: EmbeddingTask, method: str, ratio: int, seed: int, config: ExperimentConfig | None = None,
            per_item: bool = False) -> dict[str, Any]:
    """Fit the augmenter on the seed pairs, augment to `ratio`, train the reward MLP and evaluate it.

    Returns a flat dict: task, method, ratio, seed, bon_gold (+ bon_random, bon_oracle, 95% interval;
    NaN on held-out-pair tasks), pairwise_accuracy (+ interval on held-out-pair tasks),
    n_train_pairs, n_synthetic_pairs, epochs, seconds_fit/augment/train, and with `per_item` the
    per-prompt (or per-pair) scores that `paired_gains` compares.
    """
    return run_ratios(task, method, [ratio], seed, config, per_item)[0]


def run_grid(task: EmbeddingTask, methods: Iterable[str], ratios: Iterable[int], seeds: Iterable[int],
             config: ExperimentConfig | None = None, progress: bool = True, per_item: bool = False) -> pd.DataFrame:
    """`run_one` for every (method, ratio, seed); ratio 1 runs once per seed, as method 'none'.

    The augmenter of a (method, seed) is fitted once and serves every ratio (same numbers as `run_one`).
    A grid with nothing to run (e.g. only method 'none' without ratio 1) is an input error.
    """
    methods, ratios, seeds = list(methods), sorted(set(ratios)), list(seeds)
    up = [r for r in ratios if r != 1]
    jobs = [("none", [1], s) for s in seeds] if 1 in ratios else []
    jobs += [(m, up, s) for m in methods if m != "none" for s in seeds] if up else []
    if not jobs:
        raise LensInputError(
            f"nothing to run: methods {methods}, ratios {ratios}, seeds {seeds}. Ratio 1 is no augmentation "
            "(method 'none'); an augmentation method needs a ratio > 1, and at least one seed is needed")
    rows = []
    for m, rs, s in tqdm(jobs, desc=f"{task.name} grid", disable=not progress):
        rows += run_ratios(task, m, rs, s, config, per_item)
    return pd.DataFrame(rows)


def paired_gains(df: pd.DataFrame, baseline: tuple[str, int] = ("none", 1), metric_of: str = "per_item") -> pd.DataFrame:
    """Gain of every (task, method, ratio) over `baseline` (method, ratio) on the same seeds and test items.

    `df` comes from `run_grid(..., per_item=True)`. One row per (task, method, ratio) other than the
    baseline: `gain` (mean over seeds and items), its paired bootstrap 95% interval over test items
    (`evaluation.paired_gain_ci`), the spread over seeds and the counts.
    """
    if metric_of not in df.columns:
        raise LensInputError(f"paired_gains: column {metric_of!r} missing; run the grid with per_item=True")
    out = []
    for task, g in df.groupby("task", sort=False):
        base = g[(g.method == baseline[0]) & (g.ratio == baseline[1])].set_index("seed")[metric_of]
        if base.empty:
            raise LensInputError(f"paired_gains: task {task!r} has no baseline rows {baseline}")
        for (method, ratio), h in g.groupby(["method", "ratio"], sort=False):
            if (method, ratio) == tuple(baseline):
                continue
            seeds = [s for s in h.seed if s in base.index]
            a = np.stack([np.asarray(v) for v in h.set_index("seed").loc[seeds, metric_of]])
            b = np.stack([np.asarray(base.loc[s]) for s in seeds])
            out.append({"task": task, "method": method, "ratio": ratio, **paired_gain_ci(a, b)})
    return pd.DataFrame(out)


def summarize(df: pd.DataFrame, by: Iterable[str] = ("task", "method", "ratio"),
              metrics: Iterable[str] = ("bon_gold", "pairwise_accuracy")) -> pd.DataFrame:
    """Mean, standard deviation, count and t-based 95% interval of each metric over seeds."""
    out = []
    for key, g in df.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            v = g[m].to_numpy(dtype=float)
            row |= {f"{m}_mean": v.mean(), f"{m}_std": v.std(ddof=1) if len(v) > 1 else float("nan"),
                    f"{m}_ci": t_halfwidth(v), "n_seeds": len(v)}
        out.append(row)
    return pd.DataFrame(out)


def holdout_by_seed(pairs: PreferencePairs, val_fraction: float, seed: int) -> tuple[PreferencePairs, PreferencePairs]:
    """Split a pairs file for reward-model training (`lens train-rm`): (training, validation).

    Validation = the original pairs of the seeds that `split_seed_pairs` holds out; training = every
    pair whose seed is not held out (synthetic pairs of held-out seeds are dropped). On raw pairs
    (no synthetic rows, seed i in row i) both come in the order `run_ratios` uses, so `train-rm` on
    the raw file is exactly `lens run`'s ratio 1; on a file from `lens augment` (validation
    originals last) training is the augmented set exactly as `lens run` builds it.
    """
    n = len(pairs)
    if not pairs.is_synthetic.any() and torch.equal(pairs.seed_index, torch.arange(n)):
        train_idx, val_idx = split_seed_pairs(n, val_fraction, seed)
        return pairs.subset(train_idx), pairs.subset(val_idx)
    seeds = pairs.seed_index[~pairs.is_synthetic].unique()
    _, val_pos = split_seed_pairs(len(seeds), val_fraction, seed)
    held = torch.isin(pairs.seed_index, seeds[val_pos])
    return pairs.subset((~held).nonzero().squeeze(1)), pairs.subset((held & ~pairs.is_synthetic).nonzero().squeeze(1))

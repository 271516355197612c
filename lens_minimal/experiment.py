"""One experiment = fit an augmenter on seed pairs, augment to ratio r, train the reward MLP, evaluate.

`run_one` is a single (method, ratio, seed) run; `run_grid` repeats it; `summarize` gives mean, spread
and a 95% interval over seeds. The seed controls the train/validation split of the seed pairs,
the augmenter, and the reward model's initialisation and batches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .baselines import AugmentConfig, Augmenter, LensAugmenter, make_augmenter
from .config import replace_path
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
                          progress: bool = False, vae_cache: dict | None = None) -> tuple[Augmenter, PreferencePairs, PreferencePairs]:
    """The one fitting protocol: hold out `val_fraction` of the task's seed pairs (`split_seed_pairs`),
    fit the augmenter on the rest only. Returns (fitted augmenter, training seeds, validation pairs).

    `lens run` (through `run_ratios`) and `lens augment` both call this, so the validation slice that
    early-stops the reward model never feeds the augmenter on either route.

    `vae_cache` (a dict the caller keeps for ONE set of seed pairs per task name): LENS-family methods
    that would train the same VAE (same task, split, seed and VAE settings) train it once and share it;
    the numbers are those of separate fits.
    """
    config = config or ExperimentConfig()
    train_idx, val_idx = split_seed_pairs(len(task.train), config.val_fraction, seed)
    seeds, val = task.train.subset(train_idx), task.train.subset(val_idx)
    augmenter = make_augmenter(method, config, seed=seed)
    augmenter.progress = progress
    augmenter.bind(task)
    if vae_cache is not None and isinstance(augmenter, LensAugmenter):
        key = (task.name, len(task.train), config.val_fraction, seed, repr(augmenter.vae_config))
        augmenter.fit(seeds, vae_cache.get(key))
        vae_cache[key] = augmenter.vae
    else:
        augmenter.fit(seeds)
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


def _fit(task: EmbeddingTask, method: str, seed: int, config: ExperimentConfig,
         diagnose: Callable[..., dict] | None = None, vae_cache: dict | None = None,
         ) -> tuple[PreferencePairs, PreferencePairs, Augmenter, dict]:
    """`fit_on_training_split`, timed; returns (seeds, val, augmenter, extra): `extra` holds the fit time
    and what `diagnose(augmenter, seeds, task)` returns (e.g. `latent_diagnostics.diagnose_augmenter`),
    added to every row of this fit."""
    t0 = time.perf_counter()
    augmenter, seeds, val = fit_on_training_split(task, method, seed, config, vae_cache=vae_cache)
    extra = {"seconds_fit": time.perf_counter() - t0}
    if diagnose is not None:
        extra |= diagnose(augmenter, seeds, task)
    return seeds, val, augmenter, extra


def _run_fitted(task: EmbeddingTask, augmenter: Augmenter, seeds: PreferencePairs, val: PreferencePairs,
                ratio: int, seed: int, config: ExperimentConfig, per_item: bool) -> dict[str, Any]:
    """Augment with a fitted augmenter, train the reward MLP on the result and evaluate it: one row."""
    t1 = time.perf_counter()
    augmented = augmenter.augment(seeds, ratio)
    t2 = time.perf_counter()
    model, history = train_reward_model(augmented, val, config.reward, seed=seed)
    t3 = time.perf_counter()
    metrics = evaluate_reward_model(model, task.test, n=config.best_of, per_item=per_item)
    return {
        "task": task.name, "method": augmenter.name, "ratio": ratio, "seed": seed, **metrics,
        "n_train_pairs": len(augmented), "n_synthetic_pairs": int(augmented.is_synthetic.sum()),
        "epochs": len(history["val_loss"]), "seconds_augment": t2 - t1, "seconds_train": t3 - t2,
    }


def run_ratios(task: EmbeddingTask, method: str, ratios: Iterable[int], seed: int,
               config: ExperimentConfig | None = None, per_item: bool = False,
               vae_cache: dict | None = None) -> list[dict[str, Any]]:
    """`run_one` for several ratios, fitting the augmenter once (its fit does not depend on the ratio);
    `vae_cache` as in `fit_on_training_split`."""
    config = config or ExperimentConfig()
    ratios = [check_ratio(r) for r in ratios]
    seeds, val, augmenter, extra = _fit(task, method, seed, config, vae_cache=vae_cache)
    return [{**_run_fitted(task, augmenter, seeds, val, r, seed, config, per_item), **extra} for r in ratios]


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


def sweep(task: EmbeddingTask, param: str, values: Sequence[Any], seeds: Iterable[int],
          config: ExperimentConfig | None = None, *, method: str = "lens", ratio: int = 4, baseline: bool = True,
          per_item: bool = True, diagnose: Callable[..., dict] | None = None, progress: bool = False) -> pd.DataFrame:
    """`method` at `ratio` for every value of one parameter (key path, e.g. "vae.gamma", "synthesis.sigma2")
    and every seed; with `baseline`, also no augmentation (method "none", ratio 1) once per seed.

    Rows are those of `run_one` plus `param` and `value` (None on baseline rows). A parameter the fit
    does not read (anything outside the augmenter's `fit_fields`, e.g. `synthesis.*`) is served by
    one fit per seed (`Augmenter.reconfigured`: the same numbers as refitting); others refit per value.
    `diagnose(augmenter, seeds, task) -> dict` adds columns computed from each fitted augmenter.
    """
    config = config or ExperimentConfig()
    values, seeds, ratio = list(values), list(seeds), check_ratio(ratio)
    if not values:
        raise LensInputError(f"sweep over {param!r}: no values given")
    configs = [replace_path(config, param, v) for v in values]          # checks the path before anything runs
    shared = param.split(".")[0] not in make_augmenter(method).fit_fields
    rows = []
    for seed in tqdm(seeds, desc=f"{task.name} {param}", disable=not progress):
        if baseline:
            rows += [{**r, "param": param, "value": None} for r in run_ratios(task, "none", [1], seed, config, per_item)]
        fitted = _fit(task, method, seed, config, diagnose) if shared else None
        for value, cfg in zip(values, configs):
            seeds_, val, augmenter, extra = fitted or _fit(task, method, seed, cfg, diagnose)
            if shared:
                augmenter = augmenter.reconfigured(cfg)
            row = _run_fitted(task, augmenter, seeds_, val, ratio, seed, cfg, per_item)
            rows.append({**row, **extra, "param": param, "value": value})
    return pd.DataFrame(rows)


def run_task_variants(variants: Mapping[Any, EmbeddingTask], methods: Iterable[str], ratios: Iterable[int],
                 seeds: Iterable[int], config: ExperimentConfig | None = None, *, per_item: bool = True,
                 progress: bool = False) -> pd.DataFrame:
    """`run_grid` on each variant of a task (seed-size subsets, embedding layers, ...); rows get
    `value` = the variant's key, so `paired_gains(..., within=("task", "value"))` compares within each."""
    methods, ratios, seeds = list(methods), list(ratios), list(seeds)
    frames = [run_grid(task, methods, ratios, seeds, config, progress=progress, per_item=per_item).assign(value=value)
              for value, task in variants.items()]
    if not frames:
        raise LensInputError("run_task_variants: no variants given")
    return pd.concat(frames, ignore_index=True)


def paired_gains(df: pd.DataFrame, baseline: tuple | Mapping[str, Any] = ("none", 1), metric_of: str = "per_item",
                 by: Sequence[str] = ("method", "ratio"), within: Sequence[str] = ("task",)) -> pd.DataFrame:
    """Gain of every `by` cell over the `baseline` cell on the same seeds and test items, per `within` group.

    `df` comes from `run_grid(..., per_item=True)` (or `sweep`). `baseline` gives the baseline's
    values of the `by` columns, as a tuple in `by` order or a mapping {column: value} (None matches
    a missing value, as on `sweep`'s baseline rows); e.g. `sweep` output compared with the shared
    no-augmentation rows: `by=("method", "ratio", "value"), baseline={"method": "none"}`; one
    baseline per seed-size subset: `within=("task", "value")`. One row per `within` group and `by`
    cell other than the baseline: `gain` (mean over seeds and items), its paired bootstrap 95%
    interval over test items (`evaluation.paired_gain_ci`), the spread over seeds and the counts.
    """
    if metric_of not in df.columns:
        raise LensInputError(f"paired_gains: column {metric_of!r} missing; run the grid with per_item=True")
    by, within = list(by), list(within)
    base_of = dict(baseline) if isinstance(baseline, Mapping) else dict(zip(by, baseline))
    unknown = sorted(set(base_of) - set(by))
    if unknown:
        raise LensInputError(f"paired_gains: baseline names column(s) {unknown} outside by={by}")
    out = []
    for group, g in df.groupby(within, sort=False, dropna=False):
        where = dict(zip(within, group if isinstance(group, tuple) else (group,)))
        is_base = np.logical_and.reduce([g[k].isna() if v is None else g[k].eq(v) for k, v in base_of.items()])
        base = g[is_base].set_index("seed")[metric_of]
        if base.empty or base.index.duplicated().any():
            raise LensInputError(f"paired_gains: {where} needs exactly one baseline row {base_of} per seed, "
                                 f"found {len(base)} rows for seeds {sorted(set(base.index))}")
        for key, h in g[~is_base].groupby(by, sort=False, dropna=False):
            seeds = [s for s in h.seed if s in base.index]
            a = np.stack([np.asarray(v) for v in h.set_index("seed").loc[seeds, metric_of]])
            b = np.stack([np.asarray(base.loc[s]) for s in seeds])
            cell = dict(zip(by, key if isinstance(key, tuple) else (key,)))
            out.append({**where, **{k: (None if pd.isna(v) else v) for k, v in cell.items()}, **paired_gain_ci(a, b)})
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

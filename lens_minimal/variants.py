"""Named variants of one experiment, run on the same seeds so that any two can be compared pairwise.

A `Variant` is (method, ratio, config overrides): "LENS at 8x with an unregularised reward model",
"no augmentation trained for 80 epochs", "LENS at 8x with the residual decode". `run_variants`
runs every variant on every seed with the same seed-pair split and reward-model seed as
`experiment.run_one`, and fits each augmenter once per seed for all variants that share it
(the fit of a VAE method depends only on `config.vae`; augmenting reads the variant's
`synthesis` and `noise_scale`). So one VAE per seed serves every sigma2, top-k, decode and ratio
variant, and a variant with the default config gives exactly the numbers of `run_one`.

Beside the metrics of `evaluation.evaluate_reward_model` each row holds what the open questions
and the theory checks read: optimiser steps, the loss on the training set (augmented and real
pairs only), the loss on held-out gold-ordered test pairs, and the VAE's reconstruction error on
held-out seed embeddings. `variant_gains` compares variants pairwise over test items.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .baselines import Augmenter, make_augmenter
from .config import from_dict
from .data import BestOfNSet, EmbeddingTask, PreferencePairs
from .evaluation import evaluate_reward_model, paired_gain_ci
from .experiment import ExperimentConfig, split_seed_pairs
from .io import LensInputError
from .reward import RewardMLP, evaluate_pairs, train_reward_model
from .synthesis import check_ratio


@dataclass
class Variant:
    """One cell of an ablation: `method` at `ratio`, with `config` overrides of the base config."""

    name: str
    method: str = "none"
    ratio: int = 1
    config: dict = field(default_factory=dict)   # nested ExperimentConfig overrides, e.g. {"reward": {"dropout": 0}}

    def __post_init__(self) -> None:
        check_ratio(self.ratio)
        if (self.method == "none") != (self.ratio == 1):
            raise LensInputError(f"variant {self.name!r}: ratio 1 is method 'none' and method 'none' is ratio 1, "
                                 f"got method {self.method!r} at ratio {self.ratio}")


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict:
    """`base` with `over` written on top, recursing into nested dicts (neither is modified)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
    return out


def pairwise_loss(scores: torch.Tensor, gold: torch.Tensor) -> tuple[float, float]:
    """(Bradley-Terry loss, accuracy) over all within-prompt pairs with distinct gold, ordered by gold.

    scores, gold: (P, N). The held-out counterpart of the training loss (Theorem 2): same loss,
    real pairs the model never saw. Ties in score count as half right.
    """
    i, j = torch.triu_indices(gold.shape[1], gold.shape[1], offset=1)
    dg, ds = gold[:, i] - gold[:, j], scores[:, i] - scores[:, j]           # (P, C)
    keep = dg != 0
    margin = (torch.sign(dg) * ds)[keep]                                      # chosen minus rejected
    acc = ((margin > 0).float() + 0.5 * (margin == 0).float()).mean().item()
    return -F.logsigmoid(margin).mean().item(), acc


@torch.no_grad()
def heldout_loss(model: RewardMLP, test: BestOfNSet | PreferencePairs) -> tuple[float, float]:
    """(loss, accuracy) on held-out real pairs: gold-ordered test pairs, or the held-out human pairs."""
    if isinstance(test, PreferencePairs):
        return evaluate_pairs(model, test)
    return pairwise_loss(model.score(test.embeddings), test.gold)


@torch.no_grad()
def reconstruction_error(augmenter: Augmenter, e: torch.Tensor) -> float:
    """Mean squared error of g(mu(e)) against e in the VAE's standardised space (NaN without a VAE).

    Per dimension and embedding, as in the VAE's training loss; e (n, d) should be held out."""
    vae = getattr(augmenter, "vae", None)
    if vae is None:
        return float("nan")
    x = (e - vae.center) / vae.scale
    return F.mse_loss(vae.decode_standardized(vae.encode(e)[0]), x).item()


def _fit_key(method: str, cfg: ExperimentConfig, seed: int) -> str:
    """What an augmenter's fit depends on: method, seed, split and, for VAE methods, the VAE's config."""
    return json.dumps([method, seed, cfg.val_fraction, asdict(cfg.vae)], sort_keys=True)


def fit_augmenter(task: EmbeddingTask, method: str, cfg: ExperimentConfig, seed: int,
                  cache: dict | None = None) -> tuple[Augmenter, float, PreferencePairs, PreferencePairs]:
    """(augmenter fitted on the seed pairs of `seed`'s split, seconds the fit took, seed pairs, validation pairs).

    The split and the fit are those of `experiment.run_one`. With a `cache` dict, a fit that was
    done before for the same (method, seed, split, VAE config) is reused (its seconds are reported
    again); its `config` is set to `cfg`, so augmenting reads this call's synthesis parameters.
    """
    train_idx, val_idx = split_seed_pairs(len(task.train), cfg.val_fraction, seed)
    seed_pairs, val = task.train.subset(train_idx), task.train.subset(val_idx)
    cache = {} if cache is None else cache
    key = f"{task.name}|{_fit_key(method, cfg, seed)}"
    if key not in cache:
        t0 = time.perf_counter()
        cache[key] = (make_augmenter(method, cfg, seed=seed).fit(seed_pairs), time.perf_counter() - t0)
    augmenter, seconds = cache[key]
    augmenter.config = cfg
    return augmenter, seconds, seed_pairs, val


def run_variants(task: EmbeddingTask, variants: Iterable[Variant], seeds: Iterable[int],
                 base_config: Mapping[str, Any] | None = None, progress: bool = False,
                 keep: bool = False, cache: dict | None = None) -> pd.DataFrame:
    """Every variant on every seed; one row each (see the module docstring for the columns).

    `keep=True` adds the objects of each run (`augmenter`, `augmented`, `model`, `seeds`, `val`)
    for diagnostics; they are not plain data, so drop them before saving. `cache` (a dict) shares
    fitted augmenters with other calls on the same task (see `fit_augmenter`).
    """
    variants = list(variants)
    names = [v.name for v in variants]
    if not variants or len(set(names)) != len(names):
        raise LensInputError(f"run_variants: need at least one variant and unique names, got {names}")
    configs = {v.name: from_dict(ExperimentConfig, deep_merge(base_config or {}, v.config), f"variant {v.name}.config")
               for v in variants}
    cache = {} if cache is None else cache
    rows = []
    for seed in tqdm(list(seeds), desc=f"{task.name} variants", disable=not progress):
        for v in variants:
            augmenter, seconds_fit, seed_pairs, val = fit_augmenter(task, v.method, configs[v.name], seed, cache)
            rows.append(_run_variant(task, v, seed, configs[v.name], augmenter, seconds_fit, seed_pairs, val, keep))
    return pd.DataFrame(rows)


def _run_variant(task, v: Variant, seed: int, cfg: ExperimentConfig, augmenter: Augmenter, seconds_fit: float,
                 seed_pairs: PreferencePairs, val: PreferencePairs, keep: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    augmented = augmenter.augment(seed_pairs, v.ratio)
    t1 = time.perf_counter()
    model, history = train_reward_model(augmented, val, cfg.reward, seed=seed)
    t2 = time.perf_counter()
    kept = history["kept_epoch"][0]
    train_loss, train_acc = evaluate_pairs(model, augmented)
    real = augmented.subset((~augmented.is_synthetic).nonzero().squeeze(1))
    real_loss, _ = evaluate_pairs(model, real)
    held_loss, held_acc = heldout_loss(model, task.test)
    row = {
        "task": task.name, "variant": v.name, "method": v.method, "ratio": v.ratio, "seed": seed,
        **evaluate_reward_model(model, task.test, n=cfg.best_of, per_item=True),
        "n_train_pairs": len(augmented), "epochs": kept, "epochs_run": len(history["val_loss"]),
        "steps": history["steps"][kept - 1],
        "train_loss": train_loss, "train_accuracy": train_acc, "train_loss_real": real_loss,
        "heldout_loss": held_loss, "heldout_accuracy": held_acc,
        "recon_heldout": reconstruction_error(augmenter, torch.cat([val.e_chosen, val.e_rejected])),
        "seconds_fit": seconds_fit, "seconds_augment": t1 - t0, "seconds_train": t2 - t1,
    }
    if keep:
        row |= {"augmenter": augmenter, "augmented": augmented, "model": model, "seeds": seed_pairs, "val": val}
    return row


def variant_gains(df: pd.DataFrame, pairs: Iterable[tuple[str, str]], metric_of: str = "per_item") -> pd.DataFrame:
    """Gain of variant a over variant b, per task, paired over seeds and test items.

    `pairs`: (a, b) variant names. One row per (task, a, b) with `gain`, its paired bootstrap 95%
    interval over test items (`evaluation.paired_gain_ci`), the spread over seeds and the counts.
    """
    out = []
    for task, g in df.groupby("task", sort=False):
        by = {name: h.set_index("seed")[metric_of] for name, h in g.groupby("variant", sort=False)}
        for a, b in pairs:
            if a not in by or b not in by:
                raise LensInputError(f"variant_gains: task {task!r} has no rows of variant {a if a not in by else b!r}")
            seeds = [s for s in by[a].index if s in by[b].index]
            xa = np.stack([np.asarray(by[a][s]) for s in seeds])
            xb = np.stack([np.asarray(by[b][s]) for s in seeds])
            out.append({"task": task, "a": a, "b": b, **paired_gain_ci(xa, xb)})
    return pd.DataFrame(out)


"""Checks of the paper's two theorems (paper, Theory) on tasks with a gold reward.

Theorem 1 (order preservation): a synthetic pair built from seed pair (e+, e-) keeps the seed's
order under the optimal reward, up to an error bounded by the noise level sigma2 and the VAE's
reconstruction error. We measure the share of synthetic pairs whose gold rewards are ordered as
their label says, against sigma2 and against the VAE's reconstruction error on held-out seed
embeddings. The gold reward of a synthetic *embedding* needs a map from embeddings to gold:

- synthetic world: the world's own gold reward of the MAP response behind the embedding
  (`SyntheticWorld.gold_of_embeddings`); exact up to that inversion, whose accuracy on real
  test embeddings is reported beside it;
- gold-program tasks: a `GoldProbe`, a ridge regression of the gold reward on every gold-scored
  training response (seed pairs and pool). A proxy: it orders real test pairs only as well as
  its own fit allows, and it shares the embedding's blind spots with the reward model.

Theorem 2 (generalisation): the estimation-error bound tightens with the size of the augmented
set. `variants.run_variants` records the training loss and the loss on held-out real pairs for
every ratio; the notebook plots their difference and the held-out accuracy against the ratio.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import pandas as pd
import torch

from .config import from_dict
from .data import BestOfNSet, EmbeddingTask, PreferencePairs
from .evaluation import pairwise_accuracy
from .experiment import ExperimentConfig
from .io import LensInputError
from .variants import deep_merge, fit_augmenter, reconstruction_error
from .worlds.synthetic import SyntheticWorld, SyntheticWorldConfig

GoldFn = Callable[[torch.Tensor], torch.Tensor]    # embeddings (n, d) -> gold estimates (n,)


@dataclass
class GoldProbe:
    """Ridge regression gold ~ w . (e - center) / scale + b, ridge weight chosen by cross-validation."""

    center: torch.Tensor   # (d,)
    scale: torch.Tensor    # (d,)
    weight: torch.Tensor   # (d,)
    bias: float
    alpha: float

    @classmethod
    def fit(cls, e: torch.Tensor, gold: torch.Tensor, alphas: Iterable[float] = (1.0, 10.0, 100.0, 1000.0, 10000.0),
            folds: int = 5, seed: int = 0) -> "GoldProbe":
        """Fit on embeddings e (n, d) and gold (n,); alpha = lowest mean squared error over `folds` folds."""
        if e.ndim != 2 or gold.shape != (e.shape[0],) or len(e) < 2 * folds:
            raise LensInputError(f"GoldProbe.fit: need e (n, d) and gold (n,) with n >= {2 * folds}, "
                                 f"got {tuple(e.shape)} and {tuple(gold.shape)}")
        fold = torch.randperm(len(e), generator=torch.Generator().manual_seed(seed)) % folds
        errors = {}
        for a in alphas:
            errors[a] = sum(((cls._solve(e[fold != f], gold[fold != f], a)(e[fold == f]) - gold[fold == f]) ** 2).sum().item()
                            for f in range(folds))
        best = min(errors, key=errors.get)
        return cls._solve(e, gold, best)

    @classmethod
    def _solve(cls, e: torch.Tensor, gold: torch.Tensor, alpha: float) -> "GoldProbe":
        center, scale = e.mean(0), e.std(0).clamp_min(1e-6)
        x, y = (e - center) / scale, gold - gold.mean()
        w = torch.linalg.solve(x.T @ x + alpha * torch.eye(x.shape[1]), x.T @ y)
        return cls(center, scale, w, gold.mean().item(), float(alpha))

    def __call__(self, e: torch.Tensor) -> torch.Tensor:
        """Gold estimates of embeddings e (..., d). -> (...)"""
        return ((e - self.center) / self.scale) @ self.weight + self.bias


def gold_scored_responses(task: EmbeddingTask) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training response with a gold reward: seed chosen, seed rejected, pool. -> (n, d), (n,)"""
    info = task.info
    if "gold_chosen" not in info or task.pool_embeddings is None or task.pool_gold is None:
        raise LensInputError(f"task {task.name!r}: no gold rewards of its training responses (needs a gold-program task)")
    e = torch.cat([task.train.e_chosen, task.train.e_rejected, task.pool_embeddings.reshape(-1, task.dim)])
    gold = torch.cat([torch.tensor(info["gold_chosen"]), torch.tensor(info["gold_rejected"]), task.pool_gold.reshape(-1)])
    return e, gold.float()


def probe_fit(gold_fn: GoldFn, test: BestOfNSet) -> dict[str, float]:
    """How well `gold_fn` reproduces the test set's gold: R^2, correlation and within-prompt pairwise accuracy."""
    pred, gold = gold_fn(test.embeddings.reshape(-1, test.embeddings.shape[-1])).reshape(test.gold.shape), test.gold
    r2 = 1 - ((pred - gold) ** 2).mean() / gold.var(unbiased=False)
    corr = torch.corrcoef(torch.stack([pred.reshape(-1), gold.reshape(-1)]))[0, 1]
    return {"r2": r2.item(), "correlation": corr.item(), "pairwise_accuracy": pairwise_accuracy(pred, gold)}


def gold_function(task: EmbeddingTask) -> tuple[GoldFn, dict]:
    """The map from embeddings to gold used for Theorem 1, and its own fit on the test set.

    Synthetic world: the world's inversion ("world"); gold-program tasks: a `GoldProbe` ("probe").
    """
    if not isinstance(task.test, BestOfNSet):
        raise LensInputError(f"task {task.name!r} has no gold reward: Theorem 1 needs a gold-program task or the synthetic world")
    if task.name == "synthetic" and "world" in task.info:
        world = SyntheticWorld(from_dict(SyntheticWorldConfig, task.info["world"], "task.info.world"))
        fn, kind, extra = world.gold_of_embeddings, "world", {}
    else:
        e, gold = gold_scored_responses(task)
        probe = GoldProbe.fit(e, gold)
        fn, kind, extra = probe, "probe", {"alpha": probe.alpha, "n_fit": len(e)}
    with torch.no_grad():
        return fn, {"kind": kind, **extra, **probe_fit(fn, task.test)}


@torch.no_grad()
def order_agreement(gold_fn: GoldFn, pairs: PreferencePairs) -> torch.Tensor:
    """Per pair: 1 if gold(chosen) > gold(rejected), 0 if lower, 0.5 on a tie. (n,)"""
    diff = gold_fn(pairs.e_chosen) - gold_fn(pairs.e_rejected)
    return (diff > 0).float() + 0.5 * (diff == 0).float()


def theorem1(task: EmbeddingTask, gold_fn: GoldFn, seeds: Iterable[int], sigma2s: Iterable[float],
             vae_variants: Mapping[str, Mapping], base_config: Mapping | None = None, ratio: int = 8,
             max_pairs: int = 500, cache: dict | None = None) -> pd.DataFrame:
    """Order agreement of LENS's synthetic pairs with the gold reward, per (seed, VAE variant, sigma2).

    `vae_variants`: name -> VAEConfig overrides (e.g. fewer epochs: a larger reconstruction error).
    Per row: `recon_heldout` (VAE reconstruction error on held-out seed embeddings),
    `agreement_real` (the seed pairs themselves, as labelled), `agreement_synthetic` (up to
    `max_pairs` random synthetic pairs) and `agreement_synthetic_given_real` (those whose seed pair
    is itself gold-ordered: the synthesis's own error, without label noise or probe error on the seed).
    """
    rows, cache = [], {} if cache is None else cache     # one VAE fit per (seed, VAE variant) serves every sigma2
    for seed in seeds:
        real_ok = None
        for name, vae in vae_variants.items():
            for sigma2 in sigma2s:
                over = deep_merge(base_config or {}, {"vae": dict(vae), "synthesis": {"sigma2": float(sigma2)}})
                cfg = from_dict(ExperimentConfig, over, f"vae_variants.{name}")
                augmenter, _, seed_pairs, val = fit_augmenter(task, "lens", cfg, seed, cache)
                if real_ok is None:
                    real_ok = order_agreement(gold_fn, seed_pairs)                      # (N,) in seed-pair order
                aug = augmenter.augment(seed_pairs, ratio)
                syn = aug.is_synthetic.nonzero().squeeze(1)
                pick = syn[torch.randperm(len(syn), generator=torch.Generator().manual_seed(seed))[:max_pairs]]
                agree = order_agreement(gold_fn, aug.subset(pick))
                position = torch.full((int(seed_pairs.seed_index.max()) + 1,), -1, dtype=torch.long)
                position[seed_pairs.seed_index] = torch.arange(len(seed_pairs))
                given = real_ok[position[aug.seed_index[pick]]] == 1                  # its seed pair is gold-ordered
                rows.append({
                    "task": task.name, "seed": seed, "vae": name, "sigma2": float(sigma2),
                    "recon_heldout": reconstruction_error(augmenter, torch.cat([val.e_chosen, val.e_rejected])),
                    "agreement_real": real_ok.mean().item(), "agreement_synthetic": agree.mean().item(),
                    "agreement_synthetic_given_real": agree[given].mean().item(), "n_pairs": len(pick),
                })
    return pd.DataFrame(rows)

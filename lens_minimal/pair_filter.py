"""Selecting synthetic pairs close to the real preference data.

Two filters, each keeping the `n_keep` best of an over-generated set of synthetic pairs (the
originals are always kept):

- `ot`: in the spirit of RoVRM (arXiv 2408.12109), which uses optimal transport to decide which
  pairs of another distribution to trust. A pair is the feature vector [e+, e-] (standardised by
  the seed statistics); an entropic optimal-transport plan P between the synthetic pairs and the
  real seed pairs (uniform marginals, Sinkhorn in the log domain) gives each synthetic pair its
  transport cost c_i = sum_j P_ij C_ij / sum_j P_ij; the pairs of lowest cost are kept. Unlike a
  nearest-neighbour distance, every real pair must receive its share of mass, so synthetic pairs
  crowding around a few real pairs cost more.
- `agree`: in the spirit of LRHP (arXiv 2410.04503), which selects preference data with a learned
  preference representation: a reward model trained on the seed pairs alone scores each synthetic
  pair; the pairs it orders as labelled with the largest margin r(e+) - r(e-) are kept.

(Ideas only; no code of either paper is used.)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import PreferencePairs
from .io import LensInputError


@dataclass
class FilterConfig:
    oversample: int = 2           # candidate synthetic pairs generated per pair kept
    ot_epsilon: float = 0.1       # entropic regularisation, as a fraction of the median cost
    ot_iterations: int = 50       # Sinkhorn iterations

    def __post_init__(self) -> None:
        if self.oversample < 1 or self.ot_iterations < 1 or self.ot_epsilon <= 0:
            raise LensInputError("FilterConfig: oversample and ot_iterations must be >= 1, ot_epsilon > 0")


def pair_features(pairs: PreferencePairs, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """[standardised e+, standardised e-] per pair. -> (n, 2d)"""
    return torch.cat([(pairs.e_chosen - center) / scale, (pairs.e_rejected - center) / scale], dim=1)


def sinkhorn_log(cost: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Entropic OT plan with uniform marginals for a cost matrix (m, n); log-domain Sinkhorn. -> (m, n)"""
    m, n = cost.shape
    log_a, log_b = torch.full((m,), -torch.log(torch.tensor(float(m)))), torch.full((n,), -torch.log(torch.tensor(float(n))))
    kernel = -cost / epsilon
    f, g = torch.zeros(m), torch.zeros(n)
    for _ in range(iterations):
        f = log_a - torch.logsumexp(kernel + g.unsqueeze(0), dim=1)
        g = log_b - torch.logsumexp(kernel + f.unsqueeze(1), dim=0)
    return (kernel + f.unsqueeze(1) + g.unsqueeze(0)).exp()


@torch.no_grad()
def ot_costs(synthetic: torch.Tensor, real: torch.Tensor, epsilon: float = 0.1, iterations: int = 50) -> torch.Tensor:
    """Transport cost of each synthetic feature row to the real rows. (m, D), (n, D) -> (m,)

    Cost = squared Euclidean distance / D; `epsilon` is relative to the median cost.
    """
    cost = torch.cdist(synthetic, real).pow(2) / synthetic.shape[1]      # (m, n)
    plan = sinkhorn_log(cost, epsilon * cost.median().clamp_min(1e-12).item(), iterations)
    return (plan * cost).sum(1) / plan.sum(1).clamp_min(1e-30)


def keep_synthetic(pairs: PreferencePairs, score: torch.Tensor, n_keep: int) -> PreferencePairs:
    """The original pairs of `pairs` followed by the `n_keep` synthetic ones of LOWEST `score` (one per synthetic row).

    Ties are broken by position (stable), so the result is deterministic.
    """
    synth = pairs.is_synthetic.nonzero().squeeze(1)
    if score.shape != synth.shape:
        raise LensInputError(f"keep_synthetic: {len(synth)} synthetic pairs but {len(score)} scores")
    if not 0 <= n_keep <= len(synth):
        raise LensInputError(f"keep_synthetic: cannot keep {n_keep} of {len(synth)} synthetic pairs")
    order = torch.sort(score, stable=True).indices[:n_keep]
    keep = torch.cat([(~pairs.is_synthetic).nonzero().squeeze(1), synth[order.sort().values]])
    return pairs.subset(keep)


def ot_filter(pairs: PreferencePairs, real: PreferencePairs, n_keep: int, config: FilterConfig | None = None) -> PreferencePairs:
    """Keep the `n_keep` synthetic pairs of lowest OT cost to the real pairs `real` (the originals stay)."""
    config = config or FilterConfig()
    e = torch.cat([real.e_chosen, real.e_rejected])
    center, scale = e.mean(0), e.std(0).clamp_min(1e-6)
    synth = pairs.subset(pairs.is_synthetic.nonzero().squeeze(1))
    cost = ot_costs(pair_features(synth, center, scale), pair_features(real, center, scale),
                    config.ot_epsilon, config.ot_iterations)
    return keep_synthetic(pairs, cost, n_keep)


def agreement_filter(pairs: PreferencePairs, score_fn, n_keep: int) -> PreferencePairs:
    """Keep the `n_keep` synthetic pairs with the largest margin score_fn(e+) - score_fn(e-) (the originals stay).

    `score_fn`: embeddings (n, d) -> rewards (n,), e.g. `RewardMLP.score` of a seed-only reward model.
    """
    synth = pairs.is_synthetic
    margin = score_fn(pairs.e_chosen[synth]) - score_fn(pairs.e_rejected[synth])
    return keep_synthetic(pairs, -margin, n_keep)

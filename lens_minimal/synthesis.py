"""Latent-space synthesis of preference pairs (paper, Method step 3).

For each seed pair i and each side s in {+, -}:
    z_i^s = mu_phi(e_i^s)                              (posterior mean of the seed embedding)
    z_ij^s = z_i^s + eta_ij,  eta_ij ~ N(0, sigma2 I)  (n_candidates candidates, j = 1..M)
keep the top_k candidates by likelihood, decode them, e_hat_ij^s = g_theta(z_ij^s), and pair
combinatorially within the seed pair: {e_i+} u {e_hat_ij+} x {e_i-} u {e_hat_ij-}.

Choices the paper leaves open:
- "likelihood" of a candidate is its log-density under the seed's own posterior
  q_phi(z | e_i^s) = N(mu, diag sigma^2) (`filter_likelihood="posterior"`): candidates the encoder
  still attributes to the seed are kept; `"prior"` ranks by log N(z; 0, I) instead.
- How a kept latent becomes an embedding (`decode`): the paper's `"generate"`, e_hat = g(z + eta),
  replaces the seed by the decoder's output, so every synthetic embedding carries the VAE's
  reconstruction error (the part of e a 16-dimensional latent cannot hold). `"residual"`,
      e_hat = e + g(z + eta) - g(z),
  moves the seed itself by the decoded change: the seed's own detail is kept, and with eta = 0
  the synthetic embedding is the seed exactly. (Our option, not the paper's; see the open questions.)
- A ratio r means the augmented set holds exactly r * N pairs, the N originals included, so each
  seed pair contributes r - 1 synthetic pairs drawn without replacement from its (k+1)^2 - 1
  combinations. The original pair itself is never duplicated. Ratio 1 is no augmentation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .data import PreferencePairs
from .io import LensInputError
from .vae import PreferenceVAE


@dataclass
class SynthesisConfig:
    sigma2: float = 0.01                  # variance of the latent perturbation (paper's best: 0.01)
    n_candidates: int = 16                # candidates drawn per seed embedding before filtering
    top_k: int | None = None              # kept per seed embedding; None = smallest k with (k+1)^2 - 1 >= r - 1
    filter_likelihood: str = "posterior"  # "posterior" (seed's q(z|e)) or "prior" (N(0, I))
    decode: str = "generate"              # "generate": g(z + eta) (paper); "residual": e + g(z + eta) - g(z)

    def __post_init__(self) -> None:
        if self.sigma2 < 0:
            raise LensInputError(f"SynthesisConfig.sigma2 must be >= 0, got {self.sigma2}")
        if self.filter_likelihood not in ("posterior", "prior"):
            raise LensInputError(
                f"SynthesisConfig.filter_likelihood must be 'posterior' or 'prior', got {self.filter_likelihood!r}"
            )
        if self.decode not in ("generate", "residual"):
            raise LensInputError(f"SynthesisConfig.decode must be 'generate' or 'residual', got {self.decode!r}")
        if self.n_candidates < 1:
            raise LensInputError(f"SynthesisConfig.n_candidates must be >= 1, got {self.n_candidates}")


def check_ratio(ratio: int) -> int:
    if int(ratio) != ratio or ratio < 1:
        raise LensInputError(f"ratio must be a whole number >= 1, got {ratio}")
    return int(ratio)


def synthetic_per_side(ratio: int, top_k: int | None = None) -> int:
    """Synthetic embeddings needed per side so that (k+1)^2 - 1 >= ratio - 1 combinations exist."""
    k_min = math.ceil(math.sqrt(ratio)) - 1
    if top_k is None:
        return k_min
    if top_k < k_min:
        raise LensInputError(f"top_k={top_k} gives only {(top_k + 1) ** 2 - 1} synthetic pairs per seed; ratio {ratio} needs {ratio - 1}")
    return top_k


def combinatorial_pairs(
    pos: torch.Tensor, neg: torch.Tensor, ratio: int, generator: torch.Generator,
) -> PreferencePairs:
    """Pair every positive with every negative of the same seed pair; keep r - 1 per seed.

    pos, neg: (N, k+1, d), slot 0 holding the original embedding. Returns the N originals followed by
    N * (r - 1) synthetic pairs, each tagged with its seed index; chosen always comes from `pos`.
    """
    n, k1, d = pos.shape
    extra = check_ratio(ratio) - 1
    combos = torch.cartesian_prod(torch.arange(k1), torch.arange(neg.shape[1]))[1:]   # (C, 2), (0, 0) dropped
    if extra > len(combos):
        raise LensInputError(f"ratio {ratio} needs {extra} synthetic pairs per seed but only {len(combos)} combinations exist")
    originals = PreferencePairs(pos[:, 0], neg[:, 0])
    if extra == 0:
        return originals
    pick = torch.stack([torch.randperm(len(combos), generator=generator)[:extra] for _ in range(n)])  # (N, r-1)
    ij = combos[pick]                                                  # (N, r-1, 2)
    rows = torch.arange(n).unsqueeze(1).expand(-1, extra)              # (N, r-1)
    chosen = pos[rows, ij[..., 0]].reshape(-1, d)
    rejected = neg[rows, ij[..., 1]].reshape(-1, d)
    return PreferencePairs(
        torch.cat([originals.e_chosen, chosen]),
        torch.cat([originals.e_rejected, rejected]),
        seed_index=torch.cat([torch.arange(n), rows.reshape(-1)]),
        is_synthetic=torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n * extra, dtype=torch.bool)]),
    )


def topk_by_likelihood(candidates: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int, likelihood: str) -> torch.Tensor:
    """Keep the k candidates of highest log-density. candidates (n, M, latent), mu/logvar (n, latent) -> (n, k, latent)

    `likelihood="posterior"` scores under N(mu, diag exp(logvar)); `"prior"` under N(0, I).
    (Constants shared by all candidates of a row are dropped: only the ranking matters.)
    """
    if likelihood == "posterior":
        score = -0.5 * ((candidates - mu.unsqueeze(1)).pow(2) / logvar.exp().unsqueeze(1)).sum(-1)
    else:
        score = -0.5 * candidates.pow(2).sum(-1)
    idx = score.topk(k, dim=1).indices                                  # (n, k), highest first
    return candidates.gather(1, idx.unsqueeze(-1).expand(-1, -1, candidates.shape[-1]))


@torch.no_grad()
def synthesize_side(vae: PreferenceVAE, e: torch.Tensor, k: int, config: SynthesisConfig, generator: torch.Generator) -> torch.Tensor:
    """k synthetic embeddings around each seed embedding: (n, d) -> (n, k, d).

    z = mu(e); M = max(n_candidates, k) candidates z + eta; the k most likely are decoded as
    g(z + eta) (`decode="generate"`) or e + g(z + eta) - g(z) (`decode="residual"`).
    """
    mu, logvar = vae.encode(e)
    m = max(config.n_candidates, k)
    eta = torch.randn((e.shape[0], m, mu.shape[1]), generator=generator) * math.sqrt(config.sigma2)
    kept = topk_by_likelihood(mu.unsqueeze(1) + eta, mu, logvar, k, config.filter_likelihood)
    decoded = vae.decode(kept.reshape(-1, mu.shape[1])).reshape(e.shape[0], k, -1)     # (n, k, d)
    if config.decode == "residual":
        decoded = e.unsqueeze(1) + decoded - vae.decode(mu).unsqueeze(1)
    return decoded


def synthesize(
    vae: PreferenceVAE, seeds: PreferencePairs, ratio: int, config: SynthesisConfig | None = None, seed: int = 0,
) -> PreferencePairs:
    """The LENS augmented set: the N seed pairs plus N * (ratio - 1) latent-synthesised pairs."""
    config = config or SynthesisConfig()
    ratio = check_ratio(ratio)
    if ratio == 1:
        return seeds
    gen = torch.Generator().manual_seed(seed)
    k = synthetic_per_side(ratio, config.top_k)
    pos = torch.cat([seeds.e_chosen.unsqueeze(1), synthesize_side(vae, seeds.e_chosen, k, config, gen)], dim=1)
    neg = torch.cat([seeds.e_rejected.unsqueeze(1), synthesize_side(vae, seeds.e_rejected, k, config, gen)], dim=1)
    return combinatorial_pairs(pos, neg, ratio, gen)

"""Preference-aware latent perturbation: LENS noise shaped by each pair's own preference direction.

LENS (paper, Method step 3) perturbs every seed latent isotropically, z + eta with eta ~ N(0, sigma2 I).
With the divergence term (Eq. of L_div in `vae`), the chosen and rejected posteriors of a pair are
pushed apart, so the pair's latent difference

    u_i = (mu(e_i+) - mu(e_i-)) / ||mu(e_i+) - mu(e_i-)||                      (n, latent)

is the direction that carries its preference. Two shapes of noise use it (our construction, suggested
by issue 11 of this companion; no published method is copied):

- `orthogonal`: eta - (eta . u_i) u_i. Each side moves only in directions that leave the pair's
  contrast along u_i unchanged, so a synthetic pair is meant to be exactly as clearly ordered as its
  seed. The kept share of the noise energy is (latent - 1) / latent.
- `along`:      +|a| u_i for the chosen side, -|a| u_i for the rejected side, a ~ N(0, latent * sigma2)
  (the same expected squared length as isotropic noise). Synthetic pairs are *more* contrasting
  than their seed: the label cannot flip if u_i is the preference direction, but the pairs are easy.
  LENS's likelihood filter is not applied here: on a one-dimensional step it would keep only the
  shortest steps, i.e. near copies of the seed.

Then as LENS: keep the top-k candidates (orthogonal only), decode (as `synthesis` does, with its
`decode` option: g(z + eta), or the residual e + g(z + eta) - g(z)), pair combinatorially
(`baselines.pair_with_seeds`).
"""
from __future__ import annotations

import math

import torch

from .io import LensInputError
from .synthesis import SynthesisConfig, topk_by_likelihood
from .vae import PreferenceVAE

DIRECTIONS = ("orthogonal", "along")


def preference_directions(mu_chosen: torch.Tensor, mu_rejected: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Unit vectors u_i along mu+ - mu- (zero where the two coincide). (n, k), (n, k) -> (n, k)"""
    diff = mu_chosen - mu_rejected
    norm = diff.norm(dim=-1, keepdim=True)
    return torch.where(norm > eps, diff / norm.clamp_min(eps), torch.zeros_like(diff))


def shaped_noise(u: torch.Tensor, m: int, sigma2: float, direction: str, sign: float,
                 generator: torch.Generator) -> torch.Tensor:
    """m noise vectors per row of u (n, k), shaped by `direction`; `sign` +1 chosen, -1 rejected. -> (n, m, k)"""
    n, k = u.shape
    if direction == "orthogonal":
        eta = torch.randn((n, m, k), generator=generator) * math.sqrt(sigma2)
        return eta - (eta * u.unsqueeze(1)).sum(-1, keepdim=True) * u.unsqueeze(1)
    if direction == "along":
        a = torch.randn((n, m, 1), generator=generator) * math.sqrt(k * sigma2)
        return sign * a.abs() * u.unsqueeze(1)
    raise LensInputError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


@torch.no_grad()
def directional_sides(vae: PreferenceVAE, e_chosen: torch.Tensor, e_rejected: torch.Tensor, k: int,
                      config: SynthesisConfig, direction: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """k synthetic embeddings per side of every seed pair: (n, d), (n, d) -> (n, k, d), (n, k, d)."""
    mu_c, logvar_c = vae.encode(e_chosen)
    mu_r, logvar_r = vae.encode(e_rejected)
    u = preference_directions(mu_c, mu_r)                                   # (n, latent)
    m = max(config.n_candidates, k) if direction == "orthogonal" else k
    out = []
    residual = getattr(config, "decode", "generate") == "residual"
    for e, mu, logvar, sign in ((e_chosen, mu_c, logvar_c, 1.0), (e_rejected, mu_r, logvar_r, -1.0)):   # chosen first
        cand = mu.unsqueeze(1) + shaped_noise(u, m, config.sigma2, direction, sign, generator)   # (n, m, latent)
        kept = topk_by_likelihood(cand, mu, logvar, k, config.filter_likelihood) if m > k else cand
        decoded = vae.decode(kept.reshape(-1, mu.shape[1])).reshape(mu.shape[0], k, -1)           # (n, k, d)
        out.append(e.unsqueeze(1) + decoded - vae.decode(mu).unsqueeze(1) if residual else decoded)
    return out[0], out[1]

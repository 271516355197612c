"""The method walkthrough (paper, Method section): two VAEs that differ only in the divergence weight
gamma (Eq. for L_div), what their latent spaces hold, and synthetic samples around a few seeds.

Called by `notebooks/method_walkthrough.ipynb`; the figures are drawn by `figures.plot_latent_space`
and `figures.plot_synthetic_example`.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import pandas as pd
import torch

from ..data import PreferencePairs
from ..synthesis import SynthesisConfig, synthesize_side
from .. import vae_store
from ..vae import PreferenceVAE, VAEConfig, train_vae, w2_distance

STATS_COLUMNS = {"w2_mean": "mean W2(chosen, rejected)", "direction_accuracy": "pairs ordered by the mean offset",
                 "recon_final": "reconstruction error", "kl_final": "KL"}


def train_vaes(pairs: PreferencePairs, config: VAEConfig, gammas: Sequence[float],
               seed: int) -> tuple[dict[float, PreferenceVAE], dict[float, dict], dict[float, float]]:
    """One VAE per divergence weight gamma, all else equal: (models, loss histories, seconds) by gamma."""
    models, histories, seconds = {}, {}, {}
    for gamma in gammas:
        start = time.perf_counter()
        with vae_store.disabled():                 # the seconds are shown: always a real fit
            models[gamma], histories[gamma] = train_vae(
                pairs.e_chosen, pairs.e_rejected, dataclasses.replace(config, gamma=float(gamma)), seed=seed)
        seconds[gamma] = time.perf_counter() - start
    return models, histories, seconds


@torch.no_grad()
def latent_stats(model: PreferenceVAE, history: dict, pairs: PreferencePairs) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, float]]:
    """Posterior means (mu_chosen, mu_rejected), each (N, latent_dim), and what they show:

    - `w2_mean`: mean 2-Wasserstein distance between the two posteriors of a pair (what L_div raises);
    - `direction_accuracy`: share of pairs whose chosen-minus-rejected offset points along the mean
      offset (an in-sample reading of how much preference direction the latent space carries);
    - `recon_final`, `kl_final`: the last epoch's reconstruction error and KL term.
    """
    mu_c, logvar_c = model.encode(pairs.e_chosen)
    mu_r, logvar_r = model.encode(pairs.e_rejected)
    gap = mu_c - mu_r                                      # (N, latent_dim)
    direction = gap.mean(0)                                # mean chosen-minus-rejected offset
    stats = {"w2_mean": w2_distance(mu_c, logvar_c, mu_r, logvar_r).mean().item(),
             "direction_accuracy": ((gap @ direction) > 0).float().mean().item(),
             "recon_final": history["recon"][-1], "kl_final": history["kl"][-1]}
    return (mu_c, mu_r), stats


def stats_frame(stats: dict[float, dict[str, float]]) -> pd.DataFrame:
    """`latent_stats` of each gamma as a table, one row per gamma."""
    table = pd.DataFrame({f"{g:g}": s for g, s in stats.items()}).T.rename_axis("gamma")
    return table[list(STATS_COLUMNS)].rename(columns=STATS_COLUMNS)


def standardize(vae: PreferenceVAE, e: torch.Tensor) -> torch.Tensor:
    """Embeddings (..., d) in the VAE's standardised units (the space it encodes)."""
    return (e - vae.center) / vae.scale


@torch.no_grad()
def synthetic_example(vae: PreferenceVAE, pairs: PreferencePairs, n_pairs: int, k: int, config: SynthesisConfig,
                      seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """For the first `n_pairs` seed pairs, per side ("chosen", "rejected"): the seed embeddings (n, d),
    their reconstructions g(mu) (n, d) and k synthetic embeddings around each (n, k, d)."""
    idx = torch.arange(n_pairs)
    gen = torch.Generator().manual_seed(seed)
    sides = (("chosen", pairs.e_chosen), ("rejected", pairs.e_rejected))
    return {"seed": {side: e[idx] for side, e in sides},
            "recon": {side: vae.decode(vae.encode(e[idx])[0]) for side, e in sides},
            "synth": {side: synthesize_side(vae, e[idx], k, config, gen) for side, e in sides}}


def spread_metrics(vae: PreferenceVAE, example: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
    """How far synthetic samples spread around the seed's reconstruction g(mu) (`relative_spread`),
    and how far g(mu) lies from the seed (`relative_offset`), both relative to the mean distance
    between two different chosen seeds, in standardised units."""
    z = {s: standardize(vae, e) for s, e in example["seed"].items()}
    recon = {s: standardize(vae, e) for s, e in example["recon"].items()}
    synth = {s: standardize(vae, e) for s, e in example["synth"].items()}
    spread = torch.stack([(synth[s] - recon[s].unsqueeze(1)).norm(dim=-1).mean() for s in synth]).mean().item()
    offset = torch.stack([(recon[s] - z[s]).norm(dim=-1).mean() for s in synth]).mean().item()
    distances = torch.cdist(z["chosen"], z["chosen"])
    between = distances[~torch.eye(len(distances), dtype=torch.bool)].mean().item()
    return {"relative_spread": spread / between, "relative_offset": offset / between}


def numbers(task: str, pairs: PreferencePairs, vae_params: int, stats: dict[float, dict[str, float]],
            spread: dict[str, float], augmented: PreferencePairs) -> dict[str, Any]:
    """The walkthrough's numbers, as its result file stores them."""
    return {"task": task, "n_pairs": len(pairs), "dim": pairs.dim, "vae_params": vae_params,
            "by_gamma": {f"{g:g}": s for g, s in stats.items()},
            "synthesis": {**spread, "n_augmented": len(augmented), "n_synthetic": int(augmented.is_synthetic.sum())}}

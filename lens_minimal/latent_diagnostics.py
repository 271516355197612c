"""What the divergence weight gamma does to the VAE's latent space (paper, Ablations: gamma).

The divergence term -gamma * (1/N) sum_i W2(q(z|e_i+), q(z|e_i-)) (paper, Method step 2) rewards
pushing each pair's two posteriors apart and is unbounded: only the reconstruction and the KL
terms hold it back. The paper reports that gamma >= 0.5 "over-separates" and the latent space
collapses. Numbers that show it, all from a fitted `PreferenceVAE` (posterior means, no sampling):

- `recon_error`: mean squared error of g(mu(e)) against e in the VAE's standardised units (the
  L_recon of the loss with z = mu); large when the latents stop carrying each embedding's detail;
- `pair_w2`: mean W2 distance between the two posteriors of a pair (what the term maximises);
- `pair_distance_ratio`: mean ||mu+ - mu-|| of partners over the mean distance between latents
  of two different seed pairs; above 1, partners lie further apart than unrelated embeddings;
- `class_separation`: distance between the centroids of chosen and of rejected latents over the
  within-class spread (root mean squared distance to the own centroid); large when the latent
  space splits into a "chosen" and a "rejected" region;
- `latent_norm`: mean ||mu|| (the prior N(0, I) has about sqrt(latent_dim));
- `effective_dims`: participation ratio of the latent covariance's eigenvalues (1 to latent_dim):
  how many latent directions the encoder really uses.
"""
from __future__ import annotations

import torch

from .data import BestOfNSet, EmbeddingTask, PreferencePairs
from .vae import PreferenceVAE, w2_distance


@torch.no_grad()
def reconstruction_error(vae: PreferenceVAE, e: torch.Tensor) -> float:
    """Mean squared error of g(mu(e)) against e, per dimension, in standardised units. e: (n, d)"""
    mu, _ = vae.encode(e)
    x = (e - vae.center) / vae.scale
    return (vae.decode_standardized(mu) - x).pow(2).mean().item()


@torch.no_grad()
def latent_separation(vae: PreferenceVAE, pairs: PreferencePairs, seed: int = 0) -> dict[str, float]:
    """Separation of chosen from rejected posteriors of `pairs` (see the module docstring)."""
    mu_c, lv_c = vae.encode(pairs.e_chosen)                              # (N, k) each
    mu_r, lv_r = vae.encode(pairs.e_rejected)
    n = len(pairs)
    # a partner from another seed pair for every row: a shift of a random permutation (never itself)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    other = torch.empty(n, dtype=torch.long)
    other[perm] = perm.roll(1)
    partners = (mu_c - mu_r).norm(dim=1).mean()
    unrelated = (mu_c - mu_r[other]).norm(dim=1).mean()
    centroid_gap = (mu_c.mean(0) - mu_r.mean(0)).norm()
    within = torch.cat([mu_c - mu_c.mean(0), mu_r - mu_r.mean(0)]).pow(2).sum(1).mean().sqrt()
    mu = torch.cat([mu_c, mu_r])                                        # (2N, k)
    eig = torch.linalg.eigvalsh(torch.cov(mu.T)).clamp_min(0)
    return {
        "pair_w2": w2_distance(mu_c, lv_c, mu_r, lv_r).mean().item(),
        "pair_distance_ratio": (partners / unrelated.clamp_min(1e-12)).item(),
        "class_separation": (centroid_gap / within.clamp_min(1e-12)).item(),
        "latent_norm": mu.norm(dim=1).mean().item(),
        "effective_dims": (eig.sum() ** 2 / eig.pow(2).sum().clamp_min(1e-24)).item(),
    }


def embeddings_of_test_set(task: EmbeddingTask) -> torch.Tensor:
    """Every embedding of the task's test set, as rows (n, d)."""
    if isinstance(task.test, BestOfNSet):
        return task.test.embeddings.reshape(-1, task.dim)
    return torch.cat([task.test.e_chosen, task.test.e_rejected])


def diagnose_augmenter(augmenter, seeds: PreferencePairs, task: EmbeddingTask) -> dict[str, float]:
    """Latent diagnostics of a fitted VAE-based augmenter (`experiment.sweep(..., diagnose=...)`):
    separation on the pairs it was fitted on, reconstruction error on them and on the test
    embeddings (`recon_error_test`: does the VAE generalise). Empty for augmenters without a VAE."""
    vae = getattr(augmenter, "vae", None)
    if vae is None:
        return {}
    train = torch.cat([seeds.e_chosen, seeds.e_rejected])
    return {"recon_error": reconstruction_error(vae, train),
            "recon_error_test": reconstruction_error(vae, embeddings_of_test_set(task)),
            **latent_separation(vae, seeds)}

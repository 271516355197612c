"""The preference VAE of LENS (paper, Method step 2).

An MLP encoder q_phi(z|e) = N(mu(e), diag exp(logvar(e))) and an MLP decoder g_theta(z), trained on
chosen and rejected embeddings with

    L_total = (1/N) sum_i [L_VAE(e_i+) + L_VAE(e_i-)] + gamma * L_div,
    L_VAE(e) = L_recon(e, g(z)) + beta * KL(q(z|e) || N(0, I)),
    L_div    = -(1/N) sum_i W2(q(z|e_i+), q(z|e_i-)),

where W2 is the 2-Wasserstein distance between the two diagonal Gaussian posteriors, in closed
form W2^2 = ||mu+ - mu-||^2 + ||sigma+ - sigma-||^2.

Choices the paper leaves open (each a `VAEConfig` field):
- embeddings are standardised per dimension (statistics of the training embeddings, kept as
  buffers), so that LLM hidden states with a few huge dimensions do not dominate the loss;
- L_recon is the squared error averaged over the d dimensions (scale ~1 for any d), and the KL is
  summed over the latent dimensions; `beta` is therefore small by default;
- L_div uses W2 itself (not W2^2) by default; `divergence="w2_squared"` switches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from . import vae_store
from .io import LensInputError, check_embeddings


@dataclass
class VAEConfig:
    latent_dim: int = 16          # paper: 16
    hidden_dim: int = 64          # paper-sized VAE: d -> 64 -> 2x16 and 16 -> 64 -> d (~0.53M params at d=4096)
    beta: float = 0.01            # weight of the KL term per embedding
    gamma: float = 0.1            # weight of the divergence term (paper's best: 0.1; 0 disables it)
    divergence: str = "w2"        # "w2" (paper) or "w2_squared"
    epochs: int = 200             # full passes over the seed pairs
    batch_size: int = 128         # pairs per step (each step sees 2x as many embeddings)
    lr: float = 2e-3              # Adam learning rate
    weight_decay: float = 0.0     # Adam weight decay

    def __post_init__(self) -> None:
        if self.divergence not in ("w2", "w2_squared"):
            raise LensInputError(f"VAEConfig.divergence must be 'w2' or 'w2_squared', got {self.divergence!r}")
        for name in ("latent_dim", "hidden_dim", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise LensInputError(f"VAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.gamma < 0 or self.beta < 0:
            raise LensInputError("VAEConfig.gamma and VAEConfig.beta must be >= 0")


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row, summed over latent dimensions. (n, k) -> (n,)"""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def w2_squared(mu_a: torch.Tensor, logvar_a: torch.Tensor, mu_b: torch.Tensor, logvar_b: torch.Tensor) -> torch.Tensor:
    """Closed-form squared 2-Wasserstein distance between diagonal Gaussians, per row. (n, k) -> (n,)

    For diagonal covariances the Bures term reduces to ||sigma_a - sigma_b||^2.
    """
    sigma_a, sigma_b = (0.5 * logvar_a).exp(), (0.5 * logvar_b).exp()
    return (mu_a - mu_b).pow(2).sum(-1) + (sigma_a - sigma_b).pow(2).sum(-1)


def w2_distance(mu_a, logvar_a, mu_b, logvar_b, eps: float = 1e-8) -> torch.Tensor:
    """2-Wasserstein distance (square root of `w2_squared`, with `eps` for a finite gradient at 0)."""
    return (w2_squared(mu_a, logvar_a, mu_b, logvar_b) + eps).sqrt()


class PreferenceVAE(nn.Module):
    """MLP VAE over (standardised) LLM embeddings. Encode/decode work in the raw embedding space."""

    def __init__(self, dim: int, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        self.dim = dim
        h, k = config.hidden_dim, config.latent_dim
        self.encoder = nn.Sequential(nn.Linear(dim, h), nn.GELU(), nn.Linear(h, 2 * k))  # -> (mu, logvar)
        self.decoder = nn.Sequential(nn.Linear(k, h), nn.GELU(), nn.Linear(h, dim))
        self.register_buffer("center", torch.zeros(dim))  # per-dimension mean of the training embeddings
        self.register_buffer("scale", torch.ones(dim))    # per-dimension std

    def fit_standardizer(self, e: torch.Tensor) -> None:
        self.center.copy_(e.mean(0))
        self.scale.copy_(e.std(0).clamp_min(1e-6))

    def encode(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters (mu, logvar), each (n, latent_dim), of raw embeddings e (n, d)."""
        mu, logvar = self.encoder((e - self.center) / self.scale).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode_standardized(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """g_theta(z) mapped back to the raw embedding space. (n, k) -> (n, d)"""
        return self.decoder(z) * self.scale + self.center

    def loss(self, e_chosen: torch.Tensor, e_rejected: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """L_total on a batch of pairs, with its parts (all scalars)."""
        cfg = self.config
        e = torch.cat([e_chosen, e_rejected])                         # (2n, d)
        x = (e - self.center) / self.scale
        mu, logvar = self.encode(e)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator)
        recon = F.mse_loss(self.decoder(z), x, reduction="none").mean(-1)   # (2n,)
        kl = kl_to_standard_normal(mu, logvar)                             # (2n,)
        n = e_chosen.shape[0]
        w2 = w2_squared(mu[:n], logvar[:n], mu[n:], logvar[n:]) if cfg.divergence == "w2_squared" \
            else w2_distance(mu[:n], logvar[:n], mu[n:], logvar[n:])
        # (1/N) sum_i [L(e_i+) + L(e_i-)]  ==  2 * mean over the 2N embeddings
        l_vae = 2.0 * (recon + cfg.beta * kl).mean()
        l_div = -w2.mean()
        return {"loss": l_vae + cfg.gamma * l_div, "recon": recon.mean(), "kl": kl.mean(), "w2": w2.mean()}


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def fit_on_pairs(model: nn.Module, opt: torch.optim.Optimizer, e_chosen: torch.Tensor, e_rejected: torch.Tensor,
                 epochs: int, batch_size: int, generator: torch.Generator, keys: tuple[str, ...],
                 progress: bool = False) -> dict[str, list[float]]:
    """The epoch loop of a pair autoencoder: shuffled mini-batches of pairs, `model.loss(c, r, generator)`
    -> dict of scalars with "loss" optimised; returns the per-epoch means of `keys`."""
    n = e_chosen.shape[0]
    history: dict[str, list[float]] = {k: [] for k in keys}
    model.train()
    for _ in trange(epochs, desc=type(model).__name__, disable=None if progress else True, leave=False):
        perm = torch.randperm(n, generator=generator)
        sums = dict.fromkeys(keys, 0.0)
        for b in range(0, n, batch_size):
            idx = perm[b: b + batch_size]                                      # (B,) pair rows
            parts = model.loss(e_chosen[idx], e_rejected[idx], generator=generator)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            for k in keys:
                sums[k] += parts[k].item() * len(idx) / n
        for k, v in sums.items():
            history[k].append(v)
    return history


def train_vae(
    e_chosen: torch.Tensor, e_rejected: torch.Tensor, config: VAEConfig | None = None, seed: int = 0,
    progress: bool = False,
) -> tuple[PreferenceVAE, dict[str, list[float]]]:
    """Train a `PreferenceVAE` on seed pairs; returns the model (eval mode) and per-epoch loss history.

    `progress` shows a bar over epochs (only on a terminal). When `vae_store` is on (the book build),
    a fit made before on the same bytes, config and seed is loaded instead, with the same numbers;
    its history's "seconds" is then the original fit's."""
    config = config or VAEConfig()
    check_embeddings(e_chosen, "e_chosen")
    check_embeddings(e_rejected, "e_rejected", dim=e_chosen.shape[1])
    entry = vae_store.key(e_chosen, e_rejected, config, seed) if vae_store.folder() else None
    stored = vae_store.load(entry) if entry else None
    if stored is not None:
        vae = PreferenceVAE(e_chosen.shape[1], config)
        vae.load_state_dict(stored["state"])
        torch.set_rng_state(stored["rng_state"])
        return vae.eval(), stored["history"]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    vae = PreferenceVAE(e_chosen.shape[1], config)
    vae.fit_standardizer(torch.cat([e_chosen, e_rejected]))
    opt = torch.optim.Adam(vae.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = time.perf_counter()
    history = fit_on_pairs(vae, opt, e_chosen, e_rejected, config.epochs, config.batch_size, gen,
                           ("loss", "recon", "kl", "w2"), progress)
    history["seconds"] = [time.perf_counter() - start]
    if entry:
        vae_store.save(entry, vae.state_dict(), history)
    return vae.eval(), history

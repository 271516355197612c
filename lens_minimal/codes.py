"""Discrete latent codes for synthesis, in the spirit of Latent Preference Coding (LPC, arXiv 2505.04993).

LPC models the factors behind a preference with a discrete latent variable learned through a
Gumbel-softmax layer. Here the same kind of layer replaces the Gaussian latent of the LENS VAE
(our adaptation, no code copied): an embedding is encoded into `n_codes` categorical codes of
`n_categories` values each,

    q(c_j | e) = softmax(logits_j(e)),  j = 1..n_codes,
    training sample  y_j = softmax((logits_j + G_j) / tau),  G_j ~ Gumbel(0, 1)   (relaxed one-hot)
    L = recon(e, g(y)) + beta * sum_j KL(q(c_j | e) || Uniform) - gamma * TV(q(.|e+), q(.|e-)),

where TV is the total variation between the chosen and the rejected code posteriors of a pair,
averaged over codebooks: the discrete analogue of LENS's W2 divergence term.

Synthesis by resampling codes: for each seed embedding take its most likely code c, redraw
`resample` randomly chosen codebooks from q restricted to the *other* categories (renormalised), and
decode. Decoding a code alone gives one of n_categories ** n_codes prototypes, so by default the
synthetic embedding is residual, e + g(c') - g(c): the seed keeps its detail and moves by the
decoded change of factor (the residual-decode idea of issue 11).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .io import LensInputError, check_embeddings
from .vae import fit_on_pairs


@dataclass
class CodeVAEConfig:
    n_codes: int = 4          # codebooks (latent factors)
    n_categories: int = 8     # values per codebook
    hidden_dim: int = 64      # encoder/decoder width
    tau: float = 1.0          # Gumbel-softmax temperature while training
    beta: float = 0.01        # weight of KL(q(c|e) || uniform), summed over codebooks
    gamma: float = 0.1        # weight of the chosen/rejected total-variation term (0 disables it)
    epochs: int = 200         # full passes over the seed pairs
    batch_size: int = 128     # pairs per step
    lr: float = 2e-3          # Adam learning rate
    resample: int = 1         # codebooks redrawn per synthetic embedding
    residual: bool = True     # synthetic = e + g(c') - g(c) (True) or g(c') (False)

    def __post_init__(self) -> None:
        for name in ("n_codes", "hidden_dim", "epochs", "batch_size", "resample"):
            if getattr(self, name) < 1:
                raise LensInputError(f"CodeVAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_categories < 2:
            raise LensInputError(f"CodeVAEConfig.n_categories must be >= 2, got {self.n_categories}")
        if self.resample > self.n_codes:
            raise LensInputError(f"CodeVAEConfig.resample ({self.resample}) exceeds n_codes ({self.n_codes})")
        if self.tau <= 0 or self.beta < 0 or self.gamma < 0:
            raise LensInputError("CodeVAEConfig: tau must be > 0, beta and gamma >= 0")


class CodeVAE(nn.Module):
    """MLP encoder to n_codes x n_categories logits, MLP decoder from (relaxed) one-hots; raw embedding space outside."""

    def __init__(self, dim: int, config: CodeVAEConfig | None = None):
        super().__init__()
        self.config = config = config or CodeVAEConfig()
        k, c, h = config.n_codes, config.n_categories, config.hidden_dim
        self.encoder = nn.Sequential(nn.Linear(dim, h), nn.GELU(), nn.Linear(h, k * c))
        self.decoder = nn.Sequential(nn.Linear(k * c, h), nn.GELU(), nn.Linear(h, dim))
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def fit_standardizer(self, e: torch.Tensor) -> None:
        self.center.copy_(e.mean(0))
        self.scale.copy_(e.std(0).clamp_min(1e-6))

    def logits(self, e: torch.Tensor) -> torch.Tensor:
        """Code logits of raw embeddings. (n, d) -> (n, n_codes, n_categories)"""
        cfg = self.config
        return self.encoder((e - self.center) / self.scale).reshape(-1, cfg.n_codes, cfg.n_categories)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """(Relaxed) one-hot codes to raw embeddings. (n, n_codes, n_categories) -> (n, d)"""
        return self.decoder(y.flatten(1)) * self.scale + self.center

    def loss(self, e_chosen: torch.Tensor, e_rejected: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        cfg = self.config
        e = torch.cat([e_chosen, e_rejected])                                   # (2n, d)
        logits = self.logits(e)                                                 # (2n, K, C)
        u = torch.rand(logits.shape, generator=generator).clamp(1e-9, 1 - 1e-9)
        y = F.softmax((logits - torch.log(-torch.log(u))) / cfg.tau, dim=-1)   # Gumbel-softmax sample
        recon = F.mse_loss(self.decoder(y.flatten(1)), (e - self.center) / self.scale, reduction="none").mean(-1)
        q = F.softmax(logits, dim=-1)
        kl = (q * (F.log_softmax(logits, dim=-1) + torch.log(torch.tensor(float(cfg.n_categories))))).sum((-1, -2))
        n = e_chosen.shape[0]
        tv = 0.5 * (q[:n] - q[n:]).abs().sum(-1).mean(-1)                       # (n,), in [0, 1]
        total = 2.0 * (recon + cfg.beta * kl).mean() - cfg.gamma * tv.mean()
        return {"loss": total, "recon": recon.mean(), "kl": kl.mean(), "tv": tv.mean()}


def train_code_vae(e_chosen: torch.Tensor, e_rejected: torch.Tensor, config: CodeVAEConfig | None = None,
                   seed: int = 0) -> tuple[CodeVAE, dict[str, list[float]]]:
    """Train a `CodeVAE` on seed pairs (Adam, mini-batches of pairs); returns (model in eval mode, history)."""
    config = config or CodeVAEConfig()
    check_embeddings(e_chosen, "e_chosen")
    check_embeddings(e_rejected, "e_rejected", dim=e_chosen.shape[1])
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = CodeVAE(e_chosen.shape[1], config)
    model.fit_standardizer(torch.cat([e_chosen, e_rejected]))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = fit_on_pairs(model, opt, e_chosen, e_rejected, config.epochs, config.batch_size, gen, ("loss", "recon", "tv"))
    return model.eval(), history


@torch.no_grad()
def resample_codes(q: torch.Tensor, k: int, resample: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Seed codes and k resampled codes per row. q (n, K, C) posteriors -> one-hots (n, K, C), (n, k, K, C).

    Each resampled code differs from the seed's most likely code in exactly `resample` codebooks,
    redrawn from q over the other categories.
    """
    n, n_codes, c = q.shape
    current = q.argmax(-1)                                                   # (n, K)
    seed_code = F.one_hot(current, c).float()
    codes = current.unsqueeze(1).repeat(1, k, 1)                             # (n, k, K)
    which = torch.rand((n, k, n_codes), generator=generator).argsort(-1)[..., :resample]   # codebooks to redraw
    probs = q.unsqueeze(1).expand(n, k, n_codes, c).gather(
        2, which.unsqueeze(-1).expand(-1, -1, -1, c))                        # (n, k, resample, C)
    probs = probs * (1 - F.one_hot(codes.gather(2, which), c).float()) + 1e-12   # exclude the current value
    new = torch.multinomial(probs.reshape(-1, c), 1, generator=generator).reshape(n, k, resample)
    codes = codes.scatter(2, which, new)
    return seed_code, F.one_hot(codes, c).float()


@torch.no_grad()
def code_sides(model: CodeVAE, e_chosen: torch.Tensor, e_rejected: torch.Tensor, k: int,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """k synthetic embeddings per side of every seed pair by resampling codes: (n, d) x2 -> (n, k, d) x2."""
    out = []
    for e in (e_chosen, e_rejected):                                        # chosen drawn first
        n = e.shape[0]
        seed_code, new = resample_codes(F.softmax(model.logits(e), -1), k, model.config.resample, generator)
        decoded = model.decode(new.reshape(n * k, *new.shape[2:])).reshape(n, k, -1)   # (n, k, d)
        if model.config.residual:
            decoded = e.unsqueeze(1) + decoded - model.decode(seed_code).unsqueeze(1)
        out.append(decoded)
    return out[0], out[1]

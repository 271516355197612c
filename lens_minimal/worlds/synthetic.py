"""A synthetic preference world with a known gold reward, in d dimensions; runs in seconds.

Generative story (all parts fixed by `world_seed`; the draws of prompts and responses by `seed`):

- a prompt is a vector p ~ N(0, I_kp) (kp = `prompt_factors`); a response to it is a vector
  u ~ N(0, I_ku) (ku = `response_factors`).
- gold reward (nonlinear, prompt-dependent), standardised to unit spread over responses:
      r*(p, u) = w . tanh(u)  +  a * (p^T C u) / sqrt(ku)  +  b * u_1 u_2
- embedding, as an LLM hidden state would be: a random two-layer network maps (p, u) onto a
  (kp + ku)-dimensional curved manifold in R^d, plus isotropic noise of std `noise_std` per
  dimension (signal std per dimension is 1), plus `outlier_dims` dimensions with a large offset
  and scale (like the few massive activations of real LLM hidden states):
      e = W2 gelu(W1 [p; u] + b1) + noise_std * eps
- preference labels: Bradley-Terry on the gold reward with temperature `label_temperature`,
  then each label flipped with probability `label_noise`.

The gold reward of any embedding, real or synthetic (`gold_of_embeddings`), is the gold reward of
the world's most probable (p, u) behind it: the MAP estimate under the world's own noise model
and N(0, I) priors, found by gradient descent from a linear first guess. This is how Theorem 1 is
checked here without a proxy; its own accuracy on real embeddings is measured beside it.

Outputs mirror the shipped SmolLM2 tasks: `n_train` seed pairs (one prompt each) with a pool of
`pool_size` extra responses per prompt, and `n_test_prompts` prompts with `n_candidates` responses for
Best-of-N and held-out pairwise accuracy.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..data import BestOfNSet, EmbeddingTask, PreferencePairs
from ..io import LensInputError


@dataclass
class SyntheticWorldConfig:
    dim: int = 576                  # embedding dimension d (SmolLM2-135M's hidden size)
    n_train: int = 1000             # seed preference pairs
    pool_size: int = 3              # extra responses per training prompt (text-augmentation pool)
    n_test_prompts: int = 200       # Best-of-N prompts
    n_candidates: int = 16          # N of Best-of-N
    prompt_factors: int = 4         # kp: latent size of a prompt
    response_factors: int = 8       # ku: latent size of a response
    manifold_hidden: int = 64       # width of the network that embeds (p, u) in R^d
    noise_std: float = 1.0          # isotropic embedding noise (per-dimension signal std is 1)
    outlier_dims: int = 4           # dimensions with a large offset and scale
    interaction: float = 0.7        # a: weight of the prompt-response interaction in the gold reward
    curvature: float = 0.3          # b: weight of the u_1 u_2 term
    label_temperature: float = 0.3  # BT temperature of the labels (gold rewards have unit spread)
    label_noise: float = 0.05       # probability of flipping a label after the BT draw
    world_seed: int = 1234          # fixes the world (reward function and embedding map)

    def __post_init__(self) -> None:
        if self.dim < self.prompt_factors + self.response_factors:
            raise LensInputError(f"SyntheticWorldConfig.dim={self.dim} is smaller than the latent size")
        if not 0.0 <= self.label_noise <= 0.5:
            raise LensInputError(f"SyntheticWorldConfig.label_noise must be in [0, 0.5], got {self.label_noise}")
        for name in ("n_train", "n_test_prompts", "n_candidates", "dim"):
            if getattr(self, name) < 2:
                raise LensInputError(f"SyntheticWorldConfig.{name} must be >= 2, got {getattr(self, name)}")


class SyntheticWorld:
    """The fixed parts of a world: gold reward and embedding map."""

    def __init__(self, config: SyntheticWorldConfig | None = None):
        self.config = c = config or SyntheticWorldConfig()
        g = torch.Generator().manual_seed(c.world_seed)
        kp, ku, h = c.prompt_factors, c.response_factors, c.manifold_hidden
        self.w = torch.randn(ku, generator=g) / math.sqrt(ku)
        self.C = torch.randn(kp, ku, generator=g) / math.sqrt(kp)
        self.W1 = torch.randn(kp + ku, h, generator=g) * 1.5 / math.sqrt(kp + ku)
        self.b1 = torch.randn(h, generator=g) * 0.5
        self.W2 = torch.randn(h, c.dim, generator=g) / math.sqrt(h)
        self.outlier_offset = torch.zeros(c.dim)
        self.outlier_gain = torch.ones(c.dim)
        idx = torch.randperm(c.dim, generator=g)[: c.outlier_dims]
        self.outlier_offset[idx] = 30.0 * torch.sign(torch.randn(len(idx), generator=g))
        self.outlier_gain[idx] = 10.0
        # standardise the gold reward and the signal using a large reference sample
        p, u = torch.randn(4096, kp, generator=g), torch.randn(4096, ku, generator=g)
        raw = self._raw_reward(p, u)
        self.r_mean, self.r_std = raw.mean().item(), raw.std().item()
        sig = self._signal(p, u)
        self.s_mean, self.s_std = sig.mean(0), sig.std(0).clamp_min(1e-6)

    def _raw_reward(self, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        c = self.config
        inter = ((p @ self.C) * u).sum(-1) / math.sqrt(c.response_factors)
        return torch.tanh(u) @ self.w + c.interaction * inter + c.curvature * u[..., 0] * u[..., 1]

    def gold_reward(self, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """r*(p, u), standardised. (..., kp), (..., ku) -> (...)"""
        return (self._raw_reward(p, u) - self.r_mean) / self.r_std

    def _signal(self, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return F.gelu(torch.cat([p, u], -1) @ self.W1 + self.b1) @ self.W2

    def embed(self, p: torch.Tensor, u: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Noisy embeddings of responses u to prompts p. (..., kp), (..., ku) -> (..., d)"""
        sig = (self._signal(p, u) - self.s_mean) / self.s_std
        e = sig + self.config.noise_std * torch.randn(sig.shape, generator=g)
        return e * self.outlier_gain + self.outlier_offset

    def latents_of(self, e: torch.Tensor, steps: int = 50, lr: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
        """MAP (p, u) behind embeddings e (n, d): argmin ||sig(p, u) - x||^2 / (2 noise^2) + (|p|^2 + |u|^2) / 2,
        x = e with the outlier offset and gain undone. Adam from a ridge regression of (p, u) on x. -> (n, kp), (n, ku)"""
        c, kp = self.config, self.config.prompt_factors
        x = (e.reshape(-1, c.dim) - self.outlier_offset) / self.outlier_gain
        lat = self._first_guess(x).requires_grad_(True)                    # (n, kp + ku)
        opt = torch.optim.Adam([lat], lr=lr)
        with torch.enable_grad():
            for _ in range(steps):
                sig = (self._signal(lat[:, :kp], lat[:, kp:]) - self.s_mean) / self.s_std
                loss = ((sig - x).pow(2).sum(1) / (2 * c.noise_std ** 2) + 0.5 * lat.pow(2).sum(1)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        lat = lat.detach()
        return lat[:, :kp].reshape(*e.shape[:-1], kp), lat[:, kp:].reshape(*e.shape[:-1], -1)

    def gold_of_embeddings(self, e: torch.Tensor, steps: int = 50) -> torch.Tensor:
        """Gold reward of the MAP (p, u) behind each embedding (see `latents_of`). (..., d) -> (...)"""
        return self.gold_reward(*self.latents_of(e, steps))

    def _first_guess(self, x: torch.Tensor) -> torch.Tensor:
        """Ridge regression of (p, u) on noise-free standardised signals of 8192 fresh draws, applied to x."""
        if not hasattr(self, "_inverse"):
            c = self.config
            g = torch.Generator().manual_seed(c.world_seed + 1)
            p, u = torch.randn(8192, c.prompt_factors, generator=g), torch.randn(8192, c.response_factors, generator=g)
            s = torch.cat([(self._signal(p, u) - self.s_mean) / self.s_std, torch.ones(8192, 1)], 1)   # (8192, d + 1)
            self._inverse = torch.linalg.solve(s.T @ s + 10.0 * torch.eye(s.shape[1]), s.T @ torch.cat([p, u], 1))
        return torch.cat([x, torch.ones(len(x), 1)], 1) @ self._inverse

    def label(self, r_a: torch.Tensor, r_b: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """True where response a is labelled preferred (BT draw, then random flips)."""
        c = self.config
        prefer_a = torch.rand(r_a.shape, generator=g) < torch.sigmoid((r_a - r_b) / c.label_temperature)
        flip = torch.rand(r_a.shape, generator=g) < c.label_noise
        return prefer_a ^ flip

    def sample_task(self, seed: int = 0) -> EmbeddingTask:
        """Seed pairs, text-augmentation pool and Best-of-N test set, drawn with `seed`."""
        c = self.config
        g = torch.Generator().manual_seed(seed)
        kp, ku = c.prompt_factors, c.response_factors
        # training prompts: 2 seed responses + pool
        p = torch.randn(c.n_train, 1, kp, generator=g)
        u = torch.randn(c.n_train, 2 + c.pool_size, ku, generator=g)
        pp = p.expand(-1, u.shape[1], -1)
        r = self.gold_reward(pp, u)                                         # (n, 2 + pool)
        e = self.embed(pp, u, g)                                            # (n, 2 + pool, d)
        a_wins = self.label(r[:, 0], r[:, 1], g)                            # (n,)
        chosen = torch.where(a_wins[:, None], e[:, 0], e[:, 1])
        rejected = torch.where(a_wins[:, None], e[:, 1], e[:, 0])
        # test prompts: N candidates each
        pt = torch.randn(c.n_test_prompts, 1, kp, generator=g).expand(-1, c.n_candidates, -1)
        ut = torch.randn(c.n_test_prompts, c.n_candidates, ku, generator=g)
        test = BestOfNSet(self.embed(pt, ut, g), self.gold_reward(pt, ut))
        r_chosen = torch.where(a_wins, r[:, 0], r[:, 1])
        r_rejected = torch.where(a_wins, r[:, 1], r[:, 0])
        info = {
            "world": asdict(c), "seed": seed,
            "label_agreement_with_gold": (r_chosen > r_rejected).float().mean().item(),
            "gold_chosen": r_chosen.tolist(), "gold_rejected": r_rejected.tolist(),   # for text augmentation's annotators
        }
        return EmbeddingTask(
            name="synthetic", train=PreferencePairs(chosen, rejected), test=test,
            pool_embeddings=e[:, 2:], pool_gold=r[:, 2:], info=info,
        )


def make_synthetic_task(config: SyntheticWorldConfig | None = None, seed: int = 0) -> EmbeddingTask:
    """Sample a synthetic task (see module docstring) with data seed `seed`."""
    return SyntheticWorld(config).sample_task(seed)

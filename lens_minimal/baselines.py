"""Every augmentation method of the paper's Table 1 that works in embedding space, behind one interface.

An augmenter is fitted on the seed pairs, then asked for an augmented set of exactly ratio * N pairs
(the N originals included, see `synthesis`). Methods:

- `none`         no augmentation: the embedding-MLP reward model on the seed pairs alone.
- `lens`         LENS: preference VAE with the divergence term (gamma > 0), latent perturbation,
                 top-k likelihood filter, combinatorial pairing.
- `lens_no_div`  the same with gamma = 0 (ablation: no divergence term).
- `vae_prior`    the same VAE, but synthetic embeddings are decoded from prior samples z ~ N(0, I)
                 instead of perturbed seed latents; paired like LENS (ablation: no seed anchoring).
- `direct`       Direct perturbation: e + noise in embedding space, per-dimension noise std
                 `noise_scale` times that dimension's std over the seeds; paired like LENS.
- `gaussian`     Gaussian sampling: one diagonal Gaussian fitted to the chosen embeddings and one to
                 the rejected embeddings; synthetic pairs are independent draws (chosen from the
                 first, rejected from the second), belonging to no seed pair (seed_index = -1).

Text-space rows of Table 1 (fine-tuned, LoRA, self-rewarding, text augmentation) need the LLM and
live elsewhere.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch

from .data import PreferencePairs
from .io import LensInputError
from .synthesis import SynthesisConfig, check_ratio, combinatorial_pairs, synthesize, synthetic_per_side
from .vae import VAEConfig, train_vae


@dataclass
class AugmentConfig:
    vae: VAEConfig = field(default_factory=VAEConfig)                    # for lens, lens_no_div, vae_prior
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)  # for lens, lens_no_div, vae_prior
    noise_scale: float = 0.1    # direct perturbation: noise std as a fraction of each dimension's std


class Augmenter:
    """Fit on seed pairs, then `augment(seeds, ratio)` -> ratio * N pairs."""

    name = "none"
    generator_module: torch.nn.Module | None = None   # the fitted generator (for parameter counts)
    progress: bool = False                            # progress bar while fitting (only on a terminal)

    def __init__(self, config: AugmentConfig | None = None, seed: int = 0):
        self.config = config or AugmentConfig()
        self.seed = seed

    def fit(self, seeds: PreferencePairs) -> "Augmenter":
        return self

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) != 1:
            raise LensInputError("method 'none' does no augmentation: use ratio 1")
        return seeds


class LensAugmenter(Augmenter):
    name = "lens"
    gamma: float | None = None   # overrides config.vae.gamma when set

    def fit(self, seeds: PreferencePairs) -> "LensAugmenter":
        vae_cfg = self.config.vae if self.gamma is None else dataclasses.replace(self.config.vae, gamma=self.gamma)
        self.vae, self.history = train_vae(seeds.e_chosen, seeds.e_rejected, vae_cfg, seed=self.seed, progress=self.progress)
        self.generator_module = self.vae
        return self

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        out = synthesize(self.vae, seeds, ratio, self.config.synthesis, seed=self.seed + 1)
        return _remap_seeds(out, seeds)


class LensNoDivergenceAugmenter(LensAugmenter):
    name = "lens_no_div"
    gamma = 0.0


class VAEPriorAugmenter(LensAugmenter):
    name = "vae_prior"

    @torch.no_grad()
    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) == 1:
            return seeds
        gen = torch.Generator().manual_seed(self.seed + 1)
        k, n = synthetic_per_side(ratio, self.config.synthesis.top_k), len(seeds)
        latent = self.vae.config.latent_dim
        decode = lambda: self.vae.decode(torch.randn((n * k, latent), generator=gen)).reshape(n, k, -1)  # noqa: E731
        synthetic_chosen = decode()                 # (N, k, d); drawn before the rejected side
        return pair_with_seeds(seeds, synthetic_chosen, decode(), ratio, gen)


class DirectPerturbationAugmenter(Augmenter):
    name = "direct"

    def fit(self, seeds: PreferencePairs) -> "DirectPerturbationAugmenter":
        self.std = torch.cat([seeds.e_chosen, seeds.e_rejected]).std(0)   # (d,)
        return self

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) == 1:
            return seeds
        gen = torch.Generator().manual_seed(self.seed + 1)
        k = synthetic_per_side(ratio, self.config.synthesis.top_k)
        noise = lambda e: e.unsqueeze(1) + self.config.noise_scale * self.std * torch.randn(  # noqa: E731
            (e.shape[0], k, e.shape[1]), generator=gen)
        synthetic_chosen = noise(seeds.e_chosen)    # (N, k, d); drawn before the rejected side
        return pair_with_seeds(seeds, synthetic_chosen, noise(seeds.e_rejected), ratio, gen)


class GaussianSamplingAugmenter(Augmenter):
    name = "gaussian"

    def fit(self, seeds: PreferencePairs) -> "GaussianSamplingAugmenter":
        self.mean_c, self.std_c = seeds.e_chosen.mean(0), seeds.e_chosen.std(0)
        self.mean_r, self.std_r = seeds.e_rejected.mean(0), seeds.e_rejected.std(0)
        return self

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        m = (check_ratio(ratio) - 1) * len(seeds)
        if m == 0:
            return seeds
        gen = torch.Generator().manual_seed(self.seed + 1)
        d = seeds.dim
        chosen = self.mean_c + self.std_c * torch.randn((m, d), generator=gen)
        rejected = self.mean_r + self.std_r * torch.randn((m, d), generator=gen)
        return PreferencePairs(
            torch.cat([seeds.e_chosen, chosen]), torch.cat([seeds.e_rejected, rejected]),
            seed_index=torch.cat([seeds.seed_index, torch.full((m,), -1)]),
            is_synthetic=torch.cat([seeds.is_synthetic, torch.ones(m, dtype=torch.bool)]),
        )


def pair_with_seeds(seeds: PreferencePairs, synthetic_chosen: torch.Tensor, synthetic_rejected: torch.Tensor,
                    ratio: int, gen: torch.Generator) -> PreferencePairs:
    """Put each seed embedding in front of its k synthetic ones, pair them combinatorially
    (`synthesis.combinatorial_pairs`) and express seed indices in the caller's numbering
    (`seeds` may be a subset of a larger set). synthetic_*: (N, k, d)."""
    pos = torch.cat([seeds.e_chosen.unsqueeze(1), synthetic_chosen], dim=1)      # (N, 1 + k, d)
    neg = torch.cat([seeds.e_rejected.unsqueeze(1), synthetic_rejected], dim=1)  # (N, 1 + k, d)
    return _remap_seeds(combinatorial_pairs(pos, neg, ratio, gen), seeds)


def _remap_seeds(out: PreferencePairs, seeds: PreferencePairs) -> PreferencePairs:
    """Express seed indices in the caller's numbering (seeds may be a subset of a larger set)."""
    out.seed_index = seeds.seed_index[out.seed_index]
    return out


METHODS: dict[str, Callable[..., Augmenter]] = {
    cls.name: cls for cls in (Augmenter, LensAugmenter, LensNoDivergenceAugmenter, VAEPriorAugmenter,
                              DirectPerturbationAugmenter, GaussianSamplingAugmenter)
}


def make_augmenter(method: str, config: AugmentConfig | None = None, seed: int = 0) -> Augmenter:
    """The augmenter registered under `method` (see `METHODS`)."""
    if method not in METHODS:
        raise LensInputError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    return METHODS[method](config, seed=seed)


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
- `text_aug`     Text augmentation (Table 1, "embedding MLP with text augmentation"): extra pairs
                 of *real* responses from the task's response pool (other sampled responses of the
                 same training prompt, already embedded), oriented by an annotator
                 (`lens_minimal.annotators`: simulated at agreement a, or a judge's label file).

The other text-space rows (fine-tuned, LoRA, self-rewarding reward models) train the LLM itself and
live in `lens_minimal.text.reward_lm`.

Beyond the paper (`VARIANTS`, the "beyond latent synthesis" chapter; same interface, not CLI choices
unless they win that chapter's pre-registered test), each a small change of LENS:

- `lens_orthogonal`, `lens_along`  preference-aware latent noise, orthogonal to or outward along the
                   pair's latent direction mu+ - mu- (`directional`).
- `latent_codes`   discrete Gumbel-softmax codes instead of the Gaussian latent, synthesis by
                   resampling codes (`codes`; after Latent Preference Coding, arXiv 2505.04993).
- `lens_ot_filter`, `lens_agree_filter`  over-generate, then keep the synthetic pairs of lowest
                   optimal-transport cost to the real pairs (after RoVRM) or those a seed-only reward
                   model orders as labelled with the largest margin (after LRHP) (`pair_filter`).
- `lens_downweight`, `lens_soft_label`  trust synthetic pairs less: a loss weight < 1, or a soft
                   label P(chosen preferred) < 1 (label smoothing of GRAM, arXiv 2506.14175, on
                   synthetic pairs only) (`PreferencePairs.weight` / `.label`, `reward`).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch

from .annotators import AnnotatorConfig, LabelTable, SimulatedAnnotator, candidate_pairs
from .codes import CodeVAEConfig, code_sides, train_code_vae
from .data import EmbeddingTask, PreferencePairs
from .directional import directional_sides
from .io import LensInputError
from .pair_filter import FilterConfig, agreement_filter, ot_filter
from .reward import RewardConfig, train_reward_model
from .synthesis import SynthesisConfig, check_ratio, combinatorial_pairs, synthesize, synthetic_per_side
from .vae import PreferenceVAE, VAEConfig, train_vae


@dataclass
class TrustConfig:
    synthetic_weight: float = 0.5   # lens_downweight: loss weight of every synthetic pair (originals: 1)
    synthetic_label: float = 0.9    # lens_soft_label: P(chosen preferred) of every synthetic pair (originals: 1)


@dataclass
class AugmentConfig:
    vae: VAEConfig = field(default_factory=VAEConfig)                    # for lens, lens_no_div, vae_prior
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)  # for lens, lens_no_div, vae_prior
    noise_scale: float = 0.1    # direct perturbation: noise std as a fraction of each dimension's std
    annotator: AnnotatorConfig = field(default_factory=AnnotatorConfig)  # text_aug: who orients the pool pairs
    codes: CodeVAEConfig = field(default_factory=CodeVAEConfig)          # latent_codes
    pair_filter: FilterConfig = field(default_factory=FilterConfig)      # lens_ot_filter, lens_agree_filter
    trust: TrustConfig = field(default_factory=TrustConfig)              # lens_downweight, lens_soft_label


class Augmenter:
    """Fit on seed pairs, then `augment(seeds, ratio)` -> ratio * N pairs."""

    name = "none"
    generator_module: torch.nn.Module | None = None   # the fitted generator (for parameter counts)
    progress: bool = False                            # progress bar while fitting (only on a terminal)
    fit_fields: tuple[str, ...] = ("vae",)            # config fields the fit reads; the others act in `augment`

    def __init__(self, config: AugmentConfig | None = None, seed: int = 0):
        self.config = config or AugmentConfig()
        self.seed = seed

    def bind(self, task: EmbeddingTask) -> "Augmenter":
        """Give the augmenter the task (only text augmentation reads it: its response pool)."""
        return self

    def fit(self, seeds: PreferencePairs) -> "Augmenter":
        return self

    def reconfigured(self, config: AugmentConfig) -> "Augmenter":
        """This fitted augmenter with the augment-time parameters of `config` (`synthesis`, `noise_scale`).

        A shallow copy sharing the fit (e.g. the trained VAE), so one fit serves several synthesis
        settings with the numbers a refit would give: the fit depends on the `fit_fields` only, and
        `augment` draws from its own seeded generator. Changing a fit field is an input error.
        """
        changed = [f for f in self.fit_fields if getattr(config, f) != getattr(self.config, f)]
        if changed:
            raise LensInputError(f"reconfigured: {changed} change the fit of method {self.name!r}; fit a new augmenter")
        twin = copy.copy(self)
        twin.config = config
        return twin

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) != 1:
            raise LensInputError("method 'none' does no augmentation: use ratio 1")
        return seeds


class LensAugmenter(Augmenter):
    name = "lens"
    gamma: float | None = None   # overrides config.vae.gamma when set

    @property
    def vae_config(self) -> VAEConfig:
        """The VAE settings this method trains with (config.vae, with `gamma` overridden where the method says)."""
        return self.config.vae if self.gamma is None else dataclasses.replace(self.config.vae, gamma=self.gamma)

    def fit(self, seeds: PreferencePairs, vae: PreferenceVAE | None = None) -> "LensAugmenter":
        """Train the VAE on `seeds`, or take `vae`: one already trained by `train_vae` on these seeds with
        `vae_config` and this seed (methods sharing a VAE then skip identical training)."""
        if vae is None:
            vae, self.history = train_vae(seeds.e_chosen, seeds.e_rejected, self.vae_config, seed=self.seed,
                                          progress=self.progress)
        self.vae = self.generator_module = vae
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


class TextAugmenter(Augmenter):
    """Extra pairs of real pool responses of the seeds' own prompts, oriented by an annotator.

    Each seed prompt has 2 + K embedded responses (0 = chosen, 1 = rejected, 2.. = pool) and 9
    candidate pairs for K = 3 (`annotators.candidate_pairs`). Every candidate of the task is labelled
    once (so a pair's label does not depend on which seeds are in the split); `augment` then takes
    (ratio - 1) * N of the seeds' labelled candidates, spread evenly over the seeds: candidates are
    shuffled within each seed and taken rank by rank (round robin, ties in rank broken at random).
    Only the seeds' own prompts are used: validation prompts never contribute pool pairs.
    """

    name = "text_aug"

    def bind(self, task: EmbeddingTask) -> "TextAugmenter":
        if task.pool_embeddings is None or task.pool_gold is None:
            raise LensInputError(f"method 'text_aug': task {task.name!r} has no response pool "
                                 "(pool_embeddings/pool_gold; the shipped tasks have one at layer 'last')")
        n = len(task.train)
        if task.pool_embeddings.shape[0] != n:
            raise LensInputError(f"task {task.name!r}: pool has {task.pool_embeddings.shape[0]} rows, train has {n}")
        gold_c = torch.as_tensor(task.info.get("gold_chosen", [float("nan")] * n), dtype=torch.float32)
        gold_r = torch.as_tensor(task.info.get("gold_rejected", [float("nan")] * n), dtype=torch.float32)
        self.responses = torch.cat([task.train.e_chosen.unsqueeze(1), task.train.e_rejected.unsqueeze(1),
                                    task.pool_embeddings], dim=1)                                  # (N, 2 + K, d)
        self.gold = torch.cat([gold_c.unsqueeze(1), gold_r.unsqueeze(1), task.pool_gold.float()], dim=1)  # (N, 2 + K)
        self.pairs = candidate_pairs(self.responses.shape[1])                                      # (C, 2)
        rows = torch.arange(n).repeat_interleave(len(self.pairs))                                  # (N * C,)
        pairs = self.pairs.repeat(n, 1)                                                            # (N * C, 2)
        ann = self.config.annotator
        if ann.kind == "simulated":
            if torch.isnan(self.gold).any():
                raise LensInputError(f"task {task.name!r}: the simulated annotator needs gold rewards of every "
                                     "response (info gold_chosen/gold_rejected and pool_gold)")
            self.labelled = torch.ones(len(rows), dtype=torch.bool)
            self.prefers_i = SimulatedAnnotator(ann.agreement, seed=self.seed).label(
                self.gold[rows, pairs[:, 0]], self.gold[rows, pairs[:, 1]])
        else:
            table = LabelTable.from_file(ann.labels_path, train_ids=task.info.get("train_ids"))
            self.labelled = table.has(rows, pairs)
            self.prefers_i = torch.zeros(len(rows), dtype=torch.bool)
            self.prefers_i[self.labelled] = table.label(rows[self.labelled], pairs[self.labelled])
        self.bound_task = task.name
        return self

    def select_pairs(self, seed_index: torch.Tensor, ratio: int) -> tuple[torch.Tensor, ...]:
        """(task rows, i, j, i preferred) of the (ratio - 1) * S extra pairs for seeds on task rows `seed_index` (S,)."""
        if not hasattr(self, "responses"):
            raise LensInputError("method 'text_aug': call bind(task) before augment (run_ratios does)")
        seed_index = torch.as_tensor(seed_index)
        m, c = (check_ratio(ratio) - 1) * len(seed_index), len(self.pairs)
        flat = seed_index.repeat_interleave(c) * c + torch.arange(c).repeat(len(seed_index))   # (S * C,)
        ok = self.labelled[flat]
        if int(ok.sum()) < m:
            raise LensInputError(
                f"method 'text_aug' at ratio {ratio}: needs {m} labelled pool pairs for {len(seed_index)} seeds, "
                f"but only {int(ok.sum())} of their {len(flat)} candidate pairs have a label "
                f"(annotator {self.config.annotator.kind!r}); use a lower ratio or label more pairs")
        gen = torch.Generator().manual_seed(self.seed + 1)
        rank = torch.argsort(torch.rand((len(seed_index), c), generator=gen), dim=1).argsort(dim=1).reshape(-1).float()
        key = torch.where(ok, rank + torch.rand(len(flat), generator=gen), torch.full_like(rank, float("inf")))
        take = flat[torch.argsort(key)[:m]]                                                # (m,)
        i, j = self.pairs[take % c].T
        return take // c, i, j, self.prefers_i[take]

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) == 1:
            return seeds
        r, i, j, prefer_i = self.select_pairs(seeds.seed_index, ratio)
        prefer_i = prefer_i.unsqueeze(1)                                              # (m, 1)
        e_i, e_j = self.responses[r, i], self.responses[r, j]                         # (m, d)
        return PreferencePairs(
            torch.cat([seeds.e_chosen, torch.where(prefer_i, e_i, e_j)]),
            torch.cat([seeds.e_rejected, torch.where(prefer_i, e_j, e_i)]),
            seed_index=torch.cat([seeds.seed_index, r]),
            is_synthetic=torch.cat([seeds.is_synthetic, torch.ones(len(r), dtype=torch.bool)]),
        )


# ----------------------------------------------------------------------------- beyond the paper

class DirectionalAugmenter(LensAugmenter):
    """LENS with preference-aware latent noise orthogonal to the pair direction (`directional`; issue 11)."""
    name = "lens_orthogonal"
    direction = "orthogonal"

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) == 1:
            return seeds
        gen = torch.Generator().manual_seed(self.seed + 1)
        k = synthetic_per_side(ratio, self.config.synthesis.top_k)
        c, r = directional_sides(self.vae, seeds.e_chosen, seeds.e_rejected, k, self.config.synthesis, self.direction, gen)
        return pair_with_seeds(seeds, c, r, ratio, gen)


class AlongAugmenter(DirectionalAugmenter):
    """LENS with latent steps outward along the pair direction: chosen +|a|u, rejected -|a|u (`directional`)."""
    name = "lens_along"
    direction = "along"


class LatentCodeAugmenter(Augmenter):
    """Discrete Gumbel-softmax codes, synthesis by resampling codes (`codes`; after LPC, arXiv 2505.04993)."""
    name = "latent_codes"
    fit_fields = ("codes",)

    def fit(self, seeds: PreferencePairs) -> "LatentCodeAugmenter":
        self.model, self.history = train_code_vae(seeds.e_chosen, seeds.e_rejected, self.config.codes, seed=self.seed)
        self.generator_module = self.model
        return self

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) == 1:
            return seeds
        gen = torch.Generator().manual_seed(self.seed + 1)
        c, r = code_sides(self.model, seeds.e_chosen, seeds.e_rejected, synthetic_per_side(ratio), gen)
        return pair_with_seeds(seeds, c, r, ratio, gen)


class OTFilterAugmenter(LensAugmenter):
    """LENS over-generated `oversample` times, keeping the synthetic pairs of lowest OT cost to the seeds
    (`pair_filter.ot_filter`; after RoVRM, arXiv 2408.12109)."""
    name = "lens_ot_filter"

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        if check_ratio(ratio) == 1:
            return seeds
        over = super().augment(seeds, 1 + self.config.pair_filter.oversample * (ratio - 1))
        return self.select(over, seeds, (ratio - 1) * len(seeds))

    def select(self, over: PreferencePairs, seeds: PreferencePairs, n_keep: int) -> PreferencePairs:
        return ot_filter(over, seeds, n_keep, self.config.pair_filter)


class AgreementFilterAugmenter(OTFilterAugmenter):
    """LENS over-generated, keeping the synthetic pairs a seed-only reward model orders as labelled with the
    largest margin (`pair_filter.agreement_filter`; after LRHP, arXiv 2410.04503). The seed-only model is
    early-stopped on 10% of the seeds (config.reward when the config carries one)."""
    name = "lens_agree_filter"
    fit_fields = ("vae", "reward")   # the judge is trained with config.reward

    def fit(self, seeds: PreferencePairs, vae: PreferenceVAE | None = None) -> "AgreementFilterAugmenter":
        super().fit(seeds, vae)
        perm = torch.randperm(len(seeds), generator=torch.Generator().manual_seed(20_000 + self.seed))
        n_val = max(1, len(seeds) // 10)
        self.judge, _ = train_reward_model(seeds.subset(perm[n_val:]), seeds.subset(perm[:n_val]),
                                           getattr(self.config, "reward", RewardConfig()), seed=self.seed)
        return self

    def select(self, over: PreferencePairs, seeds: PreferencePairs, n_keep: int) -> PreferencePairs:
        return agreement_filter(over, self.judge.score, n_keep)


class DownweightAugmenter(LensAugmenter):
    """LENS whose synthetic pairs carry loss weight `trust.synthetic_weight` (trust less what is synthetic)."""
    name = "lens_downweight"

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        return trust_synthetic(super().augment(seeds, ratio), weight=self.config.trust.synthetic_weight)


class SoftLabelAugmenter(LensAugmenter):
    """LENS whose synthetic pairs carry the soft label `trust.synthetic_label` (GRAM's label smoothing,
    arXiv 2506.14175, on synthetic pairs only)."""
    name = "lens_soft_label"

    def augment(self, seeds: PreferencePairs, ratio: int) -> PreferencePairs:
        return trust_synthetic(super().augment(seeds, ratio), label=self.config.trust.synthetic_label)


def trust_synthetic(pairs: PreferencePairs, weight: float = 1.0, label: float = 1.0) -> PreferencePairs:
    """The same pairs with every synthetic pair's weight and label set (originals unchanged)."""
    s = pairs.is_synthetic
    return PreferencePairs(pairs.e_chosen, pairs.e_rejected, pairs.seed_index, s,
                           torch.where(s, torch.tensor(float(weight)), pairs.weight),
                           torch.where(s, torch.tensor(float(label)), pairs.label))


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
                              DirectPerturbationAugmenter, GaussianSamplingAugmenter, TextAugmenter)
}


# Beyond the paper: experimental methods (same interface; `lens augment`/`lens run` offer METHODS only).
VARIANTS: dict[str, Callable[..., Augmenter]] = {
    cls.name: cls for cls in (DirectionalAugmenter, AlongAugmenter, LatentCodeAugmenter, OTFilterAugmenter,
                              AgreementFilterAugmenter, DownweightAugmenter, SoftLabelAugmenter)
}


def make_augmenter(method: str, config: AugmentConfig | None = None, seed: int = 0) -> Augmenter:
    """The augmenter registered under `method` (see `METHODS` and `VARIANTS`)."""
    known = METHODS | VARIANTS
    if method not in known:
        raise LensInputError(f"unknown method {method!r}; known: {sorted(known)}")
    return known[method](config, seed=seed)


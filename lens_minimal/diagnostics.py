"""What synthetic preference pairs are: where they lie, whether they look real, whether their labels hold.

Three measurements of an augmented set against the real seed embeddings it came from:

- **nearest-real distance**: RMS distance per dimension (in the space standardised by the real
  training embeddings, as the reward model sees it) from each synthetic embedding to its nearest
  real training embedding, against the same distance for held-out real embeddings. A ratio
  well below 1 means near-copies of the seeds (little new information); well above 1 means points
  off the data (the reward model learns about places real responses never are).
- **two-sample accuracy**: cross-validated accuracy of a small classifier told to separate
  synthetic from real embeddings (balanced classes; 0.5 = indistinguishable).
- **label agreement**: the share of synthetic pairs that a reward model trained on real pairs only
  orders the way their label says (chosen above rejected). Real held-out pairs give the
  reference: a synthetic label the real-data model disagrees with as often as with real labels
  is not worse than a real label.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .config import from_dict
from .data import EmbeddingTask, PreferencePairs
from .experiment import ExperimentConfig
from .io import LensInputError
from .reward import RewardMLP
from .variants import Variant, deep_merge, fit_augmenter, run_variants


def real_embeddings(pairs: PreferencePairs, with_seeds: bool = False):
    """Chosen and rejected embeddings of the original (non-synthetic) pairs, (2n, d); with
    `with_seeds`, also the seed index of each, (2n,)."""
    real = ~pairs.is_synthetic
    e = torch.cat([pairs.e_chosen[real], pairs.e_rejected[real]])
    return (e, pairs.seed_index[real].repeat(2)) if with_seeds else e


def synthetic_embeddings(augmented: PreferencePairs, with_seeds: bool = False):
    """The distinct synthetic embeddings of an augmented set, (m, d) (originals reused in synthetic
    pairs by the combinatorial pairing are left out); with `with_seeds`, also the seed index each
    was made from, (m,) (-1 for methods that draw without a seed, e.g. Gaussian sampling)."""
    syn = augmented.is_synthetic
    if not syn.any():
        raise LensInputError("synthetic_embeddings: the set holds no synthetic pairs (ratio 1?)")
    e = torch.cat([augmented.e_chosen[syn], augmented.e_rejected[syn]])
    seeds = augmented.seed_index[syn].repeat(2)
    seen = {row.tobytes() for row in real_embeddings(augmented).numpy()}     # exact matches only
    keep = []
    for i, row in enumerate(e.numpy()):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    keep_t = torch.tensor(keep, dtype=torch.long)
    return (e[keep_t], seeds[keep_t]) if with_seeds else e[keep_t]


def nearest_distance(x: torch.Tensor, reference: torch.Tensor, scale_on: torch.Tensor | None = None,
                     batch: int = 2048) -> torch.Tensor:
    """RMS-per-dimension distance from each row of x (n, d) to its nearest row of reference (m, d). -> (n,)

    Both are standardised with the mean and std of `scale_on` (default: `reference`)."""
    ref = reference if scale_on is None else scale_on
    center, scale = ref.mean(0), ref.std(0).clamp_min(1e-6)
    xs, rs = (x - center) / scale, (reference - center) / scale
    dist = torch.cat([torch.cdist(xs[i: i + batch], rs).min(1).values for i in range(0, len(xs), batch)])
    return dist / x.shape[1] ** 0.5


def two_sample_accuracy(real: torch.Tensor, synthetic: torch.Tensor, seed: int = 0, folds: int = 3,
                        hidden: int = 32, epochs: int = 60, weight_decay: float = 1e-3, max_per_class: int = 1000,
                        groups_real: torch.Tensor | None = None, groups_synthetic: torch.Tensor | None = None) -> float:
    """Cross-validated accuracy of an MLP classifier (d -> hidden -> 1) telling synthetic from real rows.

    Classes are balanced by subsampling both to the smaller size (at most `max_per_class`);
    features are standardised on the training folds; full-batch Adam for `epochs` steps.
    0.5 = the classifier cannot tell them apart; 1.0 = every synthetic embedding is recognisable.
    `groups_*` (seed index of each row; negative = no group): rows of one group share a fold, so
    that a synthetic near-copy is never judged against its own seed in the training folds (with
    near-copies, an ungrouped split rewards memorising the seeds and scores far *below* 0.5).
    """
    if len(real) < folds or len(synthetic) < folds:
        raise LensInputError(f"two_sample_accuracy: need at least {folds} rows per class, got {len(real)} and {len(synthetic)}")
    g = torch.Generator().manual_seed(seed)
    n = min(len(real), len(synthetic), max_per_class)
    pick_r, pick_s = torch.randperm(len(real), generator=g)[:n], torch.randperm(len(synthetic), generator=g)[:n]
    x = torch.cat([real[pick_r], synthetic[pick_s]])
    y = torch.cat([torch.zeros(n), torch.ones(n)])
    fold = torch.randperm(2 * n, generator=g) % folds                 # (2n,) fold of each row
    if groups_real is not None and groups_synthetic is not None:
        groups = torch.cat([groups_real[pick_r], groups_synthetic[pick_s]])
        shuffled = torch.randperm(int(groups.max()) + 1, generator=g)  # a random fold per group
        fold = torch.where(groups >= 0, shuffled[groups.clamp_min(0)] % folds, fold)
    right = 0.0
    for f in range(folds):
        train, test = fold != f, fold == f
        center, scale = x[train].mean(0), x[train].std(0).clamp_min(1e-6)
        torch.manual_seed(seed + f)
        clf = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.GELU(), nn.Linear(hidden, 1))
        opt = torch.optim.Adam(clf.parameters(), lr=1e-2, weight_decay=weight_decay)
        xt = (x[train] - center) / scale
        with torch.enable_grad():
            for _ in range(epochs):
                loss = F.binary_cross_entropy_with_logits(clf(xt).squeeze(1), y[train])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        with torch.no_grad():
            pred = clf((x[test] - center) / scale).squeeze(1) > 0
        right += (pred.float() == y[test]).float().sum().item()
    return right / (2 * n)


@torch.no_grad()
def label_agreement(model: RewardMLP, pairs: PreferencePairs) -> float:
    """Share of `pairs` that `model` orders as labelled (chosen scores higher; ties count half)."""
    if len(pairs) == 0:
        raise LensInputError("label_agreement: no pairs")
    margin = model.score(pairs.e_chosen) - model.score(pairs.e_rejected)
    return ((margin > 0).float() + 0.5 * (margin == 0).float()).mean().item()


def synthetic_pairs(augmented: PreferencePairs) -> PreferencePairs:
    """The synthetic rows of an augmented set."""
    return augmented.subset(augmented.is_synthetic.nonzero().squeeze(1))


def describe_synthetic(augmented: PreferencePairs, heldout: PreferencePairs, real_model: RewardMLP,
                       seed: int = 0) -> dict[str, float]:
    """All three measurements of one augmented set (see the module docstring).

    `heldout`: real pairs not used for synthesis (distance and agreement references);
    `real_model`: a reward model trained on real pairs only (e.g. the tuned no-augmentation model).
    """
    (real, g_real), (synth, g_synth) = real_embeddings(augmented, True), synthetic_embeddings(augmented, True)
    held = real_embeddings(heldout)
    d_syn, d_real = nearest_distance(synth, real), nearest_distance(held, real)
    return {
        "nn_distance_synthetic": d_syn.median().item(),
        "nn_distance_real": d_real.median().item(),
        "nn_distance_ratio": (d_syn.median() / d_real.median()).item(),
        "two_sample_accuracy": two_sample_accuracy(real, synth, seed=seed, groups_real=g_real, groups_synthetic=g_synth),
        "label_agreement_synthetic": label_agreement(real_model, synthetic_pairs(augmented)),
        "label_agreement_heldout": label_agreement(real_model, heldout),
        "n_synthetic_embeddings": len(synth),
    }


def describe_methods(task: EmbeddingTask, methods: Iterable[str], ratio: int, seeds: Iterable[int],
                     config: Mapping | None = None, cache: dict | None = None) -> pd.DataFrame:
    """`describe_synthetic` for every method and seed: the augmented set of `method` at `ratio`
    built from the seed pairs of that seed's split, judged against the held-out seed pairs and the
    tuned no-augmentation reward model of the same seed (`run_variants`, variant "none")."""
    cfg = from_dict(ExperimentConfig, config, "config")
    cache = {} if cache is None else cache
    rows = []
    for seed in seeds:
        base = run_variants(task, [Variant("none")], [seed], config, keep=True).iloc[0]
        for m in methods:
            augmenter, _, seed_pairs, val = fit_augmenter(task, m, cfg, seed, cache)
            aug = augmenter.augment(seed_pairs, ratio)
            rows.append({"task": task.name, "method": m, "seed": seed,
                         **describe_synthetic(aug, val, base.model, seed=seed)})
    return pd.DataFrame(rows)


def latent_means(task: EmbeddingTask, gamma: float, seed: int, config: Mapping | None = None,
                 cache: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Posterior means of the chosen and rejected seed embeddings, (N, k) each, under the LENS VAE
    with divergence weight `gamma` (fitted on `seed`'s split), and how well a classifier separates
    them (`two_sample_accuracy` in latent space: 0.5 = chosen and rejected overlap)."""
    cfg = from_dict(ExperimentConfig, deep_merge(config or {}, {"vae": {"gamma": float(gamma)}}), "config")
    augmenter, _, seed_pairs, _ = fit_augmenter(task, "lens", cfg, seed, cache)
    with torch.no_grad():
        mu_c, mu_r = augmenter.vae.encode(seed_pairs.e_chosen)[0], augmenter.vae.encode(seed_pairs.e_rejected)[0]
    return mu_c, mu_r, two_sample_accuracy(mu_c, mu_r, seed=seed)

"""Diagnostics of synthetic pairs: distances, two-sample accuracy, label agreement."""
import pytest
import torch

from lens_minimal.baselines import make_augmenter
from lens_minimal.data import PreferencePairs
from lens_minimal.diagnostics import (describe_synthetic, label_agreement, nearest_distance, synthetic_embeddings,
                                      two_sample_accuracy)
from lens_minimal.io import LensInputError
from lens_minimal.reward import RewardMLP


def test_synthetic_embeddings_are_the_new_points_only():
    seeds = PreferencePairs(torch.randn(30, 6), torch.randn(30, 6))
    aug = make_augmenter("direct", seed=0).fit(seeds).augment(seeds, 4)   # k = 1 synthetic per side and seed
    syn = synthetic_embeddings(aug)
    assert syn.shape == (60, 6)
    real = torch.cat([seeds.e_chosen, seeds.e_rejected])
    assert torch.cdist(syn, real).min() > 0
    with pytest.raises(LensInputError, match="no synthetic"):
        synthetic_embeddings(seeds)


def test_nearest_distance_is_zero_on_the_reference_and_grows_with_offset():
    ref = torch.randn(50, 8)
    assert nearest_distance(ref, ref).abs().max() < 1e-3
    near, far = nearest_distance(ref + 0.01, ref), nearest_distance(ref + 3.0, ref)
    assert (near < far).all()
    # RMS per dimension: a shift of c in every standardised dimension is at distance c from its origin
    unit = torch.randn(400, 4)
    assert nearest_distance(unit[:1] + 0.01 * unit.std(0), unit).item() == pytest.approx(0.01, abs=1e-3)


def test_two_sample_accuracy_is_chance_for_one_distribution_and_high_for_two():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 10, generator=g), torch.randn(300, 10, generator=g)
    assert 0.35 < two_sample_accuracy(a, b, seed=0, epochs=40) < 0.65
    assert two_sample_accuracy(a, b + 1.5, seed=0, epochs=40) > 0.9
    # a difference only in spread (same mean, diagonal Gaussian) is found by the nonlinear classifier
    assert two_sample_accuracy(a, 2.5 * b, seed=0, epochs=100) > 0.8


def test_label_agreement_and_describe():
    torch.manual_seed(0)
    model = RewardMLP(4).eval()
    e = torch.randn(40, 4)
    s = model.score(e)
    hi, lo = torch.where((s[:20] > s[20:])[:, None], e[:20], e[20:]), torch.where((s[:20] > s[20:])[:, None], e[20:], e[:20])
    assert label_agreement(model, PreferencePairs(hi, lo)) == 1.0
    assert label_agreement(model, PreferencePairs(lo, hi)) == 0.0
    seeds = PreferencePairs(torch.randn(40, 4), torch.randn(40, 4))
    aug = make_augmenter("direct", seed=0).fit(seeds).augment(seeds, 4)
    out = describe_synthetic(aug, PreferencePairs(torch.randn(20, 4), torch.randn(20, 4)), model)
    assert out["n_synthetic_embeddings"] == 80 and 0 <= out["two_sample_accuracy"] <= 1
    assert out["nn_distance_ratio"] < 1          # 0.1-std noise around the seeds: closer than new real points


def test_describe_methods_and_latent_means_share_one_vae_per_seed(monkeypatch):
    from lens_minimal import baselines
    from lens_minimal.datasets import load_task
    from lens_minimal.diagnostics import describe_methods, latent_means

    fits = []
    original = baselines.LensAugmenter.fit
    monkeypatch.setattr(baselines.LensAugmenter, "fit", lambda self, s: fits.append(1) or original(self, s))
    task = load_task("synthetic", world={"dim": 24, "n_train": 80, "n_test_prompts": 10, "n_candidates": 4})
    cfg, cache = {"vae": {"epochs": 3}, "reward": {"max_epochs": 2}}, {}
    df = describe_methods(task, ["lens", "gaussian"], 4, [0], cfg, cache)
    assert list(df.method) == ["lens", "gaussian"] and (df.n_synthetic_embeddings > 0).all()
    mu_c, mu_r, sep = latent_means(task, 0.1, 0, cfg, cache)       # the LENS VAE of seed 0 again: no new fit
    assert len(fits) == 1 and mu_c.shape == mu_r.shape == (72, 16) and 0 <= sep <= 1
    latent_means(task, 0.0, 0, cfg, cache)
    assert len(fits) == 2


def test_grouped_folds_stop_near_copies_from_scoring_below_chance():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(300, 10, generator=g)
    copies = real + 0.01 * torch.randn(300, 10, generator=g)        # one near-copy per real row
    groups = torch.arange(300)
    ungrouped = two_sample_accuracy(real, copies, seed=0, epochs=80)
    grouped = two_sample_accuracy(real, copies, seed=0, epochs=80, groups_real=groups, groups_synthetic=groups)
    assert ungrouped < 0.4 < grouped < 0.65
    seeds = PreferencePairs(torch.randn(30, 6), torch.randn(30, 6))
    aug = make_augmenter("direct", seed=0).fit(seeds).augment(seeds, 4)
    e, idx = synthetic_embeddings(aug, with_seeds=True)
    # each synthetic embedding is nearest to a real embedding of its own seed pair
    real = torch.cat([seeds.e_chosen, seeds.e_rejected])
    assert torch.equal(torch.cdist(e, real).argmin(1) % 30, idx)

"""Named variants on shared seeds: same numbers as `run_one`, one fit per shared augmenter, paired gains."""
import numpy as np
import pytest
import torch

from lens_minimal import baselines, variants
from lens_minimal.config import from_dict
from lens_minimal.datasets import load_task
from lens_minimal.evaluation import pairwise_accuracy
from lens_minimal.experiment import ExperimentConfig, run_one
from lens_minimal.io import LensInputError
from lens_minimal.variants import Variant, deep_merge, pairwise_loss, run_variants, variant_gains

SMALL_WORLD = {"dim": 48, "n_train": 120, "n_test_prompts": 20, "n_candidates": 8}
FAST = {"vae": {"epochs": 5}, "reward": {"max_epochs": 3}}


def test_deep_merge_recurses_and_copies():
    base = {"vae": {"epochs": 5, "gamma": 0.1}, "noise_scale": 0.1}
    out = deep_merge(base, {"vae": {"gamma": 0.0}, "reward": {"dropout": 0.0}})
    assert out == {"vae": {"epochs": 5, "gamma": 0.0}, "noise_scale": 0.1, "reward": {"dropout": 0.0}}
    assert base["vae"]["gamma"] == 0.1


def test_default_variant_matches_run_one_and_vae_is_fitted_once_per_seed(monkeypatch):
    task = load_task("synthetic", world=SMALL_WORLD)
    fits = []
    original = baselines.LensAugmenter.fit
    monkeypatch.setattr(baselines.LensAugmenter, "fit", lambda self, s: fits.append(1) or original(self, s))
    vs = [Variant("none"), Variant("lens4", "lens", 4), Variant("lens4_wide", "lens", 4, {"synthesis": {"sigma2": 0.5}}),
          Variant("lens2_res", "lens", 2, {"synthesis": {"decode": "residual"}})]
    df = run_variants(task, vs, [0, 1], FAST)
    assert len(fits) == 2                                        # one VAE per seed serves all three LENS variants
    cfg = from_dict(ExperimentConfig, FAST)
    for v in ("none", "lens4"):
        row = df[(df.variant == v) & (df.seed == 1)].iloc[0]
        single = run_one(task, row.method, row.ratio, 1, cfg)
        assert row.bon_gold == single["bon_gold"] and row.pairwise_accuracy == single["pairwise_accuracy"]
    wide, narrow = (df[(df.variant == v) & (df.seed == 0)].iloc[0] for v in ("lens4_wide", "lens4"))
    assert wide.bon_gold != narrow.bon_gold                      # the variant's synthesis parameters were used
    assert np.isnan(df[df.variant == "none"].recon_heldout).all() and (df[df.method == "lens"].recon_heldout > 0).all()
    assert (df.n_train_pairs == df.ratio * 108).all() and (df.steps > 0).all()


def test_variant_gains_are_paired_and_signed():
    df = run_variants(load_task("synthetic", world=SMALL_WORLD), [Variant("none"), Variant("direct2", "direct", 2)], [0, 1], FAST)
    g = variant_gains(df, [("direct2", "none"), ("none", "direct2")])
    assert g.gain.iloc[0] == pytest.approx(-g.gain.iloc[1])
    per_seed = [np.mean(df[(df.variant == "direct2") & (df.seed == s)].per_item.iloc[0])
                - np.mean(df[(df.variant == "none") & (df.seed == s)].per_item.iloc[0]) for s in (0, 1)]
    assert g.gain.iloc[0] == pytest.approx(np.mean(per_seed))
    with pytest.raises(LensInputError, match="no rows of variant"):
        variant_gains(df, [("lens8", "none")])


def test_pairwise_loss_orders_pairs_by_gold_like_pairwise_accuracy():
    g = torch.Generator().manual_seed(0)
    scores, gold = torch.randn(6, 5, generator=g), torch.randint(0, 3, (6, 5), generator=g).float()
    loss, acc = pairwise_loss(scores, gold)
    assert acc == pytest.approx(pairwise_accuracy(scores, gold))
    assert pairwise_loss(100 * gold, gold)[0] < 1e-6 < pairwise_loss(-gold, gold)[0]


def test_bad_variants_are_clear_errors():
    task = load_task("synthetic", world=SMALL_WORLD)
    with pytest.raises(LensInputError, match="ratio 1"):
        Variant("x", "lens", 1)
    with pytest.raises(LensInputError, match="unique names"):
        run_variants(task, [Variant("a"), Variant("a")], [0])
    with pytest.raises(LensInputError, match=r"variant b.config.reward: unknown parameter"):
        run_variants(task, [Variant("b", config={"reward": {"epochs": 3}})], [0])

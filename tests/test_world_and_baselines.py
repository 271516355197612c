import pytest
import torch

from lens_minimal.baselines import METHODS, AugmentConfig, make_augmenter
from lens_minimal.config import from_dict
from lens_minimal.datasets import load_task
from lens_minimal.experiment import ExperimentConfig, run_one
from lens_minimal.io import LensInputError
from lens_minimal.vae import VAEConfig

SMALL_WORLD = {"dim": 48, "n_train": 120, "n_test_prompts": 20, "n_candidates": 8}
FAST = {"vae": {"epochs": 5}, "reward": {"max_epochs": 3}}


def test_world_is_deterministic_and_shaped():
    a, b = load_task("synthetic", world=SMALL_WORLD, seed=3), load_task("synthetic", world=SMALL_WORLD, seed=3)
    assert torch.equal(a.train.e_chosen, b.train.e_chosen) and torch.equal(a.test.gold, b.test.gold)
    assert a.train.e_chosen.shape == (120, 48) and a.test.embeddings.shape == (20, 8, 48)
    assert a.pool_embeddings.shape == (120, 3, 48)
    assert not torch.equal(a.train.e_chosen, load_task("synthetic", world=SMALL_WORLD, seed=4).train.e_chosen)


def test_label_noise_controls_label_agreement():
    clean = load_task("synthetic", world={**SMALL_WORLD, "label_noise": 0.0, "label_temperature": 0.01})
    noisy = load_task("synthetic", world={**SMALL_WORLD, "label_noise": 0.4})
    assert clean.info["label_agreement_with_gold"] > 0.97
    assert noisy.info["label_agreement_with_gold"] < 0.75


@pytest.mark.parametrize("method", sorted(m for m in METHODS if m != "none"))
@pytest.mark.parametrize("ratio", [4, 8])
def test_every_method_gives_exactly_ratio_times_n(method, ratio):
    task = load_task("synthetic", world=SMALL_WORLD)
    cfg = AugmentConfig(vae=VAEConfig(epochs=2))
    aug = make_augmenter(method, cfg, seed=0).bind(task).fit(task.train)   # bind: text_aug reads the pool
    out = aug.augment(task.train, ratio)
    assert len(out) == ratio * len(task.train)
    assert int(out.is_synthetic.sum()) == (ratio - 1) * len(task.train)
    assert torch.isfinite(out.e_chosen).all() and torch.isfinite(out.e_rejected).all()


def test_seed_indices_refer_to_the_callers_rows():
    task = load_task("synthetic", world=SMALL_WORLD)
    subset = task.train.subset(torch.arange(50, 80))
    out = make_augmenter("lens", AugmentConfig(vae=VAEConfig(epochs=2))).fit(subset).augment(subset, 4)
    assert set(out.seed_index.tolist()) == set(range(50, 80))


def test_run_one_reports_metrics_and_is_deterministic():
    task = load_task("synthetic", world=SMALL_WORLD)
    cfg = from_dict(ExperimentConfig, FAST)
    a, b = run_one(task, "lens", 4, seed=0, config=cfg), run_one(task, "lens", 4, seed=0, config=cfg)
    keys = {"bon_gold", "bon_random", "bon_oracle", "pairwise_accuracy", "n_train_pairs"}
    assert keys <= set(a)
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert a["bon_random"] <= a["bon_oracle"] and a["n_train_pairs"] == 4 * 108


def test_unknown_names_are_clear_errors():
    with pytest.raises(LensInputError, match="unknown method"):
        make_augmenter("magic")
    with pytest.raises(LensInputError, match="unknown task"):
        load_task("imagenet")
    with pytest.raises(LensInputError, match=r"config\.vae: unknown parameter\(s\) \['latent'\]"):
        from_dict(ExperimentConfig, {"vae": {"latent": 3}})
    with pytest.raises(LensInputError, match=r"config: unknown parameter\(s\) \['augment'\]"):
        from_dict(ExperimentConfig, {"augment": {"vae": {}}})
    with pytest.raises(LensInputError, match="unknown parameter"):
        load_task("synthetic", world={"dims": 3})
    with pytest.raises(LensInputError, match="ratio 1"):
        make_augmenter("none").augment(load_task("synthetic", world=SMALL_WORLD).train, 4)


def test_grid_shares_the_fit_across_ratios_without_changing_numbers():
    from lens_minimal.experiment import run_grid

    task = load_task("synthetic", world=SMALL_WORLD)
    cfg = from_dict(ExperimentConfig, FAST)
    df = run_grid(task, ["lens"], [1, 2, 4], [0], cfg, progress=False)
    assert list(zip(df.method, df.ratio)) == [("none", 1), ("lens", 2), ("lens", 4)]
    for _, row in df.iterrows():
        single = run_one(task, row.method, row.ratio, 0, cfg)
        assert single["bon_gold"] == row.bon_gold and single["pairwise_accuracy"] == row.pairwise_accuracy

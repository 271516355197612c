"""Parameter sweeps for the paper's ablations: one spelling of a parameter path, one fit shared by the
synthesis settings that do not change it (with the numbers a refit gives), paired gains per cell."""
import numpy as np
import pandas as pd
import pytest
import torch

from lens_minimal.baselines import make_augmenter
from lens_minimal.config import from_dict, replace_path
from lens_minimal.datasets import load_task
from lens_minimal.experiment import ExperimentConfig, paired_gains, run_one, sweep
from lens_minimal.io import LensInputError
from lens_minimal.latent_diagnostics import diagnose_augmenter, latent_separation, reconstruction_error
from lens_minimal.vae import VAEConfig, train_vae

WORLD = {"dim": 24, "n_train": 120, "n_test_prompts": 10}
FAST = {"vae": {"epochs": 8}, "reward": {"max_epochs": 4}}
KEYS = ("bon_gold", "pairwise_accuracy", "n_train_pairs", "n_synthetic_pairs", "epochs")


@pytest.fixture(scope="module")
def task():
    return load_task("synthetic", world=WORLD)


def test_replace_path_sets_one_nested_field_and_rechecks_it():
    cfg = from_dict(ExperimentConfig, {"vae": {"epochs": 3}})
    new = replace_path(cfg, "synthesis.sigma2", 0.1)
    assert new.synthesis.sigma2 == 0.1 and cfg.synthesis.sigma2 == 0.01 and new.vae.epochs == 3
    assert replace_path(cfg, "noise_scale", 0.5).noise_scale == 0.5
    with pytest.raises(LensInputError, match=r"config\.vae: unknown parameter 'gama'"):
        replace_path(cfg, "vae.gama", 0.1)
    with pytest.raises(LensInputError, match=r"config\.noise_scale: is a value"):
        replace_path(cfg, "noise_scale.x", 0.1)
    with pytest.raises(LensInputError, match="sigma2 must be >= 0"):
        replace_path(cfg, "synthesis.sigma2", -1.0)


def test_shared_fit_gives_the_numbers_of_a_refit(task):
    """sigma2 acts at synthesis time: one VAE per seed serves every value, and each row equals a fresh run."""
    cfg = from_dict(ExperimentConfig, FAST)
    df = sweep(task, "synthesis.sigma2", [0.001, 0.1], [0, 1], cfg, ratio=4, per_item=False)
    assert list(df.method) == ["none", "lens", "lens"] * 2 and df.value.isna().sum() == 2
    for _, row in df[df.method == "lens"].iterrows():
        fresh = run_one(task, "lens", 4, row.seed, replace_path(cfg, "synthesis.sigma2", row.value))
        assert all(fresh[k] == row[k] for k in KEYS), row.value
    # the fit really is shared: one fit time per seed, repeated on both rows
    lens = df[df.method == "lens"]
    assert lens.groupby("seed").seconds_fit.nunique().eq(1).all()


def test_refit_parameters_refit_and_match_single_runs(task):
    cfg = from_dict(ExperimentConfig, FAST)
    df = sweep(task, "vae.gamma", [0.0, 0.5], [0], cfg, ratio=4, baseline=False, per_item=False,
               diagnose=diagnose_augmenter)
    assert list(df.value) == [0.0, 0.5] and "recon_error" in df and "pair_w2" in df
    for _, row in df.iterrows():
        fresh = run_one(task, "lens", 4, 0, replace_path(cfg, "vae.gamma", row.value))
        assert all(fresh[k] == row[k] for k in KEYS)


def test_reconfigured_refuses_a_change_of_the_fit(task):
    cfg = from_dict(ExperimentConfig, FAST)
    aug = make_augmenter("lens", cfg, seed=0).fit(task.train)
    twin = aug.reconfigured(replace_path(cfg, "synthesis.sigma2", 0.5))
    assert twin.vae is aug.vae and twin.config.synthesis.sigma2 == 0.5 and aug.config.synthesis.sigma2 == 0.01
    with pytest.raises(LensInputError, match=r"\['vae'\] change the fit"):
        aug.reconfigured(replace_path(cfg, "vae.gamma", 0.5))
    with pytest.raises(LensInputError, match="no values"):
        sweep(task, "vae.gamma", [], [0], cfg)


def test_paired_gains_per_sweep_value_against_a_shared_or_a_chosen_baseline(task):
    cfg = from_dict(ExperimentConfig, FAST)
    df = sweep(task, "synthesis.sigma2", [0.01, 1.0], [0, 1], cfg, ratio=4)
    vs_none = paired_gains(df, {"method": "none"}, by=("method", "ratio", "value"))
    assert list(vs_none.value) == [0.01, 1.0] and set(vs_none.method) == {"lens"}
    per_seed = df.set_index(["value", "seed"]).bon_gold
    none = df[df.method == "none"].set_index("seed").bon_gold
    for _, g in vs_none.iterrows():
        assert g.gain == pytest.approx(np.mean([per_seed[g.value, s] - none[s] for s in (0, 1)]), abs=1e-6)
        assert g.gain_ci_low <= g.gain <= g.gain_ci_high
    vs_best = paired_gains(df, {"method": "lens", "value": 0.01}, by=("method", "ratio", "value"))
    assert pd.isna(vs_best.value.iloc[0]) and vs_best.value.iloc[1] == 1.0   # the baseline rows are compared too
    # one baseline per group: per-value subsets (as in the seed-size ablation)
    grouped = df[df.method == "lens"].assign(method=lambda d: np.where(d.value == 0.01, "a", "b"), value=1)
    g2 = paired_gains(grouped, {"method": "a"}, by=("method",), within=("task", "value"))
    assert list(g2.method) == ["b"] and g2.value.iloc[0] == 1
    with pytest.raises(LensInputError, match="exactly one baseline row"):
        paired_gains(df, {"method": "lens"}, by=("method", "ratio", "value"))
    with pytest.raises(LensInputError, match="outside by"):
        paired_gains(df, {"seed": 0})


def test_latent_diagnostics_see_what_gamma_does(task):
    seeds = task.train
    cfg = VAEConfig(epochs=40)
    plain, _ = train_vae(seeds.e_chosen, seeds.e_rejected, cfg, seed=0)
    pushed, _ = train_vae(seeds.e_chosen, seeds.e_rejected, VAEConfig(epochs=40, gamma=5.0), seed=0)
    a, b = latent_separation(plain, seeds), latent_separation(pushed, seeds)
    assert b["pair_w2"] > 1.5 * a["pair_w2"] and b["pair_distance_ratio"] > a["pair_distance_ratio"]
    assert 1.0 <= a["effective_dims"] <= cfg.latent_dim
    # identical partners: no separation at all
    same = latent_separation(plain, type(seeds)(seeds.e_chosen, seeds.e_chosen))
    assert same["pair_distance_ratio"] == 0 and same["class_separation"] == 0
    # reconstruction error is the standardised MSE of g(mu(e))
    e = seeds.e_chosen[:7]
    with torch.no_grad():
        manual = ((plain.decode(plain.encode(e)[0]) - e) / plain.scale).pow(2).mean().item()
    assert reconstruction_error(plain, e) == pytest.approx(manual, rel=1e-4)
    assert diagnose_augmenter(make_augmenter("direct").fit(seeds), seeds, task) == {}

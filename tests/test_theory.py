"""Theorem checks: the gold probe, the world's own gold of an embedding, order agreement."""
import pytest
import torch

from lens_minimal.data import BestOfNSet, EmbeddingTask, PreferencePairs
from lens_minimal.datasets import load_task
from lens_minimal.io import LensInputError
from lens_minimal.theory import GoldProbe, gold_function, gold_scored_responses, order_agreement, probe_fit, theorem1
from lens_minimal.worlds.synthetic import SyntheticWorld, SyntheticWorldConfig

SMALL_WORLD = {"dim": 48, "n_train": 120, "n_test_prompts": 20, "n_candidates": 8}


def test_probe_recovers_a_linear_gold_and_picks_a_small_ridge_for_clean_data():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(400, 10, generator=g) * torch.linspace(0.5, 3, 10) + 2.0
    w = torch.randn(10, generator=g)
    gold = e @ w + 0.01 * torch.randn(400, generator=g)
    probe = GoldProbe.fit(e, gold)
    assert probe.alpha <= 10.0
    test = torch.randn(50, 10, generator=g) * torch.linspace(0.5, 3, 10) + 2.0
    assert torch.corrcoef(torch.stack([probe(test), test @ w]))[0, 1] > 0.999
    noisy = GoldProbe.fit(e, torch.randn(400, generator=g))            # no signal: heavy ridge
    assert noisy.alpha >= 1000.0
    with pytest.raises(LensInputError, match="GoldProbe.fit"):
        GoldProbe.fit(e[:3], gold[:3])


def test_world_inversion_recovers_the_gold_of_real_embeddings():
    world = SyntheticWorld(SyntheticWorldConfig(dim=96, noise_std=0.5))
    task = world.sample_task(0)
    fit = probe_fit(world.gold_of_embeddings, task.test)
    assert fit["correlation"] > 0.9 and fit["pairwise_accuracy"] > 0.8
    p, u = world.latents_of(task.test.embeddings[:2])
    assert p.shape == (2, 16, 4) and u.shape == (2, 16, 8)


def test_gold_function_uses_the_world_or_a_probe():
    task = load_task("synthetic", world=SMALL_WORLD)
    _, fit = gold_function(task)
    assert fit["kind"] == "world" and -1 <= fit["correlation"] <= 1
    # a task with gold-scored training responses gets a probe
    e, gold = torch.randn(60, 5), torch.randn(60)
    info = {"gold_chosen": gold[:20].tolist(), "gold_rejected": gold[20:40].tolist()}
    t = EmbeddingTask("x", PreferencePairs(e[:20], e[20:40]), BestOfNSet(torch.randn(4, 3, 5), torch.randn(4, 3)),
                      pool_embeddings=e[40:].reshape(20, 1, 5), pool_gold=gold[40:].reshape(20, 1), info=info)
    got_e, got_gold = gold_scored_responses(t)
    assert torch.equal(got_e, e) and torch.equal(got_gold, gold)
    assert gold_function(t)[1]["kind"] == "probe"
    with pytest.raises(LensInputError, match="no gold rewards"):
        gold_scored_responses(EmbeddingTask("y", t.train, t.test))


def test_order_agreement_and_theorem1_rows():
    fn = lambda e: e[:, 0]  # noqa: E731
    pairs = PreferencePairs(torch.tensor([[1.0], [0.0], [2.0]]), torch.tensor([[0.0], [1.0], [2.0]]))
    assert order_agreement(fn, pairs).tolist() == [1.0, 0.0, 0.5]
    task = load_task("synthetic", world=SMALL_WORLD)
    gold_fn, _ = gold_function(task)
    df = theorem1(task, gold_fn, [0], [0.0, 4.0], {"short": {"epochs": 2}}, ratio=4, max_pairs=100)
    assert len(df) == 2 and (df.n_pairs == 100).all()
    assert df.agreement_real.nunique() == 1 and (df.recon_heldout > 0).all()
    assert ((0 <= df.agreement_synthetic) & (df.agreement_synthetic <= 1)).all()


def test_theorem1_fits_one_vae_per_seed_and_variant(monkeypatch):
    from lens_minimal import baselines
    fits = []
    original = baselines.LensAugmenter.fit
    monkeypatch.setattr(baselines.LensAugmenter, "fit", lambda self, s: fits.append(1) or original(self, s))
    task = load_task("synthetic", world=SMALL_WORLD)
    theorem1(task, lambda e: e[:, 0], [0, 1], [0.0, 0.1, 1.0], {"a": {"epochs": 2}, "b": {"epochs": 3}}, ratio=4)
    assert len(fits) == 4

"""Annotators (simulated, label files) and text augmentation from the response pool (`text_aug`)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from lens_minimal.annotators import (AnnotatorConfig, LabelTable, SimulatedAnnotator, agreement_with_gold,
                                     candidate_pairs)
from lens_minimal.baselines import AugmentConfig, make_augmenter
from lens_minimal.data import BestOfNSet, EmbeddingTask, PreferencePairs
from lens_minimal.experiment import ExperimentConfig, run_one
from lens_minimal.config import from_dict
from lens_minimal.io import LensInputError


def pool_task(n=40, k=3, d=6, seed=0) -> EmbeddingTask:
    """Responses whose gold reward is their first coordinate, so orientation can be read off."""
    g = torch.Generator().manual_seed(seed)
    e = torch.randn((n, 2 + k, d), generator=g)
    e[:, 0, 0] = e[:, 1:, 0].max(dim=1).values + 1.0        # seed chosen is the best response
    gold = e[..., 0].clone()
    test = BestOfNSet(torch.randn((5, 4, d), generator=g), torch.randn((5, 4), generator=g))
    return EmbeddingTask("pool", PreferencePairs(e[:, 0], e[:, 1]), test, pool_embeddings=e[:, 2:], pool_gold=gold[:, 2:],
                         info={"gold_chosen": gold[:, 0].tolist(), "gold_rejected": gold[:, 1].tolist(),
                               "train_ids": [f"p{i}" for i in range(n)]})


def test_candidate_pairs_are_the_nine_non_seed_pairs_of_five():
    pairs = candidate_pairs(5)
    assert pairs.shape == (9, 2)
    assert (pairs[:, 0] < pairs[:, 1]).all() and not ((pairs[:, 0] == 0) & (pairs[:, 1] == 1)).any()
    assert len({tuple(p) for p in pairs.tolist()}) == 9


@pytest.mark.parametrize("a", [0.6, 0.8, 1.0])
def test_simulated_agreement_within_sampling_error(a):
    g = torch.Generator().manual_seed(1)
    gi, gj = torch.randn(20_000, generator=g), torch.randn(20_000, generator=g)
    rate, n = agreement_with_gold(SimulatedAnnotator(a, seed=3).label(gi, gj), gi, gj)
    assert n == 20_000
    assert abs(rate - a) <= 4 * math.sqrt(a * (1 - a) / n) + 1e-9


def test_simulated_annotator_is_seeded_and_ties_are_coins():
    gi = torch.zeros(4000)
    x = SimulatedAnnotator(1.0, seed=0).label(gi, gi)
    assert torch.equal(x, SimulatedAnnotator(1.0, seed=0).label(gi, gi))
    assert not torch.equal(x, SimulatedAnnotator(1.0, seed=1).label(gi, gi))
    assert 0.45 < x.float().mean() < 0.55


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_text_aug_shapes_orientation_and_determinism(ratio):
    task = pool_task()
    seeds = task.train.subset(torch.arange(0, 40, 2))          # a split: rows 0, 2, ..., 38
    cfg = AugmentConfig(annotator=AnnotatorConfig(agreement=1.0))
    aug = make_augmenter("text_aug", cfg, seed=0).bind(task).fit(seeds)
    out = aug.augment(seeds, ratio)
    assert len(out) == ratio * len(seeds) and int(out.is_synthetic.sum()) == (ratio - 1) * len(seeds)
    extra = out.subset(out.is_synthetic.nonzero().squeeze(1))
    assert set(extra.seed_index.tolist()) <= set(seeds.seed_index.tolist())    # no validation prompt's pool
    counts = torch.bincount(extra.seed_index, minlength=40)[seeds.seed_index]
    assert counts.max() - counts.min() <= 1                                    # spread evenly over seeds
    assert (extra.e_chosen[:, 0] >= extra.e_rejected[:, 0]).all()              # a = 1: oriented by gold
    again = make_augmenter("text_aug", cfg, seed=0).bind(task).fit(seeds).augment(seeds, ratio)
    assert torch.equal(out.e_chosen, again.e_chosen) and torch.equal(out.seed_index, again.seed_index)
    other = make_augmenter("text_aug", cfg, seed=1).bind(task).fit(seeds).augment(seeds, ratio)
    assert not torch.equal(out.e_chosen, other.e_chosen)


def test_text_aug_agreement_sets_the_share_of_flipped_pairs():
    task = pool_task(n=400)
    seeds = task.train
    aug = make_augmenter("text_aug", AugmentConfig(annotator=AnnotatorConfig(agreement=0.7)), seed=0).bind(task).fit(seeds)
    extra = aug.augment(seeds, 8)
    extra = extra.subset(extra.is_synthetic.nonzero().squeeze(1))
    right = (extra.e_chosen[:, 0] > extra.e_rejected[:, 0]).float().mean().item()
    assert abs(right - 0.7) < 4 * math.sqrt(0.21 / len(extra))


def test_text_aug_needs_a_pool_and_enough_labels(tmp_path):
    task = pool_task()
    bare = EmbeddingTask("bare", task.train, task.test)
    with pytest.raises(LensInputError, match="no response pool"):
        make_augmenter("text_aug").bind(bare)
    labels = [{"row": 0, "id": "p0", "i": 0, "j": 2, "margin": 1.0}, {"row": 2, "id": "p2", "i": 1, "j": 3, "margin": -0.5}]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"labels": labels}))
    cfg = AugmentConfig(annotator=AnnotatorConfig(kind="labels", labels_path=str(path)))
    seeds = task.train.subset(torch.tensor([0, 2]))
    out = make_augmenter("text_aug", cfg).bind(task).fit(seeds).augment(seeds, 2)
    extra = out.subset(out.is_synthetic.nonzero().squeeze(1))
    e = torch.cat([task.train.e_chosen.unsqueeze(1), task.train.e_rejected.unsqueeze(1), task.pool_embeddings], 1)
    assert sorted(map(tuple, extra.e_chosen.tolist())) == sorted([tuple(e[0, 0].tolist()), tuple(e[2, 3].tolist())])
    with pytest.raises(LensInputError, match="needs 4 labelled pool pairs"):
        make_augmenter("text_aug", cfg).bind(task).fit(seeds).augment(seeds, 3)
    path.write_text(json.dumps({"labels": [dict(labels[0], id="wrong")]}))
    with pytest.raises(LensInputError, match="does not match training row"):
        make_augmenter("text_aug", cfg).bind(task)


def test_annotator_config_errors_name_the_parameter():
    with pytest.raises(LensInputError, match="annotator.kind"):
        from_dict(ExperimentConfig, {"annotator": {"kind": "oracle"}})
    with pytest.raises(LensInputError, match="annotator.labels_path"):
        from_dict(ExperimentConfig, {"annotator": {"kind": "labels"}})
    with pytest.raises(LensInputError, match="label 0"):
        LabelTable([{"row": 0, "i": 2, "j": 1, "margin": 1.0}])


def test_run_one_with_text_aug_on_a_pool_task():
    cfg = from_dict(ExperimentConfig, {"annotator": {"agreement": 0.9}, "reward": {"max_epochs": 3}})
    row = run_one(pool_task(n=60), "text_aug", 4, seed=0, config=cfg)
    assert row["n_train_pairs"] == 4 * 54 and row["n_synthetic_pairs"] == 3 * 54   # 60 seeds, 6 held out
    assert 0.0 <= row["pairwise_accuracy"] <= 1.0

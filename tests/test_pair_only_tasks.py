"""Tasks whose test set is held-out human pairs (no gold reward), and paired gains between methods."""
import numpy as np
import pytest
import torch

from lens_minimal.config import from_dict
from lens_minimal.data import EmbeddingTask, PreferencePairs
from lens_minimal.datasets import load_task
from lens_minimal.evaluation import evaluate_reward_model, held_out_pair_scores, paired_gain_ci
from lens_minimal.experiment import ExperimentConfig, paired_gains, run_grid
from lens_minimal.io import LensInputError

FAST = {"vae": {"epochs": 5}, "reward": {"max_epochs": 5}}


class FixedScorer(torch.nn.Module):
    """Scores an embedding by its first coordinate."""

    def score(self, e):
        return e[..., 0]


def pair_task(n_train: int = 120, n_test: int = 60) -> EmbeddingTask:
    world = load_task("synthetic", world={"dim": 16, "n_train": n_train + n_test, "n_test_prompts": 4})
    pairs = world.train
    return EmbeddingTask("pairs", pairs.subset(torch.arange(n_train)),
                         pairs.subset(torch.arange(n_train, n_train + n_test)))


def test_held_out_pair_scores_right_wrong_and_ties():
    chosen = torch.tensor([[2.0], [0.0], [1.0]])
    rejected = torch.tensor([[1.0], [3.0], [1.0]])
    scores = held_out_pair_scores(FixedScorer(), PreferencePairs(chosen, rejected))
    assert scores.tolist() == [1.0, 0.0, 0.5]


def test_evaluate_on_held_out_pairs_reports_accuracy_with_interval_and_no_gold():
    chosen, rejected = torch.randn(200, 3) + torch.tensor([0.3, 0, 0]), torch.randn(200, 3)
    m = evaluate_reward_model(FixedScorer(), PreferencePairs(chosen, rejected), per_item=True)
    acc = (chosen[:, 0] > rejected[:, 0]).float().mean().item()
    assert m["pairwise_accuracy"] == pytest.approx(acc)
    assert m["pairwise_accuracy_ci_low"] < acc < m["pairwise_accuracy_ci_high"]
    assert np.isnan(m["bon_gold"]) and len(m["per_item"]) == 200


def test_task_properties_and_nested_seed_subsets():
    task = pair_task()
    assert not task.has_gold and task.primary_metric == "pairwise_accuracy"
    small = task.with_seed_pairs(50)
    assert len(small.train) == 50 and torch.equal(small.train.e_chosen, task.train.e_chosen[:50])
    with pytest.raises(LensInputError, match="2..120"):
        task.with_seed_pairs(500)
    assert load_task("synthetic", world={"dim": 16, "n_train": 50, "n_test_prompts": 4}).primary_metric == "bon_gold"


def test_paired_gain_ci_of_identical_methods_is_zero_and_detects_a_clear_gain():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, size=(3, 400)).astype(float)
    same = paired_gain_ci(a, a)
    assert same["gain"] == 0 and same["gain_ci_low"] == 0 and same["gain_ci_high"] == 0
    better = np.maximum(a, rng.integers(0, 2, size=(3, 400)))       # never worse, often better
    g = paired_gain_ci(better, a)
    assert g["gain_ci_low"] > 0 and g["n_seeds"] == 3 and g["n_items"] == 400
    with pytest.raises(LensInputError, match="differ"):
        paired_gain_ci(a, a[:, :10])


def test_grid_on_pair_task_and_paired_gains_against_none():
    cfg = from_dict(ExperimentConfig, FAST)
    df = run_grid(pair_task(), ["direct"], [1, 4], [0, 1], cfg, progress=False, per_item=True)
    assert df.bon_gold.isna().all() and df.pairwise_accuracy.between(0, 1).all()
    gains = paired_gains(df)
    assert list(gains.method) == ["direct"] and gains.n_seeds.iloc[0] == 2
    by_seed = df.set_index(["method", "seed"]).pairwise_accuracy
    expected = np.mean([by_seed["direct", s] - by_seed["none", s] for s in (0, 1)])
    assert gains.gain.iloc[0] == pytest.approx(expected)


def test_grid_with_nothing_to_run_is_a_one_line_input_error():
    with pytest.raises(LensInputError, match="nothing to run"):
        run_grid(pair_task(), ["none"], [4], [0], progress=False)

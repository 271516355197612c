import pytest
import torch
import torch.nn.functional as F

from lens_minimal.data import BestOfNSet, PreferencePairs
from lens_minimal.evaluation import best_of_n, bootstrap_ci, pairwise_accuracy
from lens_minimal.io import LensInputError
from lens_minimal.reward import RewardConfig, bradley_terry_loss, train_reward_model


def test_bt_loss_is_negative_log_sigmoid_of_margin():
    rc, rr = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.0, 1.0])
    expected = -(F.logsigmoid(torch.tensor(1.0)) + F.logsigmoid(torch.tensor(0.0)) + F.logsigmoid(torch.tensor(-2.0))) / 3
    assert bradley_terry_loss(rc, rr).item() == pytest.approx(expected.item(), rel=1e-6)


def test_label_smoothing_zero_is_exactly_bt_and_mixes_both_orders():
    rc, rr = torch.randn(50), torch.randn(50)
    assert torch.equal(bradley_terry_loss(rc, rr, 0.0), -F.logsigmoid(rc - rr).mean())
    eps = 0.2
    mixed = (1 - eps) * bradley_terry_loss(rc, rr) + eps * bradley_terry_loss(rr, rc)
    assert bradley_terry_loss(rc, rr, eps).item() == pytest.approx(mixed.item(), rel=1e-6)
    with pytest.raises(LensInputError):
        RewardConfig(label_smoothing=0.5)


def test_reward_model_learns_a_linear_preference_and_is_deterministic():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, generator=g)
    a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    better = (a @ w > b @ w)[:, None]
    pairs = PreferencePairs(torch.where(better, a, b), torch.where(better, b, a))
    tr, va = pairs.subset(torch.arange(500)), pairs.subset(torch.arange(500, 600))
    m1, h1 = train_reward_model(tr, va, RewardConfig(max_epochs=10), seed=1)
    m2, _ = train_reward_model(tr, va, RewardConfig(max_epochs=10), seed=1)
    assert h1["val_accuracy"][-1] > 0.85
    x = torch.randn(20, 8)
    assert torch.equal(m1.score(x), m2.score(x))


def test_best_of_n_and_references():
    gold = torch.tensor([[0.0, 1.0, 0.5], [2.0, 0.0, 1.0]])
    scores = torch.tensor([[0.1, 0.3, 0.2], [0.0, 5.0, 0.1]])
    out = best_of_n(scores, gold)
    assert out["bon_gold"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["bon_random"] == pytest.approx(gold.mean().item())
    assert out["bon_oracle"] == pytest.approx(1.5)
    assert best_of_n(gold, gold)["bon_gold"] == out["bon_oracle"]


def test_pairwise_accuracy_counts_only_distinct_gold_pairs():
    gold = torch.tensor([[0.0, 1.0, 1.0]])
    assert pairwise_accuracy(torch.tensor([[0.0, 1.0, 2.0]]), gold) == 1.0
    assert pairwise_accuracy(torch.tensor([[3.0, 1.0, 2.0]]), gold) == 0.0
    assert pairwise_accuracy(torch.tensor([[1.0, 1.0, 2.0]]), gold) == 0.75   # one tie in score: half right
    with pytest.raises(LensInputError):
        pairwise_accuracy(torch.zeros(1, 3), torch.ones(1, 3))


def test_bootstrap_interval_covers_the_mean_and_paired_difference():
    v = torch.randn(300, generator=torch.Generator().manual_seed(0)).numpy()
    lo, hi = bootstrap_ci(v)
    assert lo < v.mean() < hi and hi - lo < 0.4
    lo_d, hi_d = bootstrap_ci(v + 1.0, v)
    assert lo_d == pytest.approx(1.0) and hi_d == pytest.approx(1.0)


def test_bestofn_set_validates_shapes():
    with pytest.raises(LensInputError, match="gold"):
        BestOfNSet(torch.randn(2, 3, 4), torch.randn(2, 4))
    with pytest.raises(LensInputError, match="shape"):
        BestOfNSet(torch.randn(6, 4), torch.randn(2, 3))


def _linear_pairs(n=300, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)
    a, b = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    better = (a @ w > b @ w)[:, None]
    pairs = PreferencePairs(torch.where(better, a, b), torch.where(better, b, a))
    return pairs.subset(torch.arange(n - 50)), pairs.subset(torch.arange(n - 50, n))


def test_without_early_stopping_every_epoch_runs_and_the_last_is_kept():
    tr, va = _linear_pairs()
    cfg = RewardConfig(max_epochs=6, patience=1, early_stopping=False, batch_size=50)
    model, hist = train_reward_model(tr, va, cfg, seed=0)
    assert len(hist["val_loss"]) == 6 and hist["kept_epoch"] == [6]
    assert hist["steps"] == [5 * (i + 1) for i in range(6)]               # 250 pairs / 50 per step
    # the returned model is the last epoch's: its validation loss is the last one recorded
    from lens_minimal.reward import evaluate_pairs
    assert evaluate_pairs(model, va)[0] == pytest.approx(hist["val_loss"][-1], rel=1e-6)
    # with early stopping the kept epoch is the best one
    model_es, hist_es = train_reward_model(tr, va, RewardConfig(max_epochs=6, patience=1, batch_size=50), seed=0)
    best = int(torch.tensor(hist_es["val_loss"]).argmin()) + 1
    assert hist_es["kept_epoch"] == [best]
    assert evaluate_pairs(model_es, va)[0] == pytest.approx(min(hist_es["val_loss"]), rel=1e-6)


def test_reward_config_rejects_nonsense():
    for bad in ({"max_epochs": 0}, {"patience": 0}, {"max_steps_per_epoch": 0}, {"dropout": 1.0}):
        with pytest.raises(LensInputError, match="RewardConfig"):
            RewardConfig(**bad)

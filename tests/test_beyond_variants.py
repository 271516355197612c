"""Beyond-the-paper variants: preference-aware noise, discrete codes, pair filters, per-pair trust."""
import pytest
import torch

from lens_minimal.baselines import VARIANTS, AugmentConfig, make_augmenter, trust_synthetic
from lens_minimal.codes import CodeVAEConfig, code_sides, resample_codes, train_code_vae
from lens_minimal.data import PreferencePairs
from lens_minimal.datasets import load_task
from lens_minimal.directional import directional_sides, preference_directions, shaped_noise
from lens_minimal.experiment import ExperimentConfig, run_ratios
from lens_minimal.config import from_dict
from lens_minimal.io import LensInputError
from lens_minimal.pair_filter import agreement_filter, keep_synthetic, ot_filter, sinkhorn_log
from lens_minimal.reward import RewardConfig, bradley_terry_loss, evaluate_pairs, train_reward_model
from lens_minimal.synthesis import SynthesisConfig
from lens_minimal.vae import VAEConfig, train_vae

SMALL_WORLD = {"dim": 48, "n_train": 120, "n_test_prompts": 20, "n_candidates": 8}
FAST = AugmentConfig(vae=VAEConfig(epochs=3), codes=CodeVAEConfig(epochs=3))


def separated_pairs(n=60, d=16, seed=0) -> PreferencePairs:
    """Chosen embeddings offset by +4 in dimension 0: the preference is visible in one coordinate."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn((n, d), generator=g)
    shift = torch.zeros(d)
    shift[0] = 4.0
    return PreferencePairs(base + shift + 0.3 * torch.randn((n, d), generator=g), base + 0.3 * torch.randn((n, d), generator=g))


# ----------------------------------------------------------------------------- every variant

@pytest.mark.parametrize("method", sorted(VARIANTS))
@pytest.mark.parametrize("ratio", [1, 4, 8])
def test_every_variant_gives_ratio_times_n_deterministically(method, ratio):
    task = load_task("synthetic", world=SMALL_WORLD)
    a = make_augmenter(method, FAST, seed=0).fit(task.train).augment(task.train, ratio)
    b = make_augmenter(method, FAST, seed=0).fit(task.train).augment(task.train, ratio)
    assert len(a) == ratio * len(task.train) and int(a.is_synthetic.sum()) == (ratio - 1) * len(task.train)
    assert a.e_chosen.shape == (ratio * len(task.train), 48)
    assert torch.equal(a.e_chosen, b.e_chosen) and torch.equal(a.e_rejected, b.e_rejected)
    assert torch.equal(a.e_chosen[~a.is_synthetic], task.train.e_chosen)   # originals first, untouched


@pytest.mark.parametrize("method", sorted(VARIANTS))
def test_synthetic_pairs_keep_the_orientation_of_their_seed(method):
    seeds = separated_pairs()
    cfg = AugmentConfig(vae=VAEConfig(epochs=60), codes=CodeVAEConfig(epochs=60))
    out = make_augmenter(method, cfg, seed=0).fit(seeds).augment(seeds, 4)
    gap = (out.e_chosen - out.e_rejected)[out.is_synthetic, 0]     # the preferred coordinate
    assert (gap > 0).float().mean() > 0.95


def test_seed_indices_of_variants_refer_to_the_callers_rows():
    task = load_task("synthetic", world=SMALL_WORLD)
    subset = task.train.subset(torch.arange(50, 80))
    for method in sorted(VARIANTS):
        out = make_augmenter(method, FAST).fit(subset).augment(subset, 4)
        assert set(out.seed_index.tolist()) <= set(range(50, 80)), method


# ----------------------------------------------------------------------------- preference-aware noise

def test_preference_directions_are_unit_and_zero_for_identical_sides():
    mu_c, mu_r = torch.tensor([[3.0, 4.0], [1.0, 1.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    u = preference_directions(mu_c, mu_r)
    assert torch.allclose(u[0], torch.tensor([0.6, 0.8])) and torch.equal(u[1], torch.zeros(2))


def test_orthogonal_noise_leaves_the_contrast_along_u_unchanged():
    u = preference_directions(torch.randn(5, 8), torch.randn(5, 8))
    eta = shaped_noise(u, 32, 0.5, "orthogonal", 1.0, torch.Generator().manual_seed(0))   # (5, 32, 8)
    assert eta.shape == (5, 32, 8)
    assert (eta * u.unsqueeze(1)).sum(-1).abs().max() < 1e-5
    assert eta.norm(dim=-1).mean() > 1.0    # not trivially zero


def test_along_noise_pushes_chosen_forward_and_rejected_back():
    u = preference_directions(torch.randn(5, 8), torch.randn(5, 8))
    g = torch.Generator().manual_seed(0)
    plus, minus = shaped_noise(u, 16, 0.1, "along", 1.0, g), shaped_noise(u, 16, 0.1, "along", -1.0, g)
    assert ((plus * u.unsqueeze(1)).sum(-1) >= 0).all() and ((minus * u.unsqueeze(1)).sum(-1) <= 0).all()
    residual = plus - (plus * u.unsqueeze(1)).sum(-1, keepdim=True) * u.unsqueeze(1)
    assert residual.abs().max() < 1e-5     # only along u
    with pytest.raises(LensInputError, match="direction"):
        shaped_noise(u, 4, 0.1, "sideways", 1.0, g)


def test_directional_sides_shapes_and_determinism():
    seeds = separated_pairs()
    vae, _ = train_vae(seeds.e_chosen, seeds.e_rejected, VAEConfig(epochs=3))
    for direction in ("orthogonal", "along"):
        a = directional_sides(vae, seeds.e_chosen, seeds.e_rejected, 3, SynthesisConfig(), direction, torch.Generator().manual_seed(1))
        b = directional_sides(vae, seeds.e_chosen, seeds.e_rejected, 3, SynthesisConfig(), direction, torch.Generator().manual_seed(1))
        assert a[0].shape == a[1].shape == (60, 3, 16)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ----------------------------------------------------------------------------- discrete codes

def test_resampled_codes_differ_from_the_seed_code_in_exactly_resample_codebooks():
    q = torch.softmax(torch.randn(10, 4, 6), -1)
    for resample in (1, 2):
        seed_code, new = resample_codes(q, 5, resample, torch.Generator().manual_seed(0))
        assert seed_code.shape == (10, 4, 6) and new.shape == (10, 5, 4, 6)
        assert torch.equal(seed_code.argmax(-1), q.argmax(-1))
        assert (new.sum(-1) == 1).all()                                    # one-hot
        changed = (new.argmax(-1) != seed_code.argmax(-1).unsqueeze(1)).sum(-1)
        assert (changed == resample).all()


def test_code_vae_trains_deterministically_and_residual_synthesis_moves_by_the_decoded_change():
    seeds = separated_pairs()
    cfg = CodeVAEConfig(epochs=20, n_codes=3, n_categories=4)
    m1, h1 = train_code_vae(seeds.e_chosen, seeds.e_rejected, cfg, seed=0)
    m2, _ = train_code_vae(seeds.e_chosen, seeds.e_rejected, cfg, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert h1["loss"][-1] < h1["loss"][0]
    c, r = code_sides(m1, seeds.e_chosen, seeds.e_rejected, 2, torch.Generator().manual_seed(0))
    assert c.shape == r.shape == (60, 2, 16)
    # residual: e + g(c') - g(c), so the displacement does not depend on e beyond its code
    seed_code, new = resample_codes(torch.softmax(m1.logits(seeds.e_chosen), -1), 2, 1, torch.Generator().manual_seed(0))
    expected = seeds.e_chosen.unsqueeze(1) + m1.decode(new.reshape(120, 3, 4)).reshape(60, 2, -1) - m1.decode(seed_code).unsqueeze(1)
    assert torch.allclose(c, expected.detach(), atol=1e-5)


def test_code_config_errors_name_the_field():
    with pytest.raises(LensInputError, match="resample"):
        CodeVAEConfig(n_codes=2, resample=3)
    with pytest.raises(LensInputError, match="n_categories"):
        CodeVAEConfig(n_categories=1)


# ----------------------------------------------------------------------------- pair filters

def _with_synthetic(real: PreferencePairs, synth: PreferencePairs) -> PreferencePairs:
    n, m = len(real), len(synth)
    return PreferencePairs(torch.cat([real.e_chosen, synth.e_chosen]), torch.cat([real.e_rejected, synth.e_rejected]),
                           torch.cat([torch.arange(n), torch.arange(m) % n]),
                           torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(m, dtype=torch.bool)]))


def test_keep_synthetic_keeps_the_originals_and_the_lowest_scores():
    real = separated_pairs(n=10)
    pairs = _with_synthetic(real, separated_pairs(n=20, seed=1))
    score = torch.arange(20.0).flip(0)               # the last synthetic rows score lowest
    out = keep_synthetic(pairs, score, 5)
    assert len(out) == 15 and int(out.is_synthetic.sum()) == 5
    assert torch.equal(out.e_chosen[:10], real.e_chosen)
    assert torch.equal(out.e_chosen[10:], pairs.e_chosen[25:30])
    with pytest.raises(LensInputError, match="cannot keep"):
        keep_synthetic(pairs, score, 21)


def test_sinkhorn_plan_has_uniform_marginals():
    cost = torch.rand(7, 5)
    plan = sinkhorn_log(cost, 0.1, 500)
    assert torch.allclose(plan.sum(1), torch.full((7,), 1 / 7), atol=1e-4)
    assert torch.allclose(plan.sum(0), torch.full((5,), 1 / 5), atol=1e-4)


def test_ot_filter_keeps_the_synthetic_pairs_close_to_the_real_ones():
    real = separated_pairs(n=40)
    near = PreferencePairs(real.e_chosen + 0.05, real.e_rejected - 0.05)
    far = PreferencePairs(real.e_chosen + 6.0, real.e_rejected + 6.0)
    pairs = _with_synthetic(real, PreferencePairs(torch.cat([far.e_chosen, near.e_chosen]), torch.cat([far.e_rejected, near.e_rejected])))
    out = ot_filter(pairs, real, 40)
    kept = out.e_chosen[out.is_synthetic]
    assert torch.allclose(kept, near.e_chosen)


def test_agreement_filter_keeps_the_largest_margins_under_the_judge():
    real = separated_pairs(n=10)
    synth = separated_pairs(n=30, seed=2)
    synth = PreferencePairs(torch.cat([synth.e_chosen[:15], synth.e_rejected[15:]]),
                            torch.cat([synth.e_rejected[:15], synth.e_chosen[15:]]))   # last 15 flipped
    pairs = _with_synthetic(real, synth)
    judge = lambda e: e[:, 0]                                                            # noqa: E731
    out = agreement_filter(pairs, judge, 12)
    margin_kept = judge(out.e_chosen[out.is_synthetic]) - judge(out.e_rejected[out.is_synthetic])
    all_margins = judge(synth.e_chosen) - judge(synth.e_rejected)
    assert (margin_kept > 0).all()
    assert margin_kept.min() >= all_margins.sort(descending=True).values[11] - 1e-6


# ----------------------------------------------------------------------------- trust less what is synthetic

def test_trust_synthetic_touches_only_synthetic_pairs_and_survives_subset_and_files(tmp_path):
    real = separated_pairs(n=10)
    pairs = trust_synthetic(_with_synthetic(real, separated_pairs(n=20, seed=1)), weight=0.25, label=0.8)
    assert torch.equal(pairs.weight, torch.cat([torch.ones(10), torch.full((20,), 0.25)]))
    assert torch.allclose(pairs.label, torch.cat([torch.ones(10), torch.full((20,), 0.8)]))
    assert not pairs.trusted_fully and real.trusted_fully
    sub = pairs.subset(torch.tensor([0, 15]))
    assert sub.weight.tolist() == [1.0, 0.25]
    pairs.save(tmp_path / "p.safetensors")
    back = PreferencePairs.load(tmp_path / "p.safetensors")
    assert torch.equal(back.weight, pairs.weight) and torch.equal(back.label, pairs.label)


def test_bad_weights_and_labels_are_clear_errors():
    e = torch.randn(3, 4)
    with pytest.raises(LensInputError, match="label"):
        PreferencePairs(e, e, label=torch.tensor([1.0, 0.3, 1.0]))
    with pytest.raises(LensInputError, match="weight"):
        PreferencePairs(e, e, weight=torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(LensInputError, match="weight"):
        PreferencePairs(e, e, weight=torch.ones(2))


def test_weighted_soft_label_loss_matches_its_definition():
    rc, rr = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 0.5])
    w, y = torch.tensor([1.0, 0.5, 0.0]), torch.tensor([1.0, 0.9, 0.7])
    m = rc - rr
    p = 0.9 * y + 0.1 * (1 - y)
    per = -(p * torch.nn.functional.logsigmoid(m) + (1 - p) * torch.nn.functional.logsigmoid(-m))
    assert torch.allclose(bradley_terry_loss(rc, rr, 0.1, w, y), (w * per).sum() / w.sum())
    ones = torch.ones(3)
    assert torch.allclose(bradley_terry_loss(rc, rr, 0.1, ones, ones), bradley_terry_loss(rc, rr, 0.1))


def test_zero_weight_removes_flipped_synthetic_pairs_from_training():
    real = separated_pairs(n=80, d=8)
    flipped = PreferencePairs(real.e_rejected.repeat(3, 1), real.e_chosen.repeat(3, 1))   # wrong labels
    pairs = _with_synthetic(real, flipped)
    val = separated_pairs(n=40, d=8, seed=5)
    cfg = RewardConfig(max_epochs=15, patience=15, hidden_dim=0, lr=0.05)
    trusting, _ = train_reward_model(pairs, val, cfg, seed=0)
    ignoring, _ = train_reward_model(trust_synthetic(pairs, weight=0.0), val, cfg, seed=0)
    assert evaluate_pairs(ignoring, val)[1] > 0.9 > evaluate_pairs(trusting, val)[1]


# ----------------------------------------------------------------------------- sharing a VAE

def test_a_shared_vae_gives_the_numbers_of_separate_runs():
    task = load_task("synthetic", world=SMALL_WORLD)
    cfg = from_dict(ExperimentConfig, {"vae": {"epochs": 3}, "reward": {"max_epochs": 2}})
    cache: dict = {}
    first = run_ratios(task, "lens", [4], 0, cfg, vae_cache=cache)
    shared = run_ratios(task, "lens_orthogonal", [4], 0, cfg, vae_cache=cache)
    alone = run_ratios(task, "lens_orthogonal", [4], 0, cfg)
    assert len(cache) == 1 and first[0]["bon_gold"] == run_ratios(task, "lens", [4], 0, cfg)[0]["bon_gold"]
    assert shared[0]["bon_gold"] == alone[0]["bon_gold"] and shared[0]["pairwise_accuracy"] == alone[0]["pairwise_accuracy"]

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from lens_minimal.io import LensInputError
from lens_minimal.vae import (PreferenceVAE, VAEConfig, count_parameters, kl_to_standard_normal, train_vae,
                              w2_distance, w2_squared)


def test_w2_closed_form_matches_sorted_sample_estimate():
    # For product measures W2^2 is the sum over dimensions of 1-D W2^2, and 1-D optimal transport
    # between samples is the monotone (sorted) matching.
    g = torch.Generator().manual_seed(0)
    mu_a, mu_b = torch.tensor([[0.3, -1.0, 2.0]]), torch.tensor([[-0.5, 0.4, 2.5]])
    lv_a, lv_b = torch.tensor([[0.0, -1.0, 0.5]]), torch.tensor([[0.7, -0.2, -1.5]])
    n = 400_000
    xa = mu_a + (0.5 * lv_a).exp() * torch.randn(n, 3, generator=g, dtype=torch.float64)
    xb = mu_b + (0.5 * lv_b).exp() * torch.randn(n, 3, generator=g, dtype=torch.float64)
    estimate = (xa.sort(0).values - xb.sort(0).values).pow(2).mean(0).sum()
    exact = w2_squared(mu_a, lv_a, mu_b, lv_b).item()
    assert abs(estimate.item() - exact) < 0.01 * exact
    assert w2_distance(mu_a, lv_a, mu_b, lv_b).item() == pytest.approx(exact ** 0.5, rel=1e-6)


def test_w2_is_zero_for_identical_and_symmetric():
    mu, lv = torch.randn(5, 4), torch.randn(5, 4)
    assert torch.allclose(w2_squared(mu, lv, mu, lv), torch.zeros(5))
    mu2, lv2 = torch.randn(5, 4), torch.randn(5, 4)
    assert torch.allclose(w2_squared(mu, lv, mu2, lv2), w2_squared(mu2, lv2, mu, lv))


def test_kl_matches_torch_distributions():
    mu, lv = torch.randn(6, 16), torch.randn(6, 16)
    ref = kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(torch.zeros(16), torch.ones(16))).sum(-1)
    assert torch.allclose(kl_to_standard_normal(mu, lv), ref, atol=1e-5)


def test_paper_sized_vae_has_about_half_a_million_parameters():
    n = count_parameters(PreferenceVAE(4096, VAEConfig()))
    assert 500_000 < n < 560_000


def test_shapes_and_loss_parts():
    vae = PreferenceVAE(32, VAEConfig(latent_dim=5, hidden_dim=8))
    e = torch.randn(10, 32)
    mu, lv = vae.encode(e)
    assert mu.shape == lv.shape == (10, 5)
    assert vae.decode(mu).shape == (10, 32)
    parts = vae.loss(e[:5], e[5:])
    assert set(parts) == {"loss", "recon", "kl", "w2"} and all(p.ndim == 0 for p in parts.values())


def test_divergence_term_separates_pairs():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(200, 24, generator=g)
    ec, er = base + 0.2 * torch.randn(200, 24, generator=g), base + 0.2 * torch.randn(200, 24, generator=g)
    cfg = dict(latent_dim=4, hidden_dim=16, epochs=60)
    _, h0 = train_vae(ec, er, VAEConfig(gamma=0.0, **cfg), seed=0)
    _, h1 = train_vae(ec, er, VAEConfig(gamma=1.0, **cfg), seed=0)
    assert h1["w2"][-1] > 1.5 * h0["w2"][-1]


def test_training_is_deterministic_under_a_seed():
    e = torch.randn(64, 16)
    cfg = VAEConfig(latent_dim=3, hidden_dim=8, epochs=3)
    a, _ = train_vae(e[:32], e[32:], cfg, seed=7)
    b, _ = train_vae(e[:32], e[32:], cfg, seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("bad", [{"divergence": "kl"}, {"latent_dim": 0}, {"gamma": -1.0}])
def test_bad_config_is_rejected(bad):
    with pytest.raises(LensInputError):
        VAEConfig(**bad)


def test_bad_embeddings_are_rejected():
    e = torch.randn(8, 4)
    bad = e.clone(); bad[3, 1] = float("nan")
    with pytest.raises(LensInputError, match="row 3"):
        train_vae(bad, e, VAEConfig(epochs=1))
    with pytest.raises(LensInputError, match="dimension"):
        train_vae(e, torch.randn(8, 5), VAEConfig(epochs=1))

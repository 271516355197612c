import pytest
import torch

from lens_minimal.data import PreferencePairs
from lens_minimal.io import LensInputError
from lens_minimal.synthesis import (SynthesisConfig, combinatorial_pairs, synthesize, synthesize_side, synthetic_per_side,
                                    topk_by_likelihood)
from lens_minimal.vae import PreferenceVAE, VAEConfig


def tagged(n, k1, sign):
    """(n, k1, 3) embeddings whose entries record (seed, slot, side)."""
    i, j = torch.meshgrid(torch.arange(n), torch.arange(k1), indexing="ij")
    return torch.stack([i.float(), j.float(), torch.full((n, k1), float(sign))], -1)


@pytest.mark.parametrize("ratio", [1, 2, 4, 8, 9])
def test_pairing_counts_orientation_and_seed_memory(ratio):
    n = 7
    k = synthetic_per_side(ratio)
    g = torch.Generator().manual_seed(0)
    out = combinatorial_pairs(tagged(n, k + 1, +1), tagged(n, k + 1, -1), ratio, g)
    assert len(out) == ratio * n
    assert int(out.is_synthetic.sum()) == (ratio - 1) * n
    assert (out.e_chosen[:, 2] == 1).all() and (out.e_rejected[:, 2] == -1).all()     # orientation kept
    assert torch.equal(out.e_chosen[:, 0].long(), out.seed_index)                     # same seed pair
    assert torch.equal(out.e_rejected[:, 0].long(), out.seed_index)
    syn = out.is_synthetic
    assert not ((out.e_chosen[syn, 1] == 0) & (out.e_rejected[syn, 1] == 0)).any()    # original never repeated
    combos = {(int(s), int(a), int(b)) for s, a, b in zip(out.seed_index[syn], out.e_chosen[syn, 1], out.e_rejected[syn, 1])}
    assert len(combos) == (ratio - 1) * n                                              # drawn without replacement


def test_too_few_combinations_is_an_error():
    with pytest.raises(LensInputError, match="top_k"):
        synthetic_per_side(8, top_k=1)


def test_topk_keeps_the_highest_likelihood():
    mu, logvar = torch.zeros(1, 2), torch.zeros(1, 2)
    cands = torch.tensor([[[3.0, 0.0], [0.1, 0.0], [1.0, 1.0], [0.0, 0.5], [2.0, 2.0]]])
    kept = topk_by_likelihood(cands, mu, logvar, 2, "posterior")
    assert torch.equal(kept[0], torch.tensor([[0.1, 0.0], [0.0, 0.5]]))
    # a wide posterior along dimension 0 makes displacement there cheap
    kept = topk_by_likelihood(cands, mu, torch.tensor([[6.0, 0.0]]), 1, "posterior")
    assert torch.equal(kept[0], torch.tensor([[0.1, 0.0]])) or torch.equal(kept[0], torch.tensor([[3.0, 0.0]]))
    kept_prior = topk_by_likelihood(cands, torch.full((1, 2), 5.0), logvar, 1, "prior")
    assert torch.equal(kept_prior[0], torch.tensor([[0.1, 0.0]]))


def test_synthesize_end_to_end_is_deterministic_and_counts():
    torch.manual_seed(0)
    vae = PreferenceVAE(12, VAEConfig(latent_dim=3, hidden_dim=8)).eval()
    seeds = PreferencePairs(torch.randn(20, 12), torch.randn(20, 12))
    a = synthesize(vae, seeds, 4, SynthesisConfig(sigma2=0.01), seed=3)
    b = synthesize(vae, seeds, 4, SynthesisConfig(sigma2=0.01), seed=3)
    assert len(a) == 80 and torch.equal(a.e_chosen, b.e_chosen) and torch.equal(a.e_rejected, b.e_rejected)
    assert torch.equal(a.e_chosen[:20], seeds.e_chosen)        # originals first, unchanged
    assert synthesize(vae, seeds, 1) is seeds


def test_zero_noise_synthesis_decodes_the_posterior_mean():
    torch.manual_seed(0)
    vae = PreferenceVAE(6, VAEConfig(latent_dim=2, hidden_dim=4)).eval()
    seeds = PreferencePairs(torch.randn(5, 6), torch.randn(5, 6))
    out = synthesize(vae, seeds, 2, SynthesisConfig(sigma2=0.0), seed=0)
    with torch.no_grad():
        rec_c, rec_r = vae.decode(vae.encode(seeds.e_chosen)[0]), vae.decode(vae.encode(seeds.e_rejected)[0])
    syn = out.is_synthetic
    for c, r, s in zip(out.e_chosen[syn], out.e_rejected[syn], out.seed_index[syn]):
        assert torch.allclose(c, rec_c[s], atol=1e-5) or torch.allclose(c, seeds.e_chosen[s])
        assert torch.allclose(r, rec_r[s], atol=1e-5) or torch.allclose(r, seeds.e_rejected[s])


@pytest.mark.parametrize("bad", [{"sigma2": -1.0}, {"filter_likelihood": "max"}, {"n_candidates": 0}])
def test_bad_synthesis_config(bad):
    with pytest.raises(LensInputError):
        SynthesisConfig(**bad)


@pytest.mark.parametrize("ratio", [0, 2.5, -1])
def test_bad_ratio(ratio):
    seeds = PreferencePairs(torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(LensInputError, match="ratio"):
        synthesize(PreferenceVAE(4), seeds, ratio)


def test_residual_decode_keeps_the_seed_and_moves_it_by_the_decoded_change():
    torch.manual_seed(0)
    vae = PreferenceVAE(12, VAEConfig(latent_dim=3, hidden_dim=8)).eval()
    e = torch.randn(5, 12)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    # no noise: the residual decode returns the seed exactly, the paper's decode returns g(mu(e)) != e
    still = synthesize_side(vae, e, 2, SynthesisConfig(sigma2=0.0, decode="residual"), g())
    assert torch.allclose(still, e.unsqueeze(1).expand(-1, 2, -1), atol=1e-5)
    generated = synthesize_side(vae, e, 2, SynthesisConfig(sigma2=0.0), g())
    assert not torch.allclose(generated, e.unsqueeze(1).expand(-1, 2, -1), atol=1e-2)
    # with noise: residual minus generate is the same offset e - g(mu(e)) for every candidate of a seed
    res = synthesize_side(vae, e, 3, SynthesisConfig(sigma2=0.5, decode="residual"), g())
    gen = synthesize_side(vae, e, 3, SynthesisConfig(sigma2=0.5), g())
    with torch.no_grad():
        offset = e - vae.decode(vae.encode(e)[0])
    assert torch.allclose(res - gen, offset.unsqueeze(1).expand(-1, 3, -1), atol=1e-5)
    with pytest.raises(LensInputError, match="decode"):
        SynthesisConfig(decode="copy")

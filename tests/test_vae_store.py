"""The VAE store of the book build: a stored fit gives exactly the numbers of a fresh one."""
import torch

from lens_minimal import vae_store
from lens_minimal.experiment import ExperimentConfig, run_one
from lens_minimal.vae import VAEConfig, train_vae
from lens_minimal.worlds.synthetic import SyntheticWorldConfig, make_synthetic_task

CONFIG = VAEConfig(epochs=3)


def _pairs(seed=0, n=40, d=12):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def test_store_off_by_default_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(vae_store.ENV, raising=False)
    assert vae_store.folder() is None
    train_vae(*_pairs(), CONFIG, seed=0)
    assert not any(tmp_path.iterdir())


def test_hit_restores_weights_history_and_rng(tmp_path, monkeypatch):
    monkeypatch.setenv(vae_store.ENV, str(tmp_path))
    c, r = _pairs()
    fresh, history = train_vae(c, r, CONFIG, seed=3)
    after_fresh = torch.rand(5)
    assert len(list(tmp_path.glob("*.pt"))) == 1

    calls = []
    monkeypatch.setattr(torch.optim.Adam, "step", lambda *a, **k: calls.append(1))   # a hit must not train
    loaded, history2 = train_vae(c, r, CONFIG, seed=3)
    assert calls == []
    assert history2 == history
    for (k, a), (_, b) in zip(fresh.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert torch.equal(torch.rand(5), after_fresh)      # global RNG left as training left it


def test_other_data_config_or_seed_miss(tmp_path, monkeypatch):
    monkeypatch.setenv(vae_store.ENV, str(tmp_path))
    c, r = _pairs()
    train_vae(c, r, CONFIG, seed=0)
    train_vae(c, r, CONFIG, seed=1)
    train_vae(c, r, VAEConfig(epochs=3, gamma=0.5), seed=0)
    c2 = c.clone()
    c2[0, 0] += 1e-3
    train_vae(c2, r, CONFIG, seed=0)
    assert len(list(tmp_path.glob("*.pt"))) == 4


def test_disabled_trains_for_real(tmp_path, monkeypatch):
    monkeypatch.setenv(vae_store.ENV, str(tmp_path))
    c, r = _pairs()
    with vae_store.disabled():
        assert vae_store.folder() is None
        train_vae(c, r, CONFIG, seed=0)
    assert not any(tmp_path.iterdir())
    assert vae_store.folder() == tmp_path


def test_run_one_same_numbers_with_store(tmp_path, monkeypatch):
    task = make_synthetic_task(SyntheticWorldConfig(dim=16, n_train=60, n_test_prompts=8))
    cfg = ExperimentConfig(vae=VAEConfig(epochs=4))
    cfg.reward.max_epochs = 3
    monkeypatch.delenv(vae_store.ENV, raising=False)
    plain = run_one(task, "lens", 4, seed=1, config=cfg)
    monkeypatch.setenv(vae_store.ENV, str(tmp_path))
    first = run_one(task, "lens", 4, seed=1, config=cfg)
    stored = run_one(task, "lens", 4, seed=1, config=cfg)   # loaded from the store
    keys = ("bon_gold", "pairwise_accuracy", "epochs", "n_train_pairs")
    assert [plain[k] for k in keys] == [first[k] for k in keys] == [stored[k] for k in keys]

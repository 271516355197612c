"""Re-embedding a shipped task's texts with another model or a seeded random init (representation ablation)."""
import json

import pytest
import torch

from lens_minimal.datasets import load_task
from lens_minimal.io import LensInputError, write_json
from lens_minimal.text import embeddings
from lens_minimal.text.reembed import (build_reembedded, load_reembedded_task, random_model, task_texts,
                                       weights_checksum)
from lens_minimal.text.shards import gzip_jsonl, shard_paths

TRAIN = [{"id": f"t{i}", "prompt": "write a short poem", "responses": ["a good poem", "bad", "the cat . dog"][i % 3:] +
          ["hello you", "no"], "gold": [0.9, 0.1, 0.5, 0.4, 0.0][: 5 - i % 3], "chosen": 0, "rejected": 1}
         for i in range(4)]
TEST = [{"id": f"s{i}", "prompt": "what is a dog ?", "responses": ["a dog is good", "no", "i help"],
         "gold": [1.0, 0.0, 0.5]} for i in range(3)]


def fake_shipped(data):
    """A shipped task 'fake' with one train and one test shard (text only: what re-embedding reads)."""
    files = {}
    for split, rows in (("train", TRAIN), ("test", TEST)):
        path = shard_paths(data, "fake", split, 0)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip_jsonl(rows))
        files[f"{split}/{path.name}"] = "x"
    write_json(data / "fake" / "manifest.json", {"config_key": "k", "counts": {"test_prompts": len(TEST)},
                                                 "files": files, "shards": {"train": 1, "test": 1}})
    return data


def test_random_init_is_seeded_and_differs_from_the_trained_weights(tiny_model_dir, tiny_lm):
    a, _ = random_model(str(tiny_model_dir), seed=3)
    b, _ = random_model(str(tiny_model_dir), seed=3)
    c, _ = random_model(str(tiny_model_dir), seed=4)
    assert weights_checksum(a) == weights_checksum(b) != weights_checksum(c)
    assert weights_checksum(a) != weights_checksum(tiny_lm[0])


def test_build_resume_and_load(tmp_path, tiny_model_dir, monkeypatch):
    data, work = fake_shipped(tmp_path / "data"), tmp_path / "work"
    manifest = build_reembedded("fake", str(tiny_model_dir), random_init=True, seed=3, data_dir=data,
                                work_dir=work, chunk_size=3, progress=False)
    task = load_reembedded_task("fake", "random_init", data_dir=data)
    assert len(task.train) == 4 and tuple(task.test.embeddings.shape) == (3, 3, task.dim)
    assert task.test.gold[0].tolist() == [1.0, 0.0, 0.5] and task.info["gold_chosen"][0] == pytest.approx(0.9)
    meta = json.loads(manifest.read_text())
    assert meta["seed"] == 3 and meta["random_init"] and meta["subset"] is None
    # the stored vectors are those of the seeded random model, in storage order (float16)
    model, tok = random_model(str(tiny_model_dir), seed=3)
    e = embeddings.extract_embeddings(model, tok, task_texts(tok, TRAIN, TEST), layers=(-1,), progress=False)[-1]
    assert torch.allclose(task.train.e_rejected, e[1:8:2].half().float())
    assert torch.allclose(task.test.embeddings[-1, -1], e[-1].half().float())
    # resumable: a lost chunk is recomputed, the others are reused, and the file comes out the same
    before = (data / "reembedded" / "fake" / "random_init.safetensors").read_bytes()
    (work / "chunk-000003.safetensors").unlink()
    calls = []
    real = embeddings.extract_embeddings
    monkeypatch.setattr(embeddings, "extract_embeddings", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    build_reembedded("fake", str(tiny_model_dir), random_init=True, seed=3, data_dir=data, work_dir=work,
                     chunk_size=3, progress=False)
    assert calls == [3] and (data / "reembedded" / "fake" / "random_init.safetensors").read_bytes() == before
    # a prefix subset of the test prompts reuses the same chunks
    calls.clear()
    build_reembedded("fake", str(tiny_model_dir), random_init=True, seed=3, label="sub", n_test_prompts=1,
                     data_dir=data, work_dir=work, chunk_size=3, progress=False)
    sub = load_reembedded_task("fake", "sub", data_dir=data)
    assert calls == [2] and sub.test.n_prompts == 1 and "first 1 of 3" in sub.info["subset"]


def test_pretrained_model_and_errors(tmp_path, tiny_model_dir):
    data = fake_shipped(tmp_path / "data")
    build_reembedded("fake", str(tiny_model_dir), label="tiny", data_dir=data, work_dir=tmp_path / "w",
                     chunk_size=5, progress=False)
    assert load_reembedded_task("fake", "tiny", data_dir=data).info["manifest"]["init"] == "pretrained weights"
    with pytest.raises(LensInputError, match=r"no re-embedding 'other' \(found: \['tiny'\]\).*--label other"):
        load_reembedded_task("fake", "other", data_dir=data)
    path = data / "reembedded" / "fake" / "tiny.safetensors"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(LensInputError, match="sha256 differs"):
        load_reembedded_task("fake", "tiny", data_dir=data)
    with pytest.raises(LensInputError, match="not a plain name"):
        load_reembedded_task("fake", "../x", data_dir=data)
    with pytest.raises(LensInputError, match="n_test_prompts"):
        build_reembedded("fake", str(tiny_model_dir), label="t2", n_test_prompts=9, data_dir=data, progress=False)


def test_load_task_routes_other_layers_to_reembeddings():
    with pytest.raises(LensInputError, match="no re-embedding 'no-such-model'"):
        load_task("instructions", layer="no-such-model")

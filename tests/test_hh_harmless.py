"""The shipped HH-RLHF dataset `hh-harmless`: source checksum, split, embeddings reproducible, and
the builder (resume, same bytes) and data card on a tiny random Llama."""
import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from lens_minimal import paths
from lens_minimal.datasets import load_task
from lens_minimal.io import LensInputError, sha256_file
from lens_minimal.text import hh_harmless as hh
from lens_minimal.text.shards import shard_paths

FOLDER = paths.DATA_DIR / hh.NAME


def test_shipped_source_licence_and_checksum():
    assert sha256_file(FOLDER / hh.SOURCE_FILE) == hh.SOURCE_SHA256
    assert "MIT" in (FOLDER / hh.LICENSE_FILE).read_text()
    card = (FOLDER / "README.md").read_text()
    assert "Content warning" in card and "2204.05862" in card


def test_split_sizes_disjoint_and_deterministic():
    split = json.loads((FOLDER / "split.json").read_text())
    assert len(split["train"]) == 1000 and len(split["test"]) == 1312
    assert set(split["train"]).isdisjoint(split["test"])
    assert sorted(split["train"] + split["test"]) == list(range(2312))
    again = hh.make_split(2312, 1000, split["seed"])
    assert again["train"] == split["train"] and again["test"] == split["test"]


def test_load_task_shapes_and_counts():
    task = load_task("hh-harmless")            # verifies every file's sha256 against the manifest
    assert len(task.train) == 1000 and len(task.test) == 1312 and task.dim == 576
    assert not task.has_gold and task.primary_metric == "pairwise_accuracy"
    manifest = json.loads((FOLDER / "manifest.json").read_text())
    assert manifest["counts"]["rows"] == 2312
    for layer in ("layer10", "layer20"):
        assert load_task("hh-harmless", layer=layer).dim == 576
    with pytest.raises(LensInputError, match="layer"):
        load_task("hh-harmless", layer="layer7")


def test_a_few_rows_reembed_within_float16_tolerance():
    from lens_minimal.text.embeddings import extract_embeddings, format_chat
    from lens_minimal.text.models import load_model

    rows = hh.load_hh_text()
    shortest = sorted(range(len(rows)), key=lambda i: sum(rows[i]["n_tokens"]))[:3]
    model, tok = load_model("smollm2-135m-instruct", dtype=torch.float32)
    texts = [format_chat(tok, rows[i]["prompt"], y) for i in shortest for y in (rows[i]["chosen"], rows[i]["rejected"])]
    fresh = extract_embeddings(model, tok, texts, layers=(-1, 10, 20), progress=False)
    size = json.loads((FOLDER / "manifest.json").read_text())["config"]["shard_size"]
    for k, i in enumerate(shortest):
        stored = load_file(str(shard_paths(paths.DATA_DIR, hh.NAME, hh.SPLIT, i // size)[1]))
        for layer, name in ((-1, "last"), (10, "layer10"), (20, "layer20")):
            got = fresh[layer][2 * k: 2 * k + 2]
            want = stored[name][i % size].float()                                  # (2, d)
            assert torch.allclose(got, want, rtol=2e-2, atol=2e-2 * want.abs().max().item()), (i, name)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("hh")
    cfg = hh.HHBuildConfig(model=str(tiny_model_dir), shard_size=600, max_length=48, layers=[-1, 1])
    hh.build_hh_harmless(out, cfg, source=FOLDER / hh.SOURCE_FILE, progress=False)
    return out, cfg


def test_builder_resumes_to_the_same_bytes(tiny_build, tmp_path):
    out, cfg = tiny_build
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    jpath, tpath = shard_paths(copy, hh.NAME, hh.SPLIT, 1)
    tpath.unlink()                                              # as if interrupted inside shard 1
    hh.build_hh_harmless(copy, cfg, progress=False)
    for name in ("pairs/shard-001.jsonl.gz", "split.json"):
        assert sha256_file(copy / hh.NAME / name) == sha256_file(out / hh.NAME / name), name
    # safetensors writes its metadata map in an order that varies between processes, so the
    # tensors and the metadata are compared, not the file's bytes.
    for folder in (copy, out):
        with safe_open(str(shard_paths(folder, hh.NAME, hh.SPLIT, 1)[1]), "pt") as f:
            got = {"meta": f.metadata(), **{k: f.get_tensor(k) for k in f.keys()}}
        if folder is copy:
            first = got
    assert first["meta"] == got["meta"] and first.keys() == got.keys()
    assert all(torch.equal(first[k], got[k]) for k in got if k != "meta")
    m = json.loads((out / hh.NAME / "manifest.json").read_text())
    assert m["counts"]["rows"] == 2312 and m["counts"]["truncated_texts"] > 0


def test_builder_refuses_another_source_file(tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text('{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: a", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: b"}\n')
    with pytest.raises(LensInputError, match="sha256"):
        hh.build_hh_harmless(tmp_path / "out", source=other, progress=False)
    assert not (tmp_path / "out" / hh.NAME / hh.SOURCE_FILE).exists()


def test_partial_build_is_reported_as_such(tiny_build, tmp_path):
    out, _ = tiny_build
    copy = tmp_path / "partial"
    shutil.copytree(out, copy)
    (copy / hh.NAME / "manifest.json").unlink()
    shard_paths(copy, hh.NAME, hh.SPLIT, 0)[1].unlink()
    with pytest.raises(LensInputError, match="partially built"):
        hh.load_hh_harmless(data_dir=copy)


def test_data_card_statistics(tiny_build):
    out, _ = tiny_build
    rows = hh.load_hh_text(out)
    stats = hh.length_baselines(rows, list(range(len(rows))))
    assert stats["shorter_wins_accuracy"] + stats["longer_wins_accuracy"] == pytest.approx(1.0)
    dup = hh.near_duplicate_share([{"chosen": "abc", "rejected": "abc"}, {"chosen": "abcdefghij", "rejected": "abcdefghik"},
                                   {"chosen": "yes", "rejected": "no thanks"}])
    assert dup["frac_identical"] == pytest.approx(1 / 3) and dup["frac_near_identical"] == pytest.approx(2 / 3)
    card = hh.write_hh_data_card(out).read_text()
    assert "linear probe" in card and "shorter response wins" in card and "Content warning" in card

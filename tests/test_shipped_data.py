"""The shipped SmolLM2 tasks in data/: promised counts, manifest checksums, embeddings reproducible.

Skips (with the reason) while a task is not built yet; a partial build is reported as such.
Set LENS_SHIPPED_DATA_DIR to check another build folder (e.g. a small test build).
"""
import json
import os
from pathlib import Path

import pytest
import torch

from lens_minimal import paths
from lens_minimal.io import LensInputError
from lens_minimal.text.shipped import load_shipped_task, load_shipped_text, shipped_task_available
from lens_minimal.text.tasks import TASK_PROGRAMS

DATA = Path(os.environ.get("LENS_SHIPPED_DATA_DIR", paths.DATA_DIR))
NAMES = sorted(TASK_PROGRAMS)


def _need(name: str) -> dict:
    if not shipped_task_available(name, DATA):
        try:
            load_shipped_task(name, data_dir=DATA)
        except LensInputError as err:
            pytest.skip(f"shipped data not built yet: {err}")
    return json.loads((DATA / name / "manifest.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_counts_shapes_and_checksums(name):
    m = _need(name)
    cfg = m["config"]
    task = load_shipped_task(name, data_dir=DATA)   # verify=True: every file's sha256 against the manifest
    n, k, p, kt = cfg["n_train"], cfg["k_train"], cfg["n_test"], cfg["k_test"]
    assert m["counts"]["train_prompts"] == n and m["counts"]["test_prompts"] == p
    assert len(task.train) == n and task.dim == 576
    assert tuple(task.test.embeddings.shape) == (p, kt, 576)
    assert tuple(task.pool_embeddings.shape) == (n, k - 2, 576) and tuple(task.pool_gold.shape) == (n, k - 2)
    chosen, rejected = torch.tensor(task.info["gold_chosen"]), torch.tensor(task.info["gold_rejected"])
    assert (chosen > rejected).all(), "every seed pair must have chosen gold > rejected gold"
    assert ((task.test.gold >= 0) & (task.test.gold <= 1)).all()
    for layer in ("layer10", "layer20"):
        t = load_shipped_task(name, layer, data_dir=DATA, verify=False)
        assert len(t.train) == n and t.pool_embeddings is None
        assert tuple(t.test.embeddings.shape) == (p, kt, 576)


@pytest.mark.parametrize("name", NAMES)
def test_text_rows_agree_with_gold_program(name):
    _need(name)
    rows = load_shipped_text(name, "train", data_dir=DATA)[:20] + load_shipped_text(name, "test", data_dir=DATA)[:5]
    for r in rows:
        assert [TASK_PROGRAMS[name].gold_reward(t, r["meta"]) for t in r["responses"]] == r["gold"], r["id"]


def test_a_damaged_file_fails_the_checksum(tmp_path):
    name = NAMES[0]
    _need(name)
    import shutil
    shutil.copytree(DATA / name, tmp_path / name)
    shard = tmp_path / name / "test" / "shard-000.jsonl.gz"
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(LensInputError, match="sha256"):
        load_shipped_task(name, data_dir=tmp_path)


def test_reembedding_matches_shipped_float16():
    """Four shipped rows re-embedded now with the float32 SmolLM2 match the stored float16 vectors."""
    from lens_minimal.text.embeddings import extract_embeddings, format_chat
    from lens_minimal.text.models import load_model

    name = NAMES[0]
    _need(name)
    train = load_shipped_text(name, "train", data_dir=DATA)
    test = load_shipped_text(name, "test", data_dir=DATA)
    last = load_shipped_task(name, "last", data_dir=DATA, verify=False)
    l10 = load_shipped_task(name, "layer10", data_dir=DATA, verify=False)
    model, tok = load_model("smollm2-135m-instruct", dtype=torch.float32)
    cases = [(train[0], train[0]["chosen"]), (train[-1], train[-1]["rejected"]), (test[0], 0), (test[-1], -1)]
    texts = [format_chat(tok, r["prompt"], r["responses"][j]) for r, j in cases]
    e = extract_embeddings(model, tok, texts, layers=(-1, 10), progress=False)
    stored_last = torch.stack([last.train.e_chosen[0], last.train.e_rejected[-1],
                               last.test.embeddings[0, 0], last.test.embeddings[-1, -1]])
    stored_l10 = torch.stack([l10.train.e_chosen[0], l10.train.e_rejected[-1],
                              l10.test.embeddings[0, 0], l10.test.embeddings[-1, -1]])
    for fresh, stored in ((e[-1], stored_last), (e[10], stored_l10)):
        scale = stored.abs().amax(dim=1, keepdim=True)                  # (4, 1): float16 error is relative
        assert ((fresh - stored).abs() <= 2e-3 * scale + 1e-3).all()
        assert torch.nn.functional.cosine_similarity(fresh, stored).min() > 0.9999

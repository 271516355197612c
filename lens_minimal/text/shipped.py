"""Loading the shipped SmolLM2 tasks (`data/<task>/`, built by `lens_minimal.text.build_data`).

`load_shipped_task(name, layer)` returns the `EmbeddingTask` every experiment consumes:
  * train: the seed preference pairs (one per training prompt) as `PreferencePairs` (N, d);
  * test: a `BestOfNSet` (P, N, d) with the gold rewards (P, N);
  * pool_embeddings (N, K, d) / pool_gold (N, K): the other sampled responses of each training
    prompt (text-space augmentation draws from them), layer "last" only;
  * info: counts, the manifest, the seed pairs' gold rewards and the prompt ids.
Embeddings are stored as float16 and returned as float32. The manifest's sha256 of every shard
file is checked on load (`verify=True`), so a damaged or half-copied `data/` fails loudly.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from .. import paths
from ..data import BestOfNSet, EmbeddingTask, PreferencePairs
from ..io import LensInputError, sha256_file
from .shards import read_jsonl_gz, shard_complete, shard_paths

SPLITS = ("train", "test")


def _task_dir(name: str, data_dir: str | Path | None) -> Path:
    return Path(data_dir or paths.DATA_DIR) / name


def read_manifest(name: str, data_dir: str | Path | None) -> dict:
    """The task's manifest; a clear error for a missing or partial build."""
    folder = _task_dir(name, data_dir)
    path = folder / "manifest.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise LensInputError(f"{path}: not valid JSON ({err})") from None
    how = f"`lens build-data --tasks {name}` (resumes; a full build takes hours on a CPU)"
    plan = folder / "build.json"
    if plan.is_file():
        build = json.loads(plan.read_text())
        total = sum(build["shards"].values())
        present = sum(shard_complete(folder.parent, name, split, s, build.get("config_key"))
                      for split, n in build["shards"].items() for s in range(n))
        raise LensInputError(
            f"shipped task {name!r} is only partially built: {present} of {total} shards present in {folder} "
            f"and no manifest.json yet; finish the build with {how}"
        )
    raise LensInputError(f"shipped task {name!r} is not built: {path} not found; build it with {how}")


def shipped_task_available(name: str, data_dir: str | Path | None = None) -> bool:
    """True when `data/<name>/manifest.json` exists and every file it lists is present."""
    folder = _task_dir(name, data_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return all((folder / rel).is_file() for rel in manifest.get("files", {}))


def verify_files(folder: Path, manifest: dict) -> None:
    for rel, sha in manifest["files"].items():
        path = folder / rel
        if not path.is_file():
            raise LensInputError(f"{path}: listed in {folder / 'manifest.json'} but missing")
        if sha256_file(path) != sha:
            raise LensInputError(f"{path}: sha256 differs from {folder / 'manifest.json'} (damaged or rebuilt file)")


def load_shipped_text(name: str, split: str, data_dir: str | Path | None = None) -> list[dict]:
    """The text rows of `split` ("train" or "test"), in shard order.

    Each row: `id`, `prompt`, `meta`, `responses`, `gold`; train rows also `chosen`, `rejected`
    (indices into `responses`), `pool`, `n_drawn` and `replaces`.
    """
    if split not in SPLITS:
        raise LensInputError(f"split: unknown value {split!r}; known: {list(SPLITS)}")
    manifest = read_manifest(name, data_dir)
    folder = _task_dir(name, data_dir)
    return [row for s in range(manifest["shards"][split])
            for row in read_jsonl_gz(shard_paths(folder.parent, name, split, s)[0])]


def _load_split(folder: Path, name: str, split: str, n_shards: int, layer: str) -> tuple[list[dict], torch.Tensor]:
    rows, tensors = [], []
    for s in range(n_shards):
        jpath, tpath = shard_paths(folder.parent, name, split, s)
        shard_rows = read_jsonl_gz(jpath)
        t = load_file(str(tpath))
        if layer not in t:
            raise LensInputError(f"{tpath}: no embeddings for layer {layer!r}; found {sorted(t)}")
        if t[layer].shape[0] != len(shard_rows):
            raise LensInputError(f"{tpath}: {t[layer].shape[0]} embedding rows but {jpath} has {len(shard_rows)} rows")
        rows += shard_rows
        tensors.append(t[layer].float())
    return rows, torch.cat(tensors)


def load_shipped_task(name: str, layer: str = "last", *, data_dir: str | Path | None = None,
                      verify: bool = True) -> EmbeddingTask:
    """The shipped task `name` ("instructions" or "summaries") at embedding `layer`
    ("last", "layer10" or "layer20") as an `EmbeddingTask` (see the module docstring)."""
    manifest = read_manifest(name, data_dir)
    folder = _task_dir(name, data_dir)
    layers = sorted(manifest["embeddings"]["layers"])
    if layer not in layers:
        raise LensInputError(f"layer: unknown value {layer!r} for shipped task {name!r}; known: {layers}")
    if verify:
        verify_files(folder, manifest)
    train_rows, e = _load_split(folder, name, "train", manifest["shards"]["train"], layer)
    idx = torch.arange(len(train_rows))
    chosen = torch.tensor([r["chosen"] for r in train_rows])
    rejected = torch.tensor([r["rejected"] for r in train_rows])
    pool_embeddings = pool_gold = None
    if layer == "last":   # (N, k_train, d): every response
        e_chosen, e_rejected = e[idx, chosen], e[idx, rejected]
        pool = torch.tensor([r["pool"] for r in train_rows])                       # (N, K)
        pool_embeddings = e[idx.unsqueeze(1), pool]                               # (N, K, d)
        pool_gold = torch.tensor([[r["gold"][j] for j in r["pool"]] for r in train_rows])
    else:                 # (N, 2, d): chosen, rejected only
        e_chosen, e_rejected = e[:, 0], e[:, 1]
    test_rows, t = _load_split(folder, name, "test", manifest["shards"]["test"], layer)
    test = BestOfNSet(t, torch.tensor([r["gold"] for r in test_rows], dtype=torch.float32))
    info = {
        "source": f"shipped SmolLM2 task {name!r} ({folder})",
        "layer": layer,
        "counts": manifest["counts"],
        "manifest": manifest,
        "train_ids": [r["id"] for r in train_rows],
        "test_ids": [r["id"] for r in test_rows],
        "gold_chosen": [r["gold"][r["chosen"]] for r in train_rows],
        "gold_rejected": [r["gold"][r["rejected"]] for r in train_rows],
    }
    return EmbeddingTask(name=name, train=PreferencePairs(e_chosen.contiguous(), e_rejected.contiguous()),
                         test=test, pool_embeddings=pool_embeddings, pool_gold=pool_gold, info=info)

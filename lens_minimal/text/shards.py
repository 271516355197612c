"""Shards of the shipped data: where they live, when one is complete, and their jsonl.gz rows.

A task's split is stored as `<out>/<task>/<split>/shard-XXX.jsonl.gz` (text rows) beside
`shard-XXX.safetensors` (embeddings per layer, named by `layer_name`). The builder
(`build_data`) writes them, the loader (`shipped`) reads them; both import this module and
not each other.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from safetensors import safe_open

from ..io import LensInputError, sha256_file


def layer_name(layer: int) -> str:
    """Tensor name of an embedding layer in a shard: -1 -> "last", L -> "layerL"."""
    return "last" if layer == -1 else f"layer{layer}"


def gzip_jsonl(rows: list[dict]) -> bytes:
    """Rows as JSON lines, gzip with a fixed header (mtime 0, no name) so bytes are reproducible."""
    raw = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(raw)
    return buf.getvalue()


def read_jsonl_gz(path: Path) -> list[dict]:
    """Rows of a shard's jsonl.gz; errors name the file and the 1-based line."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise LensInputError(f"{path}: line {i}: not valid JSON ({err})") from None
    return rows


def shard_paths(out: Path, task: str, split: str, s: int) -> tuple[Path, Path]:
    base = Path(out) / task / split / f"shard-{s:03d}"
    return base.with_suffix(".jsonl.gz"), base.with_suffix(".safetensors")


def shard_complete(out: Path, task: str, split: str, s: int, config_key: str | None = None) -> bool:
    """True when shard `s` exists whole: metadata matches (config if given), jsonl sha256 and counts agree."""
    jpath, tpath = shard_paths(out, task, split, s)
    if not (jpath.is_file() and tpath.is_file()):
        return False
    try:
        with safe_open(str(tpath), "pt") as f:
            meta = f.metadata() or {}
            n = f.get_slice("last").get_shape()[0]
    except Exception:
        return False
    if config_key is not None and meta.get("config_key") != config_key:
        return False
    return meta.get("jsonl_sha256") == sha256_file(jpath) and int(meta.get("n_prompts", -1)) == n

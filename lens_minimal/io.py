"""Atomic file writing and input validation shared by every module.

Output files are written to a temporary sibling and renamed on success, so an error
never leaves a partial or corrupt file behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch


class LensInputError(ValueError):
    """Bad user input: the message names the file, row or parameter at fault."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)   # mkstemp makes files private; outputs are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """`safetensors` file with reproducible bytes, written atomically.

    safetensors stores the metadata in a hash map whose order changes from call to call; the header
    is rewritten here with sorted keys (the tensor offsets are explicit, so the data is untouched).
    """
    from safetensors.torch import save

    blob = save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata)
    n = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8:8 + n]), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    header += b" " * (-len(header) % 8)   # keep the data 8-byte aligned, as safetensors does
    with atomic_path(path) as tmp:
        tmp.write_bytes(len(header).to_bytes(8, "little") + header + blob[8 + n:])


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _json_default(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def check_embeddings(x: torch.Tensor, name: str, dim: int | None = None) -> torch.Tensor:
    """Check an embedding matrix: 2-D, non-empty, finite, and of width `dim` if given."""
    if not isinstance(x, torch.Tensor):
        raise LensInputError(f"{name}: expected a tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise LensInputError(f"{name}: expected shape (n, d), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise LensInputError(f"{name}: is empty (0 rows)")
    if dim is not None and x.shape[1] != dim:
        raise LensInputError(f"{name}: embedding dimension {x.shape[1]} does not match the expected {dim}")
    bad = ~torch.isfinite(x)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0])
        raise LensInputError(f"{name}: contains NaN or infinite values (first at row {row})")
    return x


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file; a missing or malformed file raises `LensInputError` naming it (and the line)."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise LensInputError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise LensInputError(f"{path}: {where}not valid YAML ({err})") from None

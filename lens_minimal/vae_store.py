"""A disk store of trained VAEs, so that the chapters of one book build fit each VAE once.

Many chapters fit the same default VAE on the same seed pairs with the same seed (Table 1, the
sigma2 ablation, the weak-baseline and steps questions, ...). `train_vae` looks here first when the
environment variable `LENS_VAE_STORE` names a folder (the book build sets it to a fresh folder per
build; library calls, tests and benchmarks leave it unset and always train).

A stored entry is what training left behind: the weights (buffers included), the loss history and
the global torch RNG state after training. A hit restores all three, so every number downstream is
the one a fresh fit gives (`tests/test_vae_store.py`). The key is a hash of the embeddings' bytes,
shape and dtype, the VAE config, the seed and the torch version: other data or settings never hit.
Entries are written atomically; two processes that fit the same VAE at once both write the same bytes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import torch

from .io import atomic_path

ENV = "LENS_VAE_STORE"
_disabled = 0


def folder() -> Path | None:
    """The store's folder, or None when the store is off (unset, or inside `disabled()`)."""
    root = os.environ.get(ENV, "")
    return Path(root) if root and not _disabled else None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Train for real inside this block (e.g. to time a fit)."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def key(e_chosen: torch.Tensor, e_rejected: torch.Tensor, config: Any, seed: int) -> str:
    """Hash of everything a VAE fit depends on: data bytes, shapes, dtypes, config, seed, torch version."""
    h = hashlib.sha256()
    for e in (e_chosen, e_rejected):
        h.update(f"{tuple(e.shape)}|{e.dtype}|".encode())
        h.update(e.detach().contiguous().cpu().numpy().tobytes())
    h.update(json.dumps([asdict(config), int(seed), torch.__version__], sort_keys=True).encode())
    return h.hexdigest()[:40]


def load(entry: str) -> dict[str, Any] | None:
    """The stored fit {'state': ..., 'history': ..., 'rng_state': ...}, or None (store off or no entry)."""
    root = folder()
    path = root / f"{entry}.pt" if root else None
    if path is None or not path.exists():
        return None
    return torch.load(path, weights_only=True)


def save(entry: str, state: dict[str, torch.Tensor], history: dict[str, list[float]]) -> None:
    """Store a fit just made (with the global RNG state as training left it); no-op when the store is off."""
    root = folder()
    if root is None:
        return
    payload = {"state": {k: v.detach().clone() for k, v in state.items()}, "history": history,
               "rng_state": torch.get_rng_state()}
    with atomic_path(root / f"{entry}.pt") as tmp:
        torch.save(payload, tmp)

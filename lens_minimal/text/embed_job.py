"""A long embedding job that survives interruption: shards of texts written as they finish.

`lens embed` on a few thousand dialogues runs for an hour on a CPU. The texts are tokenized and
ordered longest first (as `extract_embeddings` does); that order is cut into shards of
`shard_texts` texts, and each finished shard is written atomically to a work folder beside the
output (`<out>.parts/shard-XXXXX.safetensors`). Rerunning the same command loads every shard whose
key matches and embeds only the rest; the batches inside a shard do not depend on what was done
before, so a resumed run gives the same bytes as an uninterrupted one (same machine, versions and
thread count). A shard's key is the sha256 of the model identity, the settings and the token ids
of its texts, so a changed input, model or setting never reuses a stale shard.

Before embedding, `plan_message` states the work (texts, tokens, truncated texts, shards done) and
an estimate from a short probe on texts spread over the length range.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from tqdm.auto import tqdm

from ..io import LensInputError, save_safetensors
from .embeddings import check_embed_inputs, embed_token_ids, length_order, tokenize_texts


@dataclass
class EmbedSettings:
    """What an embedding depends on besides the texts (all of it goes into each shard's key)."""

    model_id: str                 # weight checksum when known, else the model name
    layers: tuple[int, ...] = (-1,)
    pooling: str = "last"
    max_length: int = 2048        # tokens kept from the END of each text
    batch_size: int = 16          # texts per forward pass at most
    batch_tokens: int | None = 2048   # padded tokens per forward pass at most (long texts: smaller batches)
    shard_texts: int = 256        # texts per shard (the unit of resumption)


def work_dir_for(out: str | os.PathLike) -> Path:
    """The folder of finished shards of the job writing `out`."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _shard_key(settings: EmbedSettings, ids: list[list[int]]) -> str:
    h = hashlib.sha256(json.dumps({k: v for k, v in vars(settings).items()}, sort_keys=True, default=str).encode())
    for x in ids:
        h.update(len(x).to_bytes(4, "little"))
        h.update(torch.tensor(x, dtype=torch.int64).numpy().tobytes())
    return h.hexdigest()


def _shard_done(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    try:
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("key") == key
    except Exception:   # a damaged file is simply redone
        return False


class EmbedJob:
    """Plan, run (resumably) and finish the embedding of `texts`; rows come back in input order."""

    def __init__(self, model, tokenizer, texts: Sequence[str], settings: EmbedSettings, work_dir: str | os.PathLike):
        self.model, self.tokenizer, self.settings = model, tokenizer, settings
        self.layers = check_embed_inputs(model, texts, settings.layers, settings.pooling, settings.batch_size,
                                    settings.max_length)
        if settings.shard_texts < 1:
            raise LensInputError(f"shard_texts: must be >= 1, got {settings.shard_texts}")
        if settings.batch_tokens is not None and settings.batch_tokens < 1:
            raise LensInputError(f"batch_tokens: must be >= 1 or None, got {settings.batch_tokens}")
        self.work_dir = Path(work_dir)
        self.ids, self.n_truncated = tokenize_texts(tokenizer, texts, settings.max_length)
        self.order = length_order(self.ids)
        k = settings.shard_texts
        self.shards = [self.order[a:a + k] for a in range(0, len(self.order), k)]
        self.keys = [_shard_key(settings, [self.ids[i] for i in s]) for s in self.shards]

    def shard_path(self, s: int) -> Path:
        return self.work_dir / f"shard-{s:05d}.safetensors"

    def todo(self) -> list[int]:
        return [s for s in range(len(self.shards)) if not _shard_done(self.shard_path(s), self.keys[s])]

    def n_tokens(self, shards: Sequence[int] | None = None) -> int:
        shards = range(len(self.shards)) if shards is None else shards
        return sum(len(self.ids[i]) for s in shards for i in self.shards[s])

    def probe(self, max_texts: int = 16) -> float:
        """Tokens per second on texts spread evenly over the length order (not kept): `max_texts` of
        them, or 1 in 50 on a small job, after a warm-up on the longest of them (the first pass
        allocates the buffers, which would make the estimate pessimistic)."""
        k = min(max_texts, max(2, len(self.order) // 50))
        step = max(1, len(self.order) // k)
        sample = [self.ids[i] for i in self.order[::step][:k]]
        embed_token_ids(self.model, self.tokenizer, sample[:1], layers=self.layers, pooling=self.settings.pooling)
        t0 = time.perf_counter()
        embed_token_ids(self.model, self.tokenizer, sample, layers=self.layers, pooling=self.settings.pooling,
                        batch_size=self.settings.batch_size, batch_tokens=self.settings.batch_tokens)
        return sum(len(x) for x in sample) / max(time.perf_counter() - t0, 1e-9)

    def plan_message(self, probe: bool = True) -> str:
        """The work ahead (texts, tokens, truncated texts, shards already done) and, with `probe`, an estimate."""
        todo = self.todo()
        n_left = self.n_tokens(todo)
        cut = f" ({self.n_truncated:,} cut to their last {self.settings.max_length:,} tokens)" if self.n_truncated else ""
        lines = [f"{len(self.ids):,} texts, {self.n_tokens():,} tokens{cut}; {len(self.shards)} shard(s) of up to "
                 f"{self.settings.shard_texts} texts, {len(self.shards) - len(todo)} already done"]
        if todo and probe:
            rate = self.probe()
            lines.append(f"probe: {rate:,.0f} tokens/s on {torch.get_num_threads()} thread(s) -> about "
                         f"{_duration(n_left / rate)} for {n_left:,} tokens")
        if todo:
            lines.append(f"finished shards go to {self.work_dir}/; after an interruption, the same command resumes")
        return "\n  ".join(lines)

    def run(self, progress: bool = True) -> dict[int, torch.Tensor]:
        """Embed the missing shards (each saved as it finishes), then return {layer: (n, d)} in input order."""
        todo = set(self.todo())
        disable = (not progress) or bool(os.environ.get("CI"))
        chunks: dict[int, list[torch.Tensor]] = {layer: [] for layer in self.layers}
        with tqdm(total=self.n_tokens(sorted(todo)), unit="tok", desc="embedding", disable=disable) as bar:
            for s, rows in enumerate(self.shards):
                path = self.shard_path(s)
                if s in todo:
                    e = embed_token_ids(self.model, self.tokenizer, [self.ids[i] for i in rows], layers=self.layers,
                                        pooling=self.settings.pooling, batch_size=self.settings.batch_size,
                                        batch_tokens=self.settings.batch_tokens, bar=bar)
                    save_safetensors({f"layer_{layer}": x for layer, x in e.items()}, path,
                                     {"key": self.keys[s], "shard": str(s), "n_texts": str(len(rows))})
                else:
                    stored = load_file(str(path))
                    e = {layer: stored[f"layer_{layer}"] for layer in self.layers}
                for layer in self.layers:
                    chunks[layer].append(e[layer])
        inverse = torch.empty(len(self.order), dtype=torch.long)
        inverse[torch.tensor(self.order)] = torch.arange(len(self.order))
        return {layer: torch.cat(chunks[layer])[inverse].contiguous() for layer in self.layers}   # (n, d)

    def n_done(self) -> int:
        return len(self.shards) - len(self.todo())

    def clean(self) -> None:
        """Remove the work folder (after the final output is written)."""
        if self.work_dir.is_dir():
            shutil.rmtree(self.work_dir)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

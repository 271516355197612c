"""Sampling responses from a causal LM: the text side of the data (and of text-space augmentation).

`sample_responses` draws responses for a list of prompts in batches: chat template with the
generation prompt, left padding (so every row's last position is its generation point),
temperature / top-p sampling, at most `max_new_tokens` new tokens. Each batch reseeds torch's RNG
from (`seed`, batch index), so a batch's samples do not depend on what ran before it: the same call
gives the same texts on the same platform, library versions and thread count, and a build can
resume mid-way.

Speed choice: the default data is sampled with the model in bfloat16, 1.6x to 2x faster than
float32 on CPU (32 prompts x 48 new tokens: 5.4 s vs 8.6 s on an idle 2-core machine; 88 vs 42 new
tokens/s with 1 thread on a shared one). Only the sampling uses bfloat16; embeddings are always
computed by the float32 model from the decoded text. On a CPU shared with other jobs use one
thread (`torch.set_num_threads(1)`): with more threads than free cores, each small decoding step
waits on busy threads and sampling ran 10x slower in our measurements.

`measure_generation_throughput` times the same path and returns new tokens per second (the
book's efficiency table times text synthesis with it).
"""
from __future__ import annotations

import hashlib
import os
import time
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..io import LensInputError


def batch_seed(*parts: object) -> int:
    """A stable 63-bit seed from any printable parts (unlike `hash`, independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def chat_prompt(tokenizer, prompt: str) -> str:
    """The model input for a user `prompt`: chat template plus the assistant generation prompt."""
    if not isinstance(prompt, str):
        raise LensInputError(f"prompt: expected a string, got {type(prompt).__name__}")
    messages = [{"role": "user", "content": prompt}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return (tokenizer.bos_token or "") + prompt + "\n\n"


@torch.inference_mode()
def _generate_batch(model, tokenizer, prompts: Sequence[str], *, temperature: float, top_p: float,
                    max_new_tokens: int, seed: int) -> tuple[list[str], int]:
    """One batch: (decoded responses, number of new tokens produced up to and including EOS)."""
    texts = [chat_prompt(tokenizer, p) for p in prompts]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"   # generation continues from the last column: no pad after the prompt
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = old_side
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    torch.manual_seed(seed)
    out = model.generate(
        **enc, do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0,
        max_new_tokens=int(max_new_tokens), pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    new = out[:, enc["input_ids"].shape[1]:]                       # (B, <= max_new_tokens)
    # Count tokens up to and including the first EOS (after it generate only pads).
    is_eos = new == tokenizer.eos_token_id
    first_eos = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, torch.full_like(is_eos[:, 0], new.shape[1], dtype=torch.long))
    n_tokens = int(first_eos.sum())
    responses = [tokenizer.decode(row[: int(k)], skip_special_tokens=True).strip() for row, k in zip(new, first_eos)]
    return responses, n_tokens


def sample_responses(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    temperature: float = 1.0,
    top_p: float = 0.95,
    max_new_tokens: int = 48,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
) -> list[str]:
    """One sampled response per entry of `prompts` (repeat a prompt to get several), in input order.

    Batch b is sampled after `torch.manual_seed(batch_seed(seed, b))`; batches are consecutive
    slices of `prompts`, so results depend on `batch_size` (keep it fixed for a reproducible build).
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise LensInputError("prompts: expected a non-empty list of strings")
    if not (temperature > 0):
        raise LensInputError(f"temperature: must be > 0, got {temperature}")
    if not (0 < top_p <= 1):
        raise LensInputError(f"top_p: must be in (0, 1], got {top_p}")
    if int(max_new_tokens) < 1 or int(batch_size) < 1:
        raise LensInputError(f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens}, {batch_size}")
    responses: list[str] = []
    disable = (not progress) or bool(os.environ.get("CI"))
    starts = range(0, len(prompts), int(batch_size))
    for b, start in enumerate(tqdm(starts, desc="sampling", unit="batch", disable=disable, leave=False)):
        batch = list(prompts[start:start + int(batch_size)])
        out, _ = _generate_batch(model, tokenizer, batch, temperature=temperature, top_p=top_p,
                                 max_new_tokens=max_new_tokens, seed=batch_seed(seed, b))
        responses.extend(out)
    return responses


def measure_generation_throughput(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int = 0,
    warmup: bool = True,
) -> dict:
    """Time `sample_responses`'s batch path on `prompts`: new tokens per second and seconds per batch.

    Returns {"tokens_per_s", "seconds", "new_tokens", "n_responses", "batches", "seconds_per_batch",
    "dtype", "threads"}. A short untimed warm-up batch runs first unless `warmup=False`.
    """
    if len(prompts) == 0:
        raise LensInputError("prompts: is empty")
    settings = dict(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    if warmup:
        _generate_batch(model, tokenizer, list(prompts[:2]), **{**settings, "max_new_tokens": 4}, seed=seed)
    total_tokens, batches = 0, 0
    t0 = time.perf_counter()
    for b, start in enumerate(range(0, len(prompts), int(batch_size))):
        _, n = _generate_batch(model, tokenizer, list(prompts[start:start + int(batch_size)]), **settings,
                               seed=batch_seed(seed, b))
        total_tokens += n
        batches += 1
    seconds = time.perf_counter() - t0
    return {
        "tokens_per_s": total_tokens / seconds, "seconds": seconds, "new_tokens": total_tokens,
        "n_responses": len(prompts), "batches": batches, "seconds_per_batch": seconds / batches,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "threads": torch.get_num_threads(),
    }

"""Embeddings of (prompt, response) pairs from a causal LM (paper, Method step 1).

e = the last-layer hidden state of the LLM run on the chat-formatted (x, y), read at the last
real token. Layer -1 means `last_hidden_state` (after the model's final norm); layer L >= 0 means
`hidden_states[L]` (0 = token embeddings, L = output of block L). For Llama in transformers 5
`hidden_states[-1]` equals `last_hidden_state` (pinned by a test); other architectures may differ.

The most common reward-model bug is reading the wrong token: a pad token, or an end-of-sequence
token inside the prompt when pad == eos. We pick positions from the attention mask only, pass
explicit position ids (so left padding does not shift positions), and test that a padded batch
gives the same embedding as each example alone.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..io import LensInputError, atomic_path
from ..paths import cache_dir as default_cache_dir

POOLINGS = ("last", "mean")


def format_chat(tokenizer, prompt: str | list[dict], response: str) -> str:
    """Render prompt + assistant response with the tokenizer's chat template (no generation prompt).

    `prompt` is a user message, or a list of `{role, content}` messages to which the response is
    appended as an assistant turn. Without a chat template: the messages' contents joined by
    blank lines, preceded by the BOS token when the tokenizer has one.
    """
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in prompt):
        messages = [dict(m) for m in prompt]
    else:
        raise LensInputError(f"prompt: expected a string or a list of {{role, content}} messages, got {prompt!r:.80}")
    if not isinstance(response, str):
        raise LensInputError(f"response: expected a string, got {type(response).__name__}")
    messages.append({"role": "assistant", "content": response})
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    return (tokenizer.bos_token or "") + "\n\n".join(m["content"] for m in messages)


def _num_layers(model) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(config.num_hidden_layers)


def check_embed_inputs(model, texts, layers, pooling, batch_size, max_length) -> tuple[int, ...]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise LensInputError(f"texts: expected a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise LensInputError("texts: is empty (need at least one text)")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise LensInputError(f"texts[{i}]: expected a string, got {type(t).__name__}")
    if pooling not in POOLINGS:
        raise LensInputError(f"pooling: unknown value {pooling!r}; known: {list(POOLINGS)}")
    if isinstance(layers, int):
        layers = (layers,)
    layers = tuple(int(layer) for layer in layers)
    n = _num_layers(model)
    if not layers:
        raise LensInputError("layers: is empty")
    for layer in layers:
        if not (layer == -1 or 0 <= layer <= n):
            raise LensInputError(f"layers: {layer} is out of range; use -1 (last, after final norm) or 0..{n}")
    if int(batch_size) < 1:
        raise LensInputError(f"batch_size: must be >= 1, got {batch_size}")
    if int(max_length) < 1:
        raise LensInputError(f"max_length: must be >= 1, got {max_length}")
    return tuple(dict.fromkeys(layers))


def tokenize_texts(tokenizer, texts: Sequence[str], max_length: int, add_special_tokens: bool = False
                   ) -> tuple[list[list[int]], int]:
    """(token ids of each text keeping its last `max_length` tokens, number of texts cut).

    Truncation keeps the END: the response and the final token matter most.
    """
    ids = tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]
    n_cut = sum(len(x) > max_length for x in ids)
    ids = [x[-max_length:] for x in ids]   # truncate from the left
    empty = [i for i, x in enumerate(ids) if not x]
    if empty:
        raise LensInputError(f"texts[{empty[0]}]: has no tokens")
    return ids, n_cut


def length_order(ids: list[list[int]]) -> list[int]:
    """Indices longest first (stable): memory errors surface early and batches hold similar lengths."""
    return sorted(range(len(ids)), key=lambda i: -len(ids[i]))


def length_batches(lengths: Sequence[int], batch_size: int, batch_tokens: int | None = None) -> list[slice]:
    """Consecutive batches over lengths sorted longest first: at most `batch_size` texts and, when
    `batch_tokens` is given, at most that many padded tokens (texts x longest), but never less than one text."""
    out, start = [], 0
    while start < len(lengths):
        n = int(batch_size)
        if batch_tokens is not None:
            n = max(1, min(n, int(batch_tokens) // max(1, int(lengths[start]))))
        out.append(slice(start, min(start + n, len(lengths))))
        start += n
    return out


def _pad(ids: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id lists to one length; returns input_ids and attention_mask, both (B, T)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        span = slice(width - len(x), width) if side == "left" else slice(0, len(x))
        input_ids[i, span] = torch.tensor(x, dtype=torch.long)
        mask[i, span] = 1
    return input_ids, mask


def _pool(h: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, d) hidden states → (B, d), reading real tokens only (mask (B, T) of 0/1)."""
    if pooling == "last":
        # Index of the last real token: the largest position whose mask is 1, whatever the padding side.
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask.bool(), positions, -1).max(dim=1).values   # (B,)
        return h[torch.arange(h.shape[0], device=h.device), last]
    real = mask.bool().unsqueeze(-1)                                        # (B, T, 1)
    # torch.where, not a product: hidden states at pad positions may be NaN (fully masked rows).
    total = torch.where(real, h, torch.zeros((), dtype=h.dtype, device=h.device)).sum(dim=1)
    return total / real.sum(dim=1).to(h.dtype)


@torch.inference_mode()
def embed_token_ids(
    model,
    tokenizer,
    ids: list[list[int]],
    *,
    layers: tuple[int, ...] = (-1,),
    pooling: str = "last",
    batch_size: int = 16,
    batch_tokens: int | None = None,
    bar=None,
) -> dict[int, torch.Tensor]:
    """Embed token-id lists in the given order, batch by batch (`length_batches`): {layer: (n, d) float32}.

    Callers pass ids sorted longest first, so a batch holds texts of similar length (little padding).
    Right padding needs no padding mask: under causal attention a real token never sees the pads
    that follow it, so the model runs its causal attention kernel (the masked one visits every
    key block, about 1.6x the attention time at 1,000 tokens). Left padding keeps the mask and
    explicit position ids. Either way the pooled embedding reads real tokens only.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    side = getattr(tokenizer, "padding_side", "right")
    base = model.base_model                   # e.g. LlamaModel inside LlamaForCausalLM: no LM head
    takes_positions = "position_ids" in inspect.signature(base.forward).parameters
    need_hidden = any(layer != -1 for layer in layers) or base is model   # no separate base: read hidden_states
    device = next(model.parameters()).device
    chunks: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for batch in length_batches([len(x) for x in ids], batch_size, batch_tokens):
        input_ids, mask = _pad(ids[batch], pad_id, side)
        input_ids, mask = input_ids.to(device), mask.to(device)
        kwargs = dict(input_ids=input_ids, use_cache=False, output_hidden_states=need_hidden)
        if side == "left":
            kwargs["attention_mask"] = mask
            if takes_positions:
                # Positions count real tokens only, so a left-padded text sees the same positions as alone.
                kwargs["position_ids"] = (mask.cumsum(dim=1) - 1).clamp(min=0)
        result = base(**kwargs)
        for layer in layers:
            if layer == -1:
                h = getattr(result, "last_hidden_state", None)
                h = result.hidden_states[-1] if h is None else h                     # (B, T, d)
            else:
                h = result.hidden_states[layer]                                      # (B, T, d)
            chunks[layer].append(_pool(h, mask, pooling).float().cpu())
        del result
        if bar is not None:
            bar.update(int(mask.sum()))
    return {layer: torch.cat(chunks[layer]) for layer in layers}


def extract_embeddings(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    layers: Sequence[int] | int = (-1,),
    pooling: str = "last",
    batch_size: int = 16,
    batch_tokens: int | None = None,
    max_length: int = 2048,
    add_special_tokens: bool = False,
    progress: bool = True,
) -> dict[int, torch.Tensor]:
    """Embed `texts`: {layer: float32 tensor (n, d)}, rows in input order.

    Texts are full model inputs (e.g. from `format_chat`, which already holds any BOS token, hence
    `add_special_tokens=False`). Texts longer than `max_length` tokens keep their END (the response
    and final token matter most). Texts are sorted by length for batching; a batch holds at most
    `batch_size` texts and, with `batch_tokens`, at most that many padded tokens (long texts then go
    in smaller batches). Padding follows `tokenizer.padding_side`. Only the base model runs (no
    LM head over every position).
    """
    layers = check_embed_inputs(model, texts, layers, pooling, batch_size, max_length)
    if batch_tokens is not None and int(batch_tokens) < 1:
        raise LensInputError(f"batch_tokens: must be >= 1 or None, got {batch_tokens}")
    ids, _ = tokenize_texts(tokenizer, texts, max_length, add_special_tokens)
    order = length_order(ids)
    disable = (not progress) or bool(os.environ.get("CI"))
    with tqdm(total=sum(len(x) for x in ids), unit="tok", desc="embedding", disable=disable) as bar:
        out = embed_token_ids(model, tokenizer, [ids[i] for i in order], layers=layers, pooling=pooling,
                              batch_size=batch_size, batch_tokens=batch_tokens, bar=bar)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return {layer: e[inverse].contiguous() for layer, e in out.items()}   # (n, d), input order


def cache_key(model_id: str, texts: Sequence[str], **settings) -> str:
    """sha256 over the model identity, the extraction settings and every text."""
    h = hashlib.sha256()
    h.update(json.dumps({"model": model_id, **settings}, sort_keys=True, default=str).encode())
    for t in texts:
        b = t.encode()
        h.update(len(b).to_bytes(8, "little"))   # length prefix: ["ab","c"] != ["a","bc"]
        h.update(b)
    return h.hexdigest()


def cached_extract(
    model_name_or_path: str,
    texts: Sequence[str],
    *,
    layers: Sequence[int] | int = (-1,),
    pooling: str = "last",
    max_length: int = 2048,
    batch_size: int = 16,
    dtype: torch.dtype = torch.float32,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    loaded: tuple | None = None,
    progress: bool = True,
) -> dict[int, torch.Tensor]:
    """`extract_embeddings` with an on-disk safetensors cache (`<cache>/embeddings/<sha256>.safetensors`).

    The key covers the model (its weight checksum when available, else its name), layers, pooling,
    max_length, dtype and all texts; batch size is left out (it changes results only by float
    rounding). `loaded` may pass an already loaded `(model, tokenizer)` of `model_name_or_path`.
    """
    from .models import load_model, model_checksum

    if isinstance(layers, int):
        layers = (layers,)
    layers = tuple(int(layer) for layer in layers)
    model_id = model_checksum(model_name_or_path) or str(model_name_or_path)
    key = cache_key(model_id, texts, layers=layers, pooling=pooling, max_length=int(max_length), dtype=str(dtype))
    path = Path(cache_dir or default_cache_dir()) / "embeddings" / f"{key}.safetensors"
    if path.is_file():
        stored = load_file(str(path))
        return {layer: stored[f"layer_{layer}"] for layer in layers}
    model, tokenizer = loaded if loaded is not None else load_model(model_name_or_path, dtype=dtype, device=device)
    result = extract_embeddings(model, tokenizer, texts, layers=layers, pooling=pooling,
                                batch_size=batch_size, max_length=max_length, progress=progress)
    with atomic_path(path) as tmp:
        save_file({f"layer_{layer}": e for layer, e in result.items()}, str(tmp),
                  metadata={"model": str(model_name_or_path), "n": str(len(texts)), "pooling": pooling})
    return result

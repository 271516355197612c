"""Embedding throughput on short and on long, mixed-length texts (printed by `make bench`).

Where the time goes on a CPU (SmolLM2-135M, float32, one thread, tokens per CPU-second so that
other load matters less): the linear layers cost the same per token at any length, attention grows
with the text, so a token of a 1,000-token dialogue costs more than one of a 64-token
instruction; that part is intrinsic. Three things made long, mixed-length inputs slower than they
need to be, and are closed in `embed_token_ids` with the settings of `lens embed`:

- padding: fixed batches of 16 pad every text to the longest of its batch. On a whole file sorted
  by length that costs about 1% (HH-RLHF harmless-base, 4,624 texts), but on a small set, or a
  shard sorted on its own, it is large: 110% on the 48 mixed texts below, 20% for HH-RLHF sorted
  in shards of 200 texts. A budget of padded tokens per batch (`batch_tokens`) puts long texts in
  small batches (16% here), and `lens embed` cuts its shards from one global length order;
- the padding mask: with right padding a causal model never lets a real token see the pads after
  it, so no mask is needed, and without one the attention kernel skips the blocks above the
  diagonal (with a mask it visits all of them: about 1.6x the attention time at 1,000 tokens);
- batch shape and memory: 16 texts of 1,000 tokens in one forward pass raise the peak memory by
  about 1 GB (2 GB with `output_hidden_states`, which keeps all 31 hidden states of the batch) and
  run about 10% slower per token than batches of 4; the token budget bounds both.

Texts here are generated (no data files): chat-formatted conversations whose token lengths follow
a log-normal with median 160 and 90th percentile about 370, clipped to 40..1,024 tokens (the shape
of HH-RLHF dialogues under SmolLM2's chat template), and short single-turn instructions.
"""
from __future__ import annotations

import math
import time

import torch

from .embeddings import extract_embeddings, format_chat, length_batches, length_order, tokenize_texts

FILLER = ("could you tell me more about how the weather changes across the seasons and why some places "
          "get much more rain than others while a few stay dry for most of the year").split()


def _conversation(tokenizer, n_tokens: int, offset: int) -> str:
    """A chat-formatted conversation of about `n_tokens` tokens: turns of 40 filler words, ending with the assistant."""
    n_words = n_tokens
    for _ in range(3):   # rescale the word count to the template's token count
        words = [FILLER[(offset + i) % len(FILLER)] for i in range(max(4, n_words))]
        turns = [" ".join(words[i:i + 40]) for i in range(0, len(words), 40)]
        if len(turns) % 2:   # end on an assistant turn
            turns.append("I see.")
        messages = [{"role": ("user", "assistant")[k % 2], "content": t} for k, t in enumerate(turns)]
        text = format_chat(tokenizer, messages[:-1], messages[-1]["content"])
        n_words = round(n_words * n_tokens / len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return text


def mixed_length_texts(tokenizer, n: int = 48, median: int = 160, p90: int = 370, lo: int = 40, hi: int = 1024,
                       seed: int = 0) -> list[str]:
    """`n` conversations with log-normal token lengths (given median and 90th percentile), clipped to lo..hi."""
    gen = torch.Generator().manual_seed(seed)
    sigma = math.log(p90 / median) / 1.2816   # z of the 90th percentile
    z = torch.randn(n, generator=gen)
    lengths = (median * torch.exp(sigma * z)).clamp(lo, hi).round().int().tolist()
    lengths[0] = hi   # the long tail is always represented
    return [_conversation(tokenizer, m, i) for i, m in enumerate(lengths)]


def short_texts(tokenizer, n: int = 64) -> list[str]:
    """`n` single-turn instructions with a one-sentence answer (about 60-90 tokens each)."""
    out = []
    for i in range(n):
        words = (FILLER * 2)[i % len(FILLER):][: 12 + i % 9]
        out.append(format_chat(tokenizer, " ".join(words), "Here is a short answer in one sentence, as a small model gives it."))
    return out


def padded_fraction(tokenizer, texts: list[str], batch_size: int, batch_tokens: int | None, max_length: int = 2048) -> float:
    """Padded tokens / real tokens - 1 of the batches `extract_embeddings` would form."""
    ids, _ = tokenize_texts(tokenizer, texts, max_length)
    lengths = [len(ids[i]) for i in length_order(ids)]
    slots = sum((b.stop - b.start) * lengths[b.start] for b in length_batches(lengths, batch_size, batch_tokens))
    return slots / sum(lengths) - 1


def measure(model, tokenizer, texts: list[str], *, batch_size: int = 16, batch_tokens: int | None = None,
            padding_side: str = "right") -> dict[str, float]:
    """Tokens per CPU-second (all threads' time, so it does not depend on other load) and per wall second."""
    old = tokenizer.padding_side
    tokenizer.padding_side = padding_side
    try:
        n = sum(len(x) for x in tokenize_texts(tokenizer, texts, 2048)[0])
        c0, w0 = time.process_time(), time.perf_counter()
        extract_embeddings(model, tokenizer, texts, batch_size=batch_size, batch_tokens=batch_tokens, progress=False)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    finally:
        tokenizer.padding_side = old
    return {"tokens": n, "tokens_per_cpu_s": n / cpu, "tokens_per_s": n / wall,
            "padded": padded_fraction(tokenizer, texts, batch_size, batch_tokens)}


def long_texts(tokenizer, n: int = 8, hi: int = 1024, lo: int = 900) -> list[str]:
    """`n` conversations of `lo`..`hi` tokens (evenly spaced): the long tail of a dialogue set."""
    return [_conversation(tokenizer, hi - (hi - lo) * i // max(1, n - 1), i) for i in range(n)]


BEFORE = dict(batch_tokens=None, padding_side="left")   # fixed batches of 16 with a padding mask


def report(model_name: str = "smollm2-135m-instruct", batch_tokens: int = 2048) -> list[str]:
    """Lines for `make bench`: tokens per CPU-second on short texts and, before -> now, on long mixed texts."""
    from .models import load_model

    model, tok = load_model(model_name)
    now = dict(batch_tokens=batch_tokens, padding_side="right")
    sets = {"short": short_texts(tok), "mixed": mixed_length_texts(tok), "long": long_texts(tok)}
    lengths = {k: sorted(len(x) for x in tokenize_texts(tok, v, 2048)[0]) for k, v in sets.items()}
    names = {k: f"{len(v)} texts of {lengths[k][0]}-{lengths[k][-1]} tokens (median {lengths[k][len(v) // 2]})"
             for k, v in sets.items()}
    out = [f"embedding throughput, {model_name}, float32, {torch.get_num_threads()} thread(s), tokens per CPU-second "
           f"(before = batches of 16 with a padding mask; now = `lens embed`: at most {batch_tokens} padded tokens "
           "per batch, right padding without a mask):"]
    r = measure(model, tok, sets["short"], **now)
    out.append(f"  short texts, {names['short']}: {r['tokens_per_cpu_s']:,.0f} ({100 * r['padded']:.0f}% padding)")
    for key, label in (("mixed", "long mixed-length dialogues"), ("long", "the long tail")):
        a, b = measure(model, tok, sets[key], **BEFORE), measure(model, tok, sets[key], **now)
        out.append(f"  {label}, {names[key]}: before {a['tokens_per_cpu_s']:,.0f} ({100 * a['padded']:.0f}% padding) "
                   f"-> now {b['tokens_per_cpu_s']:,.0f} ({100 * b['padded']:.0f}% padding)")
    return out

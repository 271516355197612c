"""An LLM as judge of two responses (Table 1's text augmentation and self-rewarding rows).

The judge reads a comparison prompt (the request, "Response A", "Response B", "answer with one
letter") in the model's chat template with the generation prompt, and we read the log-probabilities
of the two answer tokens ("A", "B") at the next position. Small models prefer one position
whatever the content (position bias), so every pair is judged in both orders and the two log-odds
are averaged:

    m_AB = log p("A" | i shown as A, j as B) - log p("B" | same)       (favours i when > 0)
    m_BA = log p("B" | j shown as A, i as B) - log p("A" | same)       (favours i when > 0)
    margin(i, j) = (m_AB + m_BA) / 2,     label: i preferred to j  iff  margin > 0

A constant preference for one letter adds +c to m_AB and -c to m_BA, and cancels in the margin.

Label format (`judge_pool` / `save_labels`, read by `lens_minimal.annotators.LabelTable`): a JSON
file {"labels": [{"row", "id", "i", "j", "margin", "margin_ab", "margin_ba"}, ...], ...provenance}
where row/id name the training prompt, and i < j are response numbers of that prompt (0 = seed
chosen, 1 = seed rejected, 2.. = pool; `annotators.candidate_pairs`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..io import LensInputError
from .generation import chat_prompt

JUDGE_TEMPLATE = (
    "Which response answers the request better?\n\n"
    "Request:\n{prompt}\n\n"
    "Response {label_a}:\n{response_a}\n\n"
    "Response {label_b}:\n{response_b}\n\n"
    "Answer with a single letter, {label_a} or {label_b}."
)


@dataclass
class JudgeConfig:
    labels: tuple[str, str] = ("A", "B")   # the two answer tokens (each must be one token)
    batch_size: int = 16                    # judge inputs per forward pass
    max_length: int = 1024                  # longer inputs keep their end (the question sits there)


def judge_text(tokenizer, prompt: str, response_a: str, response_b: str, config: JudgeConfig | None = None) -> str:
    """The judge's model input for one order: comparison prompt in the chat template, generation prompt added."""
    config = config or JudgeConfig()
    la, lb = config.labels
    return chat_prompt(tokenizer, JUDGE_TEMPLATE.format(prompt=prompt, response_a=response_a,
                                                        response_b=response_b, label_a=la, label_b=lb))


def answer_token_ids(tokenizer, labels: Sequence[str]) -> list[int]:
    """Token id of each answer label; an error if a label is not exactly one token."""
    ids = []
    for lab in labels:
        tok = tokenizer.encode(lab, add_special_tokens=False)
        if len(tok) != 1:
            raise LensInputError(f"judge label {lab!r} is {len(tok)} tokens for this tokenizer; it must be one token")
        ids.append(tok[0])
    return ids


@torch.inference_mode()
def answer_logprobs(model, tokenizer, texts: Sequence[str], config: JudgeConfig | None = None,
                    progress: bool = False) -> torch.Tensor:
    """log p(label_a), log p(label_b) at the position after each text. -> (n, 2)

    Left padding, so the next-token position is the last column of every row; only that position's
    logits are computed (`logits_to_keep=1`).
    """
    config = config or JudgeConfig()
    ids = answer_token_ids(tokenizer, config.labels)
    enc_all = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    enc_all = [x[-config.max_length:] for x in enc_all]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    for b in tqdm(range(0, len(enc_all), config.batch_size), desc="judge", disable=not progress, leave=False):
        batch = enc_all[b: b + config.batch_size]
        width = max(len(x) for x in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for k, x in enumerate(batch):
            input_ids[k, width - len(x):] = torch.tensor(x)
            mask[k, width - len(x):] = 1
        positions = (mask.cumsum(1) - 1).clamp_min(0)      # left padding must not shift positions
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                       logits_to_keep=1).logits[:, -1]      # (B, vocab)
        out.append(torch.log_softmax(logits.float(), dim=-1)[:, ids])
    return torch.cat(out)


def judge_pairs(model, tokenizer, prompts: Sequence[str], responses_i: Sequence[str], responses_j: Sequence[str],
                config: JudgeConfig | None = None, progress: bool = False) -> dict[str, torch.Tensor]:
    """Judge each (prompt, i, j) in both orders: {"margin", "margin_ab", "margin_ba"}, each (M,); margin > 0: i preferred."""
    if not len(prompts) == len(responses_i) == len(responses_j):
        raise LensInputError(f"judge_pairs: {len(prompts)} prompts, {len(responses_i)} and {len(responses_j)} responses")
    if len(prompts) == 0:
        raise LensInputError("judge_pairs: no pairs to judge")
    ab = [judge_text(tokenizer, p, a, b, config) for p, a, b in zip(prompts, responses_i, responses_j)]
    ba = [judge_text(tokenizer, p, b, a, config) for p, a, b in zip(prompts, responses_i, responses_j)]
    lp = answer_logprobs(model, tokenizer, ab + ba, config, progress=progress)   # (2M, 2)
    m = len(prompts)
    margin_ab = lp[:m, 0] - lp[:m, 1]
    margin_ba = lp[m:, 1] - lp[m:, 0]
    return {"margin": (margin_ab + margin_ba) / 2, "margin_ab": margin_ab, "margin_ba": margin_ba}


def judge_pool(model, tokenizer, train_rows: list[dict], rows: Sequence[int], pairs: torch.Tensor,
               config: JudgeConfig | None = None, progress: bool = False) -> tuple[list[dict], float]:
    """Judge candidate pairs (i, j) of the given training rows (shipped text rows: prompt, responses,
    chosen, rejected, pool). Returns (labels in the module's format, seconds)."""
    if len(rows) != len(pairs):
        raise LensInputError(f"judge_pool: {len(rows)} rows but {len(pairs)} pairs")
    texts = [response_texts(train_rows[r]) for r in rows]
    t0 = time.perf_counter()
    out = judge_pairs(model, tokenizer, [train_rows[r]["prompt"] for r in rows],
                      [t[int(p[0])] for t, p in zip(texts, pairs)], [t[int(p[1])] for t, p in zip(texts, pairs)],
                      config, progress=progress)
    seconds = time.perf_counter() - t0
    labels = [{"row": int(r), "id": train_rows[r]["id"], "i": int(p[0]), "j": int(p[1]),
               "margin": float(out["margin"][k]), "margin_ab": float(out["margin_ab"][k]),
               "margin_ba": float(out["margin_ba"][k])} for k, (r, p) in enumerate(zip(rows, pairs))]
    return labels, seconds


def response_texts(row: dict) -> list[str]:
    """A shipped training row's responses in the annotators' numbering: chosen, rejected, then the pool."""
    return [row["responses"][row["chosen"]], row["responses"][row["rejected"]]] + [row["responses"][k] for k in row["pool"]]


def position_bias(margin_ab: torch.Tensor, margin_ba: torch.Tensor) -> dict[str, float]:
    """How much the judge prefers the first position: mean of (m_AB - m_BA) / 2 (0 = none), and how
    often the two orders disagree on the winner."""
    return {"first_position_logodds": float(((margin_ab - margin_ba) / 2).mean()),
            "order_disagreement": float(((margin_ab > 0) != (margin_ba > 0)).float().mean())}

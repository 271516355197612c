"""Real preference data in the formats users already have (paper, Evaluation: HH-RLHF and TL;DR).

All readers take JSON Lines, plain or gzip-compressed (`.gz`), one object a line; blank lines are
skipped. Formats of `load_preferences`:

- `"jsonl"`: TRL's preference format. `prompt`, `chosen`, `rejected` are plain strings, or lists
  of `{role, content}` messages. Message lists are normalised so that the prompt holds the whole
  conversation and `chosen`/`rejected` hold only the final assistant reply: messages of a
  response before its last one (which must be an assistant turn) must be identical in chosen
  and rejected and are moved to the end of the prompt. Without a `prompt` field (TRL's
  "implicit prompt"), chosen and rejected must be message lists; the prompt is then their shared
  prefix (all but the last message).
- `"hh-rlhf"`: Anthropic HH-RLHF. `chosen`/`rejected` are whole dialogues
  ("\\n\\nHuman: ...\\n\\nAssistant: ..."). Prompt = everything up to and including the last
  "\\n\\nAssistant:", response = the rest, stripped. The prompt is returned as chat messages
  (`hh_dialogue_to_messages`) so the embedding model's own chat template renders it. When the
  two prompts differ (a response itself contains "\n\nAssistant:", e.g. a hallucinated next
  turn: 5 of 2,312 rows of the harmless-base test split), the dialogues are split instead at the
  last "\n\nAssistant:" of their longest common prefix; such rows are counted in a warning. Rows
  that cannot be split that way either are skipped, also with a warning giving count and lines.
- `"tldr"`: OpenAI summarize-from-feedback comparisons: `info` (`post`, or `article` for news
  rows; optional `title`, `subreddit`), `summaries` (two objects with `text`) and `choice` (index
  of the preferred summary). The prompt is `TLDR_TEMPLATE`, which ends with "TL;DR:".

`embed_preferences` / `embed_best_of_n` turn records into the embedding datasets of `data.py`.
"""
from __future__ import annotations

import gzip
import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from ..data import BestOfNSet, PreferencePairs
from .embeddings import extract_embeddings, format_chat
from ..io import LensInputError

@dataclass
class PreferenceRecord:
    """One comparison: `chosen` is preferred over `rejected` as a reply to `prompt`."""

    prompt: str | list[dict]
    chosen: str
    rejected: str


@dataclass
class BestOfNRecord:
    """One prompt with N >= 2 candidate responses and their gold rewards."""

    prompt: str | list[dict]
    responses: list[str]
    gold: list[float]


TLDR_TEMPLATE = "SUBREDDIT: r/{subreddit}\nTITLE: {title}\nPOST: {post}\n\nTL;DR:"
TLDR_TEMPLATE_NO_META = "POST: {post}\n\nTL;DR:"   # when the row has neither title nor subreddit
HH_ASSISTANT = "\n\nAssistant:"


# ----------------------------------------------------------------------------- reading lines

def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield `(line_number, object)` from a JSON Lines file (gzip if it starts with the gzip magic)."""
    path = Path(path)
    if not path.is_file():
        raise LensInputError(f"{path}: file not found")
    with open(path, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    seen = False
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise LensInputError(f"{path}, line {number}: malformed JSON ({err.msg}, column {err.colno})") from None
                if not isinstance(obj, dict):
                    raise LensInputError(f"{path}, line {number}: expected a JSON object, got {type(obj).__name__}")
                seen = True
                yield number, obj
    except (OSError, EOFError, UnicodeDecodeError) as err:   # truncated gzip, binary junk
        raise LensInputError(f"{path}: cannot be read as (gzipped) UTF-8 JSON Lines ({err})") from None
    if not seen:
        raise LensInputError(f"{path}: is empty (no JSON rows)")


def _field(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise LensInputError(f"{where}: missing field {key!r} (found: {sorted(obj)})")
    return obj[key]


def found(value: Any) -> str:
    """A JSON value's type and a glimpse of it, for error messages: "boolean (true)", "number (3)"."""
    kind = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object",
            type(None): "null"}.get(type(value), type(value).__name__)
    shown = json.dumps(value, ensure_ascii=False)
    return f"{kind} ({shown[:40]}{'...' if len(shown) > 40 else ''})"


def _text(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise LensInputError(f"{where}: field {key!r} must be a string, found {found(value)}")
    return value


def _messages(value: Any, key: str, where: str) -> list[dict]:
    """Check a list of {role: str, content: str} messages; return plain {role, content} copies."""
    if not isinstance(value, list) or not value:
        raise LensInputError(f"{where}: field {key!r} must be a string or a non-empty list of "
                             f"{{role, content}} messages, found {found(value)}")
    out = []
    for j, m in enumerate(value):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise LensInputError(f"{where}: {key}[{j}] must be an object with string 'role' and 'content', found {found(m)}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _prompt(value: Any, key: str, where: str) -> str | list[dict]:
    return value if isinstance(value, str) else _messages(value, key, where)


# ----------------------------------------------------------------------------- formats

def _trl_row(obj: dict, where: str, prompt_key: str, chosen_key: str, rejected_key: str) -> PreferenceRecord:
    chosen, rejected = _field(obj, chosen_key, where), _field(obj, rejected_key, where)
    for key, value in ((chosen_key, chosen), (rejected_key, rejected)):
        if not isinstance(value, (str, list)):
            raise LensInputError(f"{where}: field {key!r} must be a string or a list of {{role, content}} messages, "
                                 f"found {found(value)}")
    if isinstance(chosen, str) and isinstance(rejected, str):
        return PreferenceRecord(_prompt(_field(obj, prompt_key, where), prompt_key, where), chosen, rejected)
    if isinstance(chosen, str) or isinstance(rejected, str):
        kinds = ["a string" if isinstance(v, str) else "a message list" for v in (chosen, rejected)]
        raise LensInputError(f"{where}: field {chosen_key!r} is {kinds[0]} but {rejected_key!r} is {kinds[1]}; "
                             "both must be strings or both message lists")
    chosen, rejected = _messages(chosen, chosen_key, where), _messages(rejected, rejected_key, where)
    for key, msgs in ((chosen_key, chosen), (rejected_key, rejected)):
        if msgs[-1]["role"] != "assistant":
            raise LensInputError(f"{where}: the last message of {key!r} must have role 'assistant', got {msgs[-1]['role']!r}")
    if chosen[:-1] != rejected[:-1]:
        raise LensInputError(f"{where}: {chosen_key!r} and {rejected_key!r} differ before their last message")
    if prompt_key in obj:
        prompt = _prompt(obj[prompt_key], prompt_key, where)
        if chosen[:-1]:   # earlier turns of the responses continue the conversation
            prompt = ([{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt) + chosen[:-1]
    elif chosen[:-1]:
        prompt = chosen[:-1]   # implicit prompt: the shared prefix
    else:
        raise LensInputError(f"{where}: missing field {prompt_key!r} (and the responses hold no shared conversation)")
    return PreferenceRecord(prompt, chosen[-1]["content"], rejected[-1]["content"])


def split_hh_dialogue(text: str, where: str = "dialogue") -> tuple[str, str]:
    """HH-RLHF dialogue → (prompt up to and including the last "\\n\\nAssistant:", stripped response)."""
    cut = text.rfind(HH_ASSISTANT)
    if cut < 0:
        raise LensInputError(f"{where}: no {HH_ASSISTANT!r} turn in the dialogue")
    cut += len(HH_ASSISTANT)
    return text[:cut], text[cut:].strip()


def hh_dialogue_to_messages(prompt_text: str) -> list[dict]:
    """"\\n\\nHuman: a\\n\\nAssistant: b\\n\\nHuman: c\\n\\nAssistant:" → user/assistant messages.

    The empty trailing Assistant turn (the slot the response fills) is dropped; text before the
    first marker, if any, becomes a leading user message.
    """
    parts = re.split(r"\n\n(Human|Assistant):", prompt_text)
    messages = [{"role": "user", "content": parts[0].strip()}] if parts[0].strip() else []
    for speaker, content in zip(parts[1::2], parts[2::2]):
        messages.append({"role": "user" if speaker == "Human" else "assistant", "content": content.strip()})
    if messages and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
        messages.pop()
    if not messages:
        raise LensInputError("HH-RLHF prompt: no Human/Assistant turns found")
    return messages


def _hh_row(obj: dict, where: str, chosen_key: str, rejected_key: str) -> tuple[PreferenceRecord | None, bool]:
    """(record, repaired): record None when no shared prompt exists; repaired when split at the common prefix."""
    full_chosen = _text(_field(obj, chosen_key, where), chosen_key, where)
    full_rejected = _text(_field(obj, rejected_key, where), rejected_key, where)
    p_chosen, chosen = split_hh_dialogue(full_chosen, f"{where}, field {chosen_key!r}")
    p_rejected, rejected = split_hh_dialogue(full_rejected, f"{where}, field {rejected_key!r}")
    if p_chosen == p_rejected:
        return PreferenceRecord(hh_dialogue_to_messages(p_chosen), chosen, rejected), False
    # A response contains "\n\nAssistant:" itself: split both at the last marker they share.
    n = next((i for i, (a, b) in enumerate(zip(full_chosen, full_rejected)) if a != b), min(len(full_chosen), len(full_rejected)))
    cut = full_chosen.rfind(HH_ASSISTANT, 0, n)
    if cut < 0:
        return None, False
    cut += len(HH_ASSISTANT)
    record = PreferenceRecord(hh_dialogue_to_messages(full_chosen[:cut]), full_chosen[cut:].strip(), full_rejected[cut:].strip())
    return record, True


def tldr_prompt(info: dict, where: str = "info") -> str:
    """The summarisation prompt: `TLDR_TEMPLATE` (subreddit, title, post), ending with "TL;DR:"."""
    if not isinstance(info, dict):
        raise LensInputError(f"{where}: field 'info' must be an object")
    post = info.get("post") if info.get("post") is not None else info.get("article")
    if not isinstance(post, str):
        raise LensInputError(f"{where}: missing field 'info.post' (or 'info.article')")
    title, subreddit = info.get("title"), info.get("subreddit")
    if title is None and subreddit is None:
        return TLDR_TEMPLATE_NO_META.format(post=post.strip())
    return TLDR_TEMPLATE.format(subreddit=subreddit or "", title=(title or "").strip(), post=post.strip())


def _tldr_row(obj: dict, where: str) -> PreferenceRecord:
    prompt = tldr_prompt(_field(obj, "info", where), where)
    summaries, choice = _field(obj, "summaries", where), _field(obj, "choice", where)
    if not (isinstance(summaries, list) and len(summaries) == 2):
        raise LensInputError(f"{where}: field 'summaries' must be a list of two summaries")
    texts = [_text(s.get("text") if isinstance(s, dict) else None, f"summaries[{j}].text", where) for j, s in enumerate(summaries)]
    if choice not in (0, 1) or isinstance(choice, bool):
        raise LensInputError(f"{where}: field 'choice' must be 0 or 1, got {choice!r}")
    return PreferenceRecord(prompt, texts[choice].strip(), texts[1 - choice].strip())


FORMATS = ("jsonl", "hh-rlhf", "tldr")


def guess_format(obj: dict) -> str | None:
    """The format a row's fields look like ("jsonl", "hh-rlhf", "tldr", "best-of-n"), or None."""
    keys = set(obj)
    if {"info", "summaries", "choice"} <= keys:
        return "tldr"
    if {"responses", "gold"} <= keys:
        return "best-of-n"
    chosen, rejected = obj.get("chosen"), obj.get("rejected")
    if isinstance(chosen, str) and isinstance(rejected, str) and all(
            "Human:" in t and HH_ASSISTANT in t for t in (chosen, rejected)):
        return "hh-rlhf"
    if {"chosen", "rejected"} <= keys:
        return "jsonl"
    return None


def _with_format_hint(err: LensInputError, obj: dict, format: str) -> LensInputError:
    guess = guess_format(obj)
    if guess is None or guess == format:
        return err
    return LensInputError(f"{err}. The fields look like the {guess!r} format: use --format {guess}")


def load_preferences(
    path: str | Path,
    format: str = "jsonl",
    *,
    prompt_key: str = "prompt",
    chosen_key: str = "chosen",
    rejected_key: str = "rejected",
    limit: int | None = None,
) -> list[PreferenceRecord]:
    """Read preference pairs from a JSON Lines file (plain or .gz); see the module docstring for formats.

    Key overrides apply to "jsonl" (all three) and "hh-rlhf" (chosen/rejected); "tldr" has fixed
    keys. `limit` stops after that many records.
    """
    if format not in FORMATS:
        raise LensInputError(f"format: unknown value {format!r}; known: {list(FORMATS)}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise LensInputError(f"limit: must be a positive integer or None, got {limit!r}")
    records: list[PreferenceRecord] = []
    repaired: list[int] = []    # hh-rlhf rows split at the common prefix
    skipped: list[int] = []     # hh-rlhf rows with no shared prompt
    for number, obj in iter_jsonl(path):
        where = f"{path}, line {number}"
        try:
            if format == "jsonl":
                record = _trl_row(obj, where, prompt_key, chosen_key, rejected_key)
            elif format == "hh-rlhf":
                record, was_repaired = _hh_row(obj, where, chosen_key, rejected_key)
                (repaired if was_repaired else skipped if record is None else []).append(number)
            else:
                record = _tldr_row(obj, where)
        except LensInputError as err:
            raise _with_format_hint(err, obj, format) from None
        if record is None:
            continue
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    if repaired:
        warnings.warn(f"{path}: {len(repaired)} row(s) have '\\n\\nAssistant:' inside a response; split at the "
                      f"chosen/rejected common prefix instead ({_lines(repaired)})", stacklevel=2)
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped)} row(s) whose chosen and rejected prompts differ "
                      f"({_lines(skipped)})", stacklevel=2)
    if not records:
        raise LensInputError(f"{path}: no usable preference pairs")
    return records


def _lines(numbers: list[int]) -> str:
    return f"lines {numbers[:5]}{' ...' if len(numbers) > 5 else ''}"


def load_best_of_n(
    path: str | Path,
    *,
    prompt_key: str = "prompt",
    responses_key: str = "responses",
    gold_key: str = "gold",
) -> list[BestOfNRecord]:
    """Read Best-of-N sets: per line a prompt, N >= 2 responses and N finite gold rewards."""
    records = []
    for number, obj in iter_jsonl(path):
        where = f"{path}, line {number}"
        try:
            prompt = _prompt(_field(obj, prompt_key, where), prompt_key, where)
            responses, gold = _field(obj, responses_key, where), _field(obj, gold_key, where)
        except LensInputError as err:
            raise _with_format_hint(err, obj, "best-of-n") from None
        if not (isinstance(responses, list) and all(isinstance(r, str) for r in responses)):
            raise LensInputError(f"{where}: field {responses_key!r} must be a list of strings")
        if len(responses) < 2:
            raise LensInputError(f"{where}: field {responses_key!r} needs at least 2 responses, got {len(responses)}")
        if not (isinstance(gold, list) and all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in gold)):
            raise LensInputError(f"{where}: field {gold_key!r} must be a list of numbers")
        if len(gold) != len(responses):
            raise LensInputError(f"{where}: {len(responses)} {responses_key} but {len(gold)} {gold_key} values")
        if not all(math.isfinite(g) for g in gold):
            raise LensInputError(f"{where}: field {gold_key!r} contains NaN or infinite values")
        records.append(BestOfNRecord(prompt, list(responses), [float(g) for g in gold]))
    return records


# ----------------------------------------------------------------------------- records → embeddings

def preference_texts(records: list[PreferenceRecord], tokenizer) -> list[str]:
    """The 2N model inputs of N records: every (prompt, chosen) with `format_chat`, then every (prompt, rejected)."""
    if not records:
        raise LensInputError("records: is empty")
    return [format_chat(tokenizer, r.prompt, r.chosen) for r in records] + \
        [format_chat(tokenizer, r.prompt, r.rejected) for r in records]


def best_of_n_texts(records: list[BestOfNRecord], tokenizer) -> list[str]:
    """The P*N model inputs of P records (all with the same N), prompt by prompt."""
    if not records:
        raise LensInputError("records: is empty")
    n = len(records[0].responses)
    for i, r in enumerate(records):
        if len(r.responses) != n:
            raise LensInputError(f"records[{i}]: has {len(r.responses)} responses, records[0] has {n}; N must be equal")
    return [format_chat(tokenizer, r.prompt, y) for r in records for y in r.responses]


def pairs_from_rows(e: torch.Tensor, n: int) -> PreferencePairs:
    """(2N, d) embeddings of `preference_texts` -> N pairs."""
    return PreferencePairs(e[:n], e[n:])


def best_of_n_from_rows(e: torch.Tensor, records: list[BestOfNRecord]) -> BestOfNSet:
    """(P*N, d) embeddings of `best_of_n_texts` -> a Best-of-N set with the records' gold rewards."""
    gold = torch.tensor([r.gold for r in records], dtype=torch.float32)                       # (P, N)
    return BestOfNSet(e.reshape(len(records), gold.shape[1], -1), gold)


def embed_preferences(records: list[PreferenceRecord], model, tokenizer, *, layer: int = -1, **extract_kwargs) -> PreferencePairs:
    """Embed each (prompt, chosen) and (prompt, rejected) with `format_chat` + `extract_embeddings`."""
    texts = preference_texts(records, tokenizer)
    e = extract_embeddings(model, tokenizer, texts, layers=(layer,), **extract_kwargs)[layer]   # (2N, d)
    return pairs_from_rows(e, len(records))


def embed_best_of_n(records: list[BestOfNRecord], model, tokenizer, *, layer: int = -1, **extract_kwargs) -> BestOfNSet:
    """Embed every candidate of every prompt; all records must have the same N."""
    texts = best_of_n_texts(records, tokenizer)
    e = extract_embeddings(model, tokenizer, texts, layers=(layer,), **extract_kwargs)[layer]   # (P*N, d)
    return best_of_n_from_rows(e, records)

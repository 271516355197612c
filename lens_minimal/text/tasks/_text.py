"""Small text measurements shared by the gold reward programs (words, sentences, numbers, quality)."""
from __future__ import annotations

import random
import re
from typing import Callable

_WORD = re.compile(r"\S+")
_PLAIN = re.compile(r"^[\"'(\[*•-]*[A-Za-z0-9][A-Za-z0-9'’.,:;!?%$&/+\-]*[\"')\].,:;!?*]*$")
_SYMBOLS = {"+", "-", "*", "x", "×", "=", "/", "÷", "–", "—", "&", ":"}   # stand-alone tokens that are fine
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?![\w])")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n+")


def clip01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else float(x)


def words(text: str) -> list[str]:
    """Whitespace-separated tokens that contain at least one letter or digit."""
    return [w for w in _WORD.findall(text) if any(ch.isalnum() for ch in w)]


def sentences(text: str) -> list[str]:
    """Non-empty sentences: split at ., ! or ? followed by space / end, and at line breaks."""
    return [s for s in _SENTENCE_END.split(text) if words(s)]


def numbers_in(text: str) -> list[int | float]:
    """Numbers written with digits, in order ("1,200" -> 1200, "3.5" -> 3.5, "-4" -> -4)."""
    out: list[int | float] = []
    for m in _NUMBER.findall(text):
        v = float(m.replace(",", ""))
        out.append(int(v) if v.is_integer() else v)
    return out


def quality(text: str) -> float:
    """Fraction of word tokens that look like plain English tokens (ASCII letters/digits, usual punctuation,
    stand-alone arithmetic symbols)."""
    toks = _WORD.findall(text)
    if not toks:
        return 0.0
    return sum(bool(_PLAIN.match(t)) or t in _SYMBOLS for t in toks) / len(toks)


def repetition_fraction(text: str) -> float:
    """Fraction of word 3-grams (lowercased) that repeat an earlier 3-gram; 0 for under 4 words."""
    ws = [w.lower().strip(".,;:!?\"'") for w in words(text)]
    grams = [tuple(ws[i:i + 3]) for i in range(len(ws) - 2)]
    if len(grams) < 2:
        return 0.0
    seen: set = set()
    repeats = 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)


def prompt_rows(task: str, make_one: Callable[[random.Random], tuple[str, dict]], n: int, seed: int) -> list[dict]:
    """`n` prompts `{"id", "prompt", "meta"}` from `make_one(rng)`; prompt i depends only on (task, seed, i),
    so a longer list extends a shorter one."""
    rows = []
    for i in range(int(n)):
        prompt, meta = make_one(random.Random(f"{task}/{seed}/{i}"))
        rows.append({"id": f"{task}-s{seed}-{i:05d}", "prompt": prompt, "meta": meta})
    return rows

"""Checkable instructions: our stand-in for HH-RLHF, with a gold reward that is a readable program.

Prompts come from templates: a short writing request on a topic with one to three checkable
constraints, or a small arithmetic question with a format constraint. Each prompt carries `meta`,
the machine-checkable spec: `{"kind": "write" | "arithmetic", "topic": ..., "constraints": [...]}`,
each constraint a dict with a `type` and its parameter.

Gold reward (`gold_reward(response, meta)`, always in [0, 1]):

    gold = clip(base * quality - ramble - repetition - unfinished, 0, 1)
    base = mean over the prompt's constraints of a per-constraint score in [0, 1]

Per-constraint scores (soft where the failure has a size, so that Best-of-N differences show):
  * `answer` (arithmetic, exact integer `value`): among the numbers in the response other than
    the question's operands, 1 if the answer is the only one, 0.5 if the answer is there beside
    other numbers, 0 if the answer is missing.
  * `max_words` (`n`): 1 if the response has at most n words, then falls linearly to 0 at 2n words.
  * `include_word` (`word`): 1 if the word appears as a whole word (any case), else 0.
  * `list_items` (`n`): the response's list items (lines starting with "-", "*", "•" or "1." /
    "1)"); 1 if exactly n, else max(0, 1 - |items - n| / n); 0 with no list at all.
  * `lowercase`: 1 with no uppercase letter, minus 0.2 per uppercase letter (0 from 5 on).
  * `one_sentence`: 1 for exactly one sentence, minus 1/3 per extra sentence (0 with none).
Quality and penalties (the same for every prompt):
  * `quality`: the fraction of word tokens made of plain ASCII letters / digits / common
    punctuation; garbage or non-English output scores low. Empty or whitespace-only output: gold 0.
  * `ramble`: 0.005 per word beyond 40 words (a long answer to short requests), capped at 0.2.
  * `repetition`: 0.5 x the fraction of word 3-grams that repeat an earlier 3-gram, capped at 0.3.
  * `unfinished`: 0.05 if the text stops mid-sentence (no final ".", "!", "?", or list line) —
    the sampler cut it at the token budget.
"""
from __future__ import annotations

import random
import re

from ._text import clip01, numbers_in, prompt_rows, quality, repetition_fraction, sentences, words

TOPICS = [
    "the ocean", "autumn", "coffee", "a lighthouse", "bicycles", "the moon", "rain", "a library",
    "mountains", "friendship", "bread", "trains", "a garden", "winter", "cats", "dogs", "music",
    "the desert", "a river", "honey bees", "the city at night", "volcanoes", "tea", "a forest",
    "snow", "a market", "whales", "clocks", "kites", "the sun", "apples", "a small village",
    "chess", "a thunderstorm", "owls", "the beach", "paper boats", "a museum", "sunflowers", "bridges",
]
# Words to require; a plain word the model can use in any topic.
REQUIRED_WORDS = [
    "blue", "quiet", "gold", "happy", "window", "morning", "green", "small", "bright", "warm",
    "river", "light", "soft", "old", "wind", "stone", "seven", "silver", "cold", "dream",
]
RAMBLE_WORDS = 40


def _constraint_text(c: dict) -> str:
    t = c["type"]
    if t == "max_words":
        return f"Use at most {c['n']} words."
    if t == "include_word":
        return f"Use the word \"{c['word']}\"."
    if t == "list_items":
        return f"Write a list of exactly {c['n']} items, one per line, each starting with \"-\"."
    if t == "lowercase":
        return "Write only in lowercase letters."
    if t == "one_sentence":
        return "Answer in exactly one sentence."
    raise ValueError(t)


def _make_one(rng: random.Random) -> tuple[str, dict]:
    if rng.random() < 0.2:   # arithmetic with a format constraint
        op = rng.choice(["+", "-", "*"])
        a, b = (rng.randint(2, 9), rng.randint(2, 9)) if op == "*" else (rng.randint(10, 60), rng.randint(2, 30))
        if op == "-" and b > a:
            a, b = b, a
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        fmt = rng.choice([{"type": "one_sentence"}, {"type": "max_words", "n": rng.choice([5, 8, 10])},
                          {"type": "lowercase"}])
        constraints = [{"type": "answer", "value": value, "operands": [a, b]}, fmt]
        prompt = f"What is {a} {op} {b}? {_constraint_text(fmt)}"
        return prompt, {"kind": "arithmetic", "question": f"{a} {op} {b}", "constraints": constraints}
    topic = rng.choice(TOPICS)
    pool = ["max_words", "include_word", "list_items", "lowercase", "one_sentence"]
    k = rng.choice([1, 2, 2, 3])
    chosen = rng.sample(pool, k)
    if "list_items" in chosen and "one_sentence" in chosen:   # incompatible: drop one
        chosen.remove(rng.choice(["list_items", "one_sentence"]))
    constraints = []
    for t in pool:   # fixed order: the prompt text reads the same way every time
        if t not in chosen:
            continue
        if t == "max_words":
            constraints.append({"type": t, "n": rng.choice([10, 15, 20, 25])})
        elif t == "include_word":
            constraints.append({"type": t, "word": rng.choice(REQUIRED_WORDS)})
        elif t == "list_items":
            constraints.append({"type": t, "n": rng.choice([2, 3, 4, 5])})
        else:
            constraints.append({"type": t})
    verb = "Write a list about" if any(c["type"] == "list_items" for c in constraints) else \
        rng.choice(["Write about", "Describe", "Tell me about", "Write a short note about"])
    prompt = f"{verb} {topic}. " + " ".join(_constraint_text(c) for c in constraints)
    return prompt, {"kind": "write", "topic": topic, "constraints": constraints}


def make_prompts(n: int, seed: int = 0) -> list[dict]:
    """`n` prompts `{"id", "prompt", "meta"}`; prompt i depends only on (seed, i), so prefixes agree."""
    return prompt_rows("instructions", _make_one, n, seed)


# ---------------------------------------------------------------- the gold reward program
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+\S")


def list_items(text: str) -> int:
    """Number of lines that look like list items."""
    return sum(1 for line in text.splitlines() if _LIST_LINE.match(line))


def constraint_score(c: dict, text: str) -> float:
    """Score in [0, 1] of one constraint on the response `text` (see the module docstring)."""
    t = c["type"]
    if t == "answer":
        # Numbers other than the question's operands: the answer alone scores 1, the answer
        # among other (wrong) numbers 0.5, no answer 0.
        nums = [x for x in numbers_in(text) if x not in c.get("operands", [])]
        if c["value"] not in nums:
            return 0.0
        return 1.0 if all(x == c["value"] for x in nums) else 0.5
    if t == "max_words":
        n_words = len(words(text))
        return clip01(1.0 - max(0, n_words - c["n"]) / c["n"])
    if t == "include_word":
        return 1.0 if re.search(rf"\b{re.escape(c['word'])}\b", text, flags=re.IGNORECASE) else 0.0
    if t == "list_items":
        m = list_items(text)
        return 0.0 if m == 0 else clip01(1.0 - abs(m - c["n"]) / c["n"])
    if t == "lowercase":
        return clip01(1.0 - 0.2 * sum(ch.isupper() for ch in text))
    if t == "one_sentence":
        s = len(sentences(text))
        return 0.0 if s == 0 else clip01(1.0 - (s - 1) / 3)
    raise ValueError(f"unknown constraint type {t!r}")


def gold_parts(response: str, meta: dict) -> dict:
    """Every term of the gold reward, for data cards and debugging; `gold` is the final score."""
    text = response.strip()
    if not words(text):
        return {"gold": 0.0, "base": 0.0, "quality": 0.0, "ramble": 0.0, "repetition": 0.0, "unfinished": 0.0}
    scores = [constraint_score(c, text) for c in meta["constraints"]]
    base = sum(scores) / len(scores)
    q = quality(text)
    ramble = min(0.2, 0.005 * max(0, len(words(text)) - RAMBLE_WORDS))
    rep = min(0.3, 0.5 * repetition_fraction(text))
    last_line = text.splitlines()[-1]
    unfinished = 0.0 if (text[-1] in ".!?\"')" or _LIST_LINE.match(last_line)) else 0.05
    gold = clip01(base * q - ramble - rep - unfinished)
    return {"gold": gold, "base": base, "quality": q, "ramble": ramble, "repetition": rep,
            "unfinished": unfinished, "constraint_scores": scores}


def gold_reward(response: str, meta: dict) -> float:
    """Gold reward in [0, 1] of `response` to the prompt described by `meta` (module docstring)."""
    return round(gold_parts(response, meta)["gold"], 6)

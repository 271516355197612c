"""Fact summaries: our stand-in for TL;DR, with a gold reward that is a readable program.

Each prompt holds a short passage generated from templates (a person, a place, a year, a count,
an event) and asks for a one-sentence summary. `meta` holds the passage and its key facts:
`{"passage": ..., "facts": [{"name", "weight", "match": [[alias, score], ...]}], "budget": 30}`.

Gold reward (`gold_reward(response, meta)`, always in [0, 1]):

    gold = clip(coverage - length - invented - extra_sentences - repetition, 0, 1) * quality
    coverage = sum over key facts of weight * (best alias score found) / sum of weights

  * key facts (5, equal weight): the person (full name 1, surname only 0.8, first name only 0.5),
    the place, the year, the count (digits), and the event (any of its keywords). Matching is
    case-insensitive on whole words.
  * `length`: 0.02 per word beyond the budget of 30 words, capped at 0.4.
  * `invented` (hallucination): 0.15 per number not in the passage and 0.1 per capitalised word
    not in the passage (except at the start of a sentence, "I", and a few function words),
    capped at 0.5 together.
  * `extra_sentences`: 0.05 per sentence beyond the first, capped at 0.2.
  * `repetition`: 0.5 x the fraction of repeated word 3-grams, capped at 0.3.
  * `quality`: fraction of word tokens that look like plain English (garbage scores low).
    Empty or whitespace-only output: gold 0.
"""
from __future__ import annotations

import random
import re

from ._text import clip01, numbers_in, prompt_rows, quality, repetition_fraction, sentences, words

FIRST = ["Maria", "John", "Aisha", "Kenji", "Elena", "Omar", "Sofia", "Lucas", "Priya", "Daniel",
         "Grace", "Tomas", "Nadia", "Victor", "Hannah", "Mateo", "Leila", "Samuel", "Ingrid", "Felix"]
SHE = {"Maria", "Aisha", "Elena", "Sofia", "Priya", "Grace", "Nadia", "Hannah", "Leila", "Ingrid"}
LAST = ["Lopez", "Carter", "Okafor", "Tanaka", "Petrova", "Haddad", "Rossi", "Meyer", "Sharma", "Novak",
        "Bennett", "Silva", "Kowalski", "Moreau", "Larsen", "Duarte", "Nasser", "Whitfield", "Berg", "Adler"]
PLACES = ["Lisbon", "Oslo", "Nairobi", "Kyoto", "Lima", "Vienna", "Dublin", "Cairo", "Seoul", "Quebec",
          "Porto", "Krakow", "Denver", "Mumbai", "Hobart", "Tunis", "Bergen", "Austin", "Valencia", "Osaka"]
# Event templates: (sentence with {first} {last} {place} {year} {count}, keywords proving the event, count unit)
EVENTS = [
    ("In {year}, {first} {last} opened a small bakery in {place}.", ["bakery", "bakeries"],
     "It sold {count} loaves of bread on its first day."),
    ("In {year}, {first} {last} won the city marathon in {place}.", ["marathon"],
     "More than {count} runners took part in the race."),
    ("In {year}, {first} {last} founded a robotics company in {place}.", ["robotics", "company"],
     "The company now employs {count} engineers."),
    ("In {year}, {first} {last} planted a community garden in {place}.", ["garden"],
     "Volunteers have since planted {count} trees there."),
    ("In {year}, {first} {last} built a wooden bridge in {place}.", ["bridge"],
     "About {count} people cross it every week."),
    ("In {year}, {first} {last} discovered a new species of frog near {place}.", ["frog", "species"],
     "Only {count} of the frogs are known to exist."),
    ("In {year}, {first} {last} opened a public library in {place}.", ["library"],
     "It now lends {count} books every month."),
    ("In {year}, {first} {last} started a music festival in {place}.", ["festival"],
     "Last summer {count} visitors came to listen."),
]
# Detail sentences that add words (and distractors) but are not key facts.
DETAILS = [
    "{first} had grown up on a farm and loved working with {pron_obj} hands.",
    "Friends say {first} rarely takes a day off.",
    "The local newspaper wrote about {pron_obj} work several times.",
    "{first} says the idea came during a long walk by the sea.",
    "Many people in the area were surprised by the project.",
]
BUDGET = 30
_FUNCTION_WORDS = {"I", "The", "A", "An", "In", "On", "At", "It", "He", "She", "They", "This", "That"}


def _make_one(rng: random.Random) -> tuple[str, dict]:
    first, last, place = rng.choice(FIRST), rng.choice(LAST), rng.choice(PLACES)
    year = rng.randint(1950, 2022)
    count = rng.choice([rng.randint(12, 99), rng.randint(100, 999), rng.randint(1000, 9000)])
    lead, keywords, count_sentence = rng.choice(EVENTS)
    fill = dict(first=first, last=last, place=place, year=year, count=count, pron_obj="her" if first in SHE else "his")
    detail = rng.choice(DETAILS)
    # Three sentences (about 35 words): short prompts keep CPU sampling affordable.
    parts = [lead.format(**fill), detail.format(**fill), count_sentence.format(**fill)]
    passage = " ".join(parts)
    facts = [
        {"name": "person", "weight": 1.0, "match": [[f"{first} {last}", 1.0], [last, 0.8], [first, 0.5]]},
        {"name": "place", "weight": 1.0, "match": [[place, 1.0]]},
        {"name": "year", "weight": 1.0, "match": [[str(year), 1.0]]},
        {"name": "count", "weight": 1.0, "match": [[str(count), 1.0], [f"{count:,}", 1.0]]},
        {"name": "event", "weight": 1.0, "match": [[k, 1.0] for k in keywords]},
    ]
    prompt = f"Summarize the following text in one sentence.\n\n{passage}"
    return prompt, {"passage": passage, "facts": facts, "budget": BUDGET}


def make_prompts(n: int, seed: int = 0) -> list[dict]:
    """`n` prompts `{"id", "prompt", "meta"}`; prompt i depends only on (seed, i), so prefixes agree."""
    return prompt_rows("summaries", _make_one, n, seed)


# ---------------------------------------------------------------- the gold reward program
def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text, flags=re.IGNORECASE) is not None


def invented_items(text: str, passage: str) -> tuple[list, list[str]]:
    """(numbers, capitalised words) in `text` that do not occur in `passage`."""
    passage_numbers = set(numbers_in(passage))
    bad_numbers = [x for x in numbers_in(text) if x not in passage_numbers]
    passage_words = {w.strip(".,;:!?\"'()").lower() for w in passage.split()}
    bad_names = []
    for sent in sentences(text):
        toks = [w.strip(".,;:!?\"'()[]*") for w in sent.split()]
        for j, w in enumerate(toks):
            if j == 0 or not w or not w[0].isupper() or w in _FUNCTION_WORDS:
                continue
            base = w[:-2] if w.endswith(("'s", "’s")) else w
            if base.lower() not in passage_words:
                bad_names.append(w)
    return bad_numbers, bad_names


def gold_parts(response: str, meta: dict) -> dict:
    """Every term of the gold reward, for data cards and debugging; `gold` is the final score."""
    text = response.strip()
    if not words(text):
        return {"gold": 0.0, "coverage": 0.0, "length": 0.0, "invented": 0.0, "extra_sentences": 0.0,
                "repetition": 0.0, "quality": 0.0}
    facts = meta["facts"]
    found = [max((s for alias, s in f["match"] if _has(text, alias)), default=0.0) for f in facts]
    coverage = sum(f["weight"] * x for f, x in zip(facts, found)) / sum(f["weight"] for f in facts)
    length = min(0.4, 0.02 * max(0, len(words(text)) - meta.get("budget", BUDGET)))
    bad_numbers, bad_names = invented_items(text, meta["passage"])
    invented = min(0.5, 0.15 * len(bad_numbers) + 0.1 * len(bad_names))
    extra = min(0.2, 0.05 * max(0, len(sentences(text)) - 1))
    rep = min(0.3, 0.5 * repetition_fraction(text))
    q = quality(text)
    gold = clip01(coverage - length - invented - extra - rep) * q
    return {"gold": gold, "coverage": coverage, "facts_found": found, "length": length, "invented": invented,
            "invented_numbers": bad_numbers, "invented_names": bad_names, "extra_sentences": extra,
            "repetition": rep, "quality": q}


def gold_reward(response: str, meta: dict) -> float:
    """Gold reward in [0, 1] of a summary `response` of the passage in `meta` (module docstring)."""
    return round(gold_parts(response, meta)["gold"], 6)

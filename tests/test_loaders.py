"""Preference loaders read each real format, plain or gzipped, and reject bad input by file and line."""
from __future__ import annotations

import gzip
import json

import pytest
import torch

from lens_minimal.text.embeddings import extract_embeddings, format_chat
from lens_minimal.io import LensInputError
from lens_minimal.text.loaders import (
    BestOfNRecord, PreferenceRecord, embed_best_of_n, embed_preferences, hh_dialogue_to_messages,
    load_best_of_n, load_preferences, split_hh_dialogue,
)


def write_jsonl(path, rows, gz=False):
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


HH_CHOSEN = (
    "\n\nHuman: How do I bake bread?\n\nAssistant: Do you have an oven?"
    "\n\nHuman: Yes.\n\nAssistant: Great, start with flour, water, yeast and salt."
)
HH_REJECTED = (
    "\n\nHuman: How do I bake bread?\n\nAssistant: Do you have an oven?"
    "\n\nHuman: Yes.\n\nAssistant: Buy some."
)
TLDR_ROW = {
    "info": {"id": "t3_x", "post": "My cat knocks cups off the table every morning. ",
             "title": "Cat problem", "subreddit": "cats"},
    "summaries": [{"text": " cat breaks cups", "policy": "a"}, {"text": " my cat knocks cups off the table daily", "policy": "b"}],
    "choice": 1,
}


# ----------------------------------------------------------------------------- TRL jsonl

def test_trl_plain_strings_and_gz(tmp_path):
    rows = [{"prompt": "hi", "chosen": "hello", "rejected": "go away"}, {"prompt": "why?", "chosen": "because", "rejected": "no"}]
    for gz in (False, True):
        path = write_jsonl(tmp_path / f"p{gz}.jsonl{'.gz' if gz else ''}", rows, gz=gz)
        assert load_preferences(path) == [PreferenceRecord("hi", "hello", "go away"), PreferenceRecord("why?", "because", "no")]
    assert len(load_preferences(path, limit=1)) == 1


def test_trl_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('\n{"prompt": "a", "chosen": "b", "rejected": "c"}\n\n')
    assert load_preferences(path) == [PreferenceRecord("a", "b", "c")]


def test_trl_conversational_formats(tmp_path):
    user = [{"role": "user", "content": "hi"}]
    rows = [
        # explicit prompt, single assistant replies
        {"prompt": user, "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [{"role": "assistant", "content": "bye"}]},
        # implicit prompt: whole conversations sharing a prefix
        {"chosen": user + [{"role": "assistant", "content": "hello"}], "rejected": user + [{"role": "assistant", "content": "bye"}]},
        # string prompt, responses with an extra shared turn before the last reply
        {"prompt": "hi", "chosen": [{"role": "assistant", "content": "?"}, {"role": "user", "content": "so"}, {"role": "assistant", "content": "yes"}],
         "rejected": [{"role": "assistant", "content": "?"}, {"role": "user", "content": "so"}, {"role": "assistant", "content": "no"}]},
    ]
    a, b, c = load_preferences(write_jsonl(tmp_path / "c.jsonl", rows))
    assert a == PreferenceRecord(user, "hello", "bye") and b == PreferenceRecord(user, "hello", "bye")
    assert c.prompt == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "?"}, {"role": "user", "content": "so"}]
    assert (c.chosen, c.rejected) == ("yes", "no")


def test_trl_key_overrides(tmp_path):
    path = write_jsonl(tmp_path / "k.jsonl", [{"question": "q", "good": "g", "bad": "b"}])
    assert load_preferences(path, prompt_key="question", chosen_key="good", rejected_key="bad") == [PreferenceRecord("q", "g", "b")]


@pytest.mark.parametrize(
    "row, match",
    [
        ({"prompt": "p", "chosen": "c"}, "line 1: missing field 'rejected'"),
        ({"chosen": "c", "rejected": "r"}, "line 1: missing field 'prompt'"),
        ({"prompt": 3, "chosen": "c", "rejected": "r"}, "field 'prompt' must be a string or a non-empty list"),
        ({"prompt": "p", "chosen": "c", "rejected": [{"role": "assistant", "content": "r"}]},
         "field 'chosen' is a string but 'rejected' is a message list; both must be strings or both message lists"),
        # a JSON value that is neither a string nor a message list: field, type found and line
        ({"prompt": "p", "chosen": "c", "rejected": True},
         r"line 1: field 'rejected' must be a string or a list of \{role, content\} messages, found boolean \(true\)"),
        ({"prompt": "p", "chosen": None, "rejected": "r"}, r"field 'chosen' .* found null \(null\)"),
        ({"prompt": "p", "chosen": [{"role": "user", "content": "c"}], "rejected": [{"role": "user", "content": "r"}]}, "must have role 'assistant'"),
        ({"prompt": "p", "chosen": [{"role": "assistant"}], "rejected": [{"role": "assistant", "content": "r"}]}, r"chosen\[0\] must be an object"),
        ({"prompt": "p", "chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "c"}],
          "rejected": [{"role": "user", "content": "y"}, {"role": "assistant", "content": "r"}]}, "differ before their last message"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_trl_bad_rows_name_line_and_field(tmp_path, row, match):
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    with pytest.raises(LensInputError, match=match):
        load_preferences(path)


def test_malformed_json_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl.gz", [{"prompt": "a", "chosen": "b", "rejected": "c"}, "", '{"prompt": "a", "chosen": '], gz=True)
    with pytest.raises(LensInputError, match=r"m\.jsonl\.gz, line 3: malformed JSON"):
        load_preferences(path)


def test_empty_missing_unknown_format_and_bad_limit(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(LensInputError, match="empty"):
        load_preferences(empty)
    with pytest.raises(LensInputError, match="file not found"):
        load_preferences(tmp_path / "nope.jsonl")
    with pytest.raises(LensInputError, match=r"format: unknown value 'csv'; known: \['jsonl', 'hh-rlhf', 'tldr'\]"):
        load_preferences(empty, format="csv")
    with pytest.raises(LensInputError, match="limit"):
        load_preferences(empty, limit=0)
    junk = tmp_path / "junk.jsonl.gz"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(LensInputError, match="cannot be read"):
        load_preferences(junk)


# ----------------------------------------------------------------------------- HH-RLHF

def test_hh_split_and_messages():
    prompt, response = split_hh_dialogue(HH_CHOSEN)
    assert prompt.endswith("\n\nHuman: Yes.\n\nAssistant:")
    assert response == "Great, start with flour, water, yeast and salt."
    assert hh_dialogue_to_messages(prompt) == [
        {"role": "user", "content": "How do I bake bread?"},
        {"role": "assistant", "content": "Do you have an oven?"},
        {"role": "user", "content": "Yes."},
    ]


def test_hh_loader_and_mismatched_prompts(tmp_path):
    other_question = HH_REJECTED.replace("How do I bake", "How do I buy")        # no shared prompt: skipped
    hallucinated = HH_CHOSEN + "\n\nHuman: thanks\n\nAssistant: welcome"       # extra turn inside the response
    rows = [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}, {"chosen": HH_CHOSEN, "rejected": other_question},
            {"chosen": HH_CHOSEN, "rejected": HH_REJECTED}, {"chosen": hallucinated, "rejected": HH_REJECTED}]
    path = write_jsonl(tmp_path / "hh.jsonl.gz", rows, gz=True)
    with pytest.warns(UserWarning) as caught:
        records = load_preferences(path, format="hh-rlhf")
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "1 row(s) have '\\n\\nAssistant:' inside a response; split at the chosen/rejected common prefix instead (lines [4])" in messages[0]
    assert "skipped 1 row(s) whose chosen and rejected prompts differ (lines [2])" in messages[1]
    assert len(records) == 3
    r = records[0]
    assert r.prompt[-1] == {"role": "user", "content": "Yes."} and len(r.prompt) == 3
    assert (r.chosen, r.rejected) == ("Great, start with flour, water, yeast and salt.", "Buy some.")
    assert records[2].prompt == r.prompt and records[2].rejected == "Buy some."
    assert records[2].chosen == "Great, start with flour, water, yeast and salt.\n\nHuman: thanks\n\nAssistant: welcome"


def test_hh_bad_rows(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl", [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}, {"chosen": "no turns here", "rejected": HH_REJECTED}])
    with pytest.raises(LensInputError, match=r"line 2, field 'chosen': no '\\n\\nAssistant:' turn"):
        load_preferences(path, format="hh-rlhf")
    path = write_jsonl(tmp_path / "hh2.jsonl", [{"chosen": HH_CHOSEN}])
    with pytest.raises(LensInputError, match="line 1: missing field 'rejected'"):
        load_preferences(path, format="hh-rlhf")
    path = write_jsonl(tmp_path / "hh3.jsonl", [{"chosen": ["x"], "rejected": HH_REJECTED}])
    with pytest.raises(LensInputError, match="field 'chosen' must be a string"):
        load_preferences(path, format="hh-rlhf")


# ----------------------------------------------------------------------------- TL;DR

def test_tldr_loader(tmp_path):
    no_meta = {**TLDR_ROW, "info": {"article": "Stocks fell."}, "choice": 0}
    (a, b) = load_preferences(write_jsonl(tmp_path / "t.jsonl", [TLDR_ROW, no_meta]), format="tldr")
    assert a.prompt == "SUBREDDIT: r/cats\nTITLE: Cat problem\nPOST: My cat knocks cups off the table every morning.\n\nTL;DR:"
    assert (a.chosen, a.rejected) == ("my cat knocks cups off the table daily", "cat breaks cups")
    assert b.prompt == "POST: Stocks fell.\n\nTL;DR:" and b.chosen == "cat breaks cups"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"choice": 2}, "'choice' must be 0 or 1"),
        ({"choice": True}, "'choice' must be 0 or 1"),
        ({"summaries": [{"text": "x"}]}, "list of two summaries"),
        ({"summaries": [{"text": "x"}, {"txt": "y"}]}, r"summaries\[1\]\.text' must be a string"),
        ({"info": {"title": "t"}}, "missing field 'info.post'"),
        ({"info": "post"}, "'info' must be an object"),
    ],
)
def test_tldr_bad_rows(tmp_path, change, match):
    path = write_jsonl(tmp_path / "t.jsonl", [TLDR_ROW, {**TLDR_ROW, **change}])
    with pytest.raises(LensInputError, match=f"line 2: .*{match}"):
        load_preferences(path, format="tldr")


# ----------------------------------------------------------------------------- Best-of-N

def test_best_of_n(tmp_path):
    rows = [{"prompt": "hi", "responses": ["a", "b", "c"], "gold": [1, 0.5, -2]},
            {"prompt": [{"role": "user", "content": "yo"}], "responses": ["d", "e", "f"], "gold": [0, 0, 1]}]
    recs = load_best_of_n(write_jsonl(tmp_path / "b.jsonl.gz", rows, gz=True))
    assert recs[0] == BestOfNRecord("hi", ["a", "b", "c"], [1.0, 0.5, -2.0])
    assert recs[1].prompt == [{"role": "user", "content": "yo"}]
    path = write_jsonl(tmp_path / "k.jsonl", [{"q": "hi", "ys": ["a", "b"], "r": [0, 1]}])
    assert load_best_of_n(path, prompt_key="q", responses_key="ys", gold_key="r")[0].gold == [0.0, 1.0]


@pytest.mark.parametrize(
    "row, match",
    [
        ({"prompt": "p", "responses": ["a", "b"], "gold": [1.0]}, "2 responses but 1 gold"),
        ({"prompt": "p", "responses": ["a"], "gold": [1.0]}, "at least 2 responses"),
        ({"prompt": "p", "responses": "ab", "gold": [1.0, 2.0]}, "must be a list of strings"),
        ({"prompt": "p", "responses": ["a", "b"], "gold": ["1", 2]}, "'gold' must be a list of numbers"),
        ({"prompt": "p", "responses": ["a", "b"], "gold": [float("nan"), 2]}, "NaN"),
        ({"prompt": "p", "responses": ["a", "b"]}, "missing field 'gold'"),
    ],
)
def test_best_of_n_bad_rows(tmp_path, row, match):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"prompt": "p", "responses": ["a", "b"], "gold": [0, 1]}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(LensInputError, match=f"line 2: .*{match}"):
        load_best_of_n(path)


# ----------------------------------------------------------------------------- records → embeddings

def test_embed_preferences_matches_direct_extraction(tiny_lm):
    model, tok = tiny_lm
    records = [PreferenceRecord("hello , what is a cat ?", "a cat is good", "no"),
               PreferenceRecord([{"role": "user", "content": "why"}], "because", "the dog is bad")]
    pairs = embed_preferences(records, model, tok, batch_size=3, progress=False)
    assert pairs.e_chosen.shape == (2, model.config.hidden_size)
    direct = extract_embeddings(model, tok, [format_chat(tok, records[1].prompt, "the dog is bad")], progress=False)[-1][0]
    torch.testing.assert_close(pairs.e_rejected[1], direct, atol=1e-5, rtol=0)
    assert not torch.allclose(pairs.e_chosen[0], pairs.e_rejected[0])


def test_embed_best_of_n(tiny_lm):
    model, tok = tiny_lm
    records = [BestOfNRecord("hi", ["yes", "no", "thanks"], [1.0, 0.0, 2.0]), BestOfNRecord("why", ["a", "the", "no"], [0.0, 1.0, 0.5])]
    bon = embed_best_of_n(records, model, tok, progress=False)
    assert bon.embeddings.shape == (2, 3, model.config.hidden_size)
    assert torch.equal(bon.gold, torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.5]]))
    direct = extract_embeddings(model, tok, [format_chat(tok, "why", "the")], progress=False)[-1][0]
    torch.testing.assert_close(bon.embeddings[1, 1], direct, atol=1e-5, rtol=0)
    with pytest.raises(LensInputError, match=r"records\[1\]: has 2 responses"):
        embed_best_of_n([records[0], BestOfNRecord("x", ["a", "b"], [0.0, 1.0])], model, tok, progress=False)


@pytest.mark.parametrize(
    "row, fmt, hint",
    [
        ({"chosen": "\n\nHuman: hi\n\nAssistant: yes", "rejected": "\n\nHuman: hi\n\nAssistant: no"}, "jsonl", "hh-rlhf"),
        ({"info": {"post": "p"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 0}, "jsonl", "tldr"),
        ({"prompt": "p", "chosen": "a", "rejected": "b"}, "hh-rlhf", "jsonl"),
        ({"prompt": "p", "chosen": "a", "rejected": "b"}, "tldr", "jsonl"),
    ],
)
def test_wrong_format_suggests_the_one_the_fields_match(tmp_path, row, fmt, hint):
    path = write_jsonl(tmp_path / "rows.jsonl", [row])
    with pytest.raises(LensInputError, match=rf"line 1\b.*The fields look like the '{hint}' format: use --format {hint}$"):
        load_preferences(path, fmt)


def test_best_of_n_loader_suggests_the_pair_format(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(LensInputError, match="missing field 'responses'.*use --format jsonl"):
        load_best_of_n(path)

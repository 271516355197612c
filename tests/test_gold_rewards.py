"""Hand-written cases for the two gold reward programs (lens_minimal.text.tasks)."""
import pytest

from lens_minimal.text.tasks import TASK_PROGRAMS, get_task_program, instructions, summaries
from lens_minimal.io import LensInputError


def spec(*constraints):
    return {"kind": "write", "topic": "the ocean", "constraints": list(constraints)}


# ------------------------------------------------------------------ instructions: one constraint at a time
def test_answer_alone_beside_other_numbers_and_missing():
    c = {"type": "answer", "value": 68, "operands": [53, 15]}
    assert instructions.constraint_score(c, "53 + 15 = 68.") == 1.0
    assert instructions.constraint_score(c, "The answer is 68.") == 1.0
    assert instructions.constraint_score(c, "It is 68, or maybe 70.") == 0.5
    assert instructions.constraint_score(c, "It is 12.") == 0.0
    assert instructions.constraint_score(c, "I do not know.") == 0.0


def test_max_words_is_soft():
    c = {"type": "max_words", "n": 10}
    assert instructions.constraint_score(c, " ".join(["word"] * 10)) == 1.0
    assert instructions.constraint_score(c, " ".join(["word"] * 15)) == pytest.approx(0.5)
    assert instructions.constraint_score(c, " ".join(["word"] * 25)) == 0.0


def test_include_word_whole_word_any_case():
    c = {"type": "include_word", "word": "blue"}
    assert instructions.constraint_score(c, "The Blue sea.") == 1.0
    assert instructions.constraint_score(c, "The bluest sea.") == 0.0


def test_list_items_counts_bullets_and_numbers():
    c = {"type": "list_items", "n": 3}
    assert instructions.constraint_score(c, "- a\n- b\n- c") == 1.0
    assert instructions.constraint_score(c, "1. a\n2) b\n* c") == 1.0
    assert instructions.constraint_score(c, "- a\n- b") == pytest.approx(2 / 3)
    assert instructions.constraint_score(c, "- a\n- b\n- c\n- d\n- e\n- f") == 0.0
    assert instructions.constraint_score(c, "No list here.") == 0.0


def test_lowercase_costs_per_capital():
    c = {"type": "lowercase"}
    assert instructions.constraint_score(c, "all lower here.") == 1.0
    assert instructions.constraint_score(c, "One capital.") == pytest.approx(0.8)
    assert instructions.constraint_score(c, "ABCDE fgh") == 0.0


def test_one_sentence():
    c = {"type": "one_sentence"}
    assert instructions.constraint_score(c, "The sea is wide.") == 1.0
    assert instructions.constraint_score(c, "The sea is wide. It is blue.") == pytest.approx(2 / 3)
    assert instructions.constraint_score(c, "A. B. C. D. E.") == 0.0


def test_unknown_constraint_type_is_an_error():
    with pytest.raises(ValueError):
        instructions.constraint_score({"type": "rhyme"}, "moon june")


def test_combination_is_the_mean_of_constraints():
    meta = spec({"type": "include_word", "word": "blue"}, {"type": "lowercase"})
    assert instructions.gold_reward("the sea is blue.", meta) == 1.0
    assert instructions.gold_reward("the sea is green.", meta) == pytest.approx(0.5)


# ------------------------------------------------------------------ instructions: penalties
def test_unfinished_penalty():
    meta = spec({"type": "include_word", "word": "blue"})
    assert instructions.gold_reward("the sea is blue.", meta) == 1.0
    assert instructions.gold_reward("the sea is blue and", meta) == pytest.approx(0.95)


def test_ramble_penalty_grows_with_length_and_is_capped():
    meta = spec({"type": "include_word", "word": "blue"})
    words = [f"w{i}" for i in range(60)]   # distinct: no repetition penalty
    text = "blue " + " ".join(words) + "."
    parts = instructions.gold_parts(text, meta)
    assert parts["ramble"] == pytest.approx(0.005 * (61 - 40))
    long = "blue " + " ".join(f"w{i}" for i in range(400)) + "."
    assert instructions.gold_parts(long, meta)["ramble"] == pytest.approx(0.2)


def test_repetition_penalty():
    meta = spec({"type": "include_word", "word": "blue"})
    clean = instructions.gold_reward("the blue sea is wide and calm today.", meta)
    looped = instructions.gold_reward("the blue sea the blue sea the blue sea the blue sea.", meta)
    assert clean == 1.0 and looped < 0.8


def test_garbage_and_non_english_score_low():
    meta = spec({"type": "max_words", "n": 20})
    assert instructions.gold_reward("The sea is calm.", meta) == 1.0
    assert instructions.gold_reward("海は とても 静か です。", meta) == 0.0
    assert instructions.gold_reward("@@## ~~%% ^^&& ||{}", meta) == 0.0
    assert instructions.gold_parts("The sea é是 calm.", meta)["quality"] == pytest.approx(0.75)


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n"])
def test_empty_or_whitespace_is_zero(text):
    for name, task in TASK_PROGRAMS.items():
        meta = task.make_prompts(1, seed=0)[0]["meta"]
        assert task.gold_reward(text, meta) == 0.0, name


def test_arithmetic_prompt_meta_is_correct():
    rows = [r for r in instructions.make_prompts(60, seed=3) if r["meta"]["kind"] == "arithmetic"]
    assert rows, "expected some arithmetic prompts among 60"
    for r in rows:
        a, op, b = r["meta"]["question"].split()
        assert r["meta"]["constraints"][0]["value"] == eval(f"{a}{op}{b}")   # noqa: S307 (our own template)
        assert r["meta"]["question"] in r["prompt"]


# ------------------------------------------------------------------ summaries
PASSAGE_META = summaries.make_prompts(1, seed=0)[0]["meta"]


def _fill(meta):
    """The template fields of a generated passage, read back from its facts."""
    f = {x["name"]: x["match"] for x in meta["facts"]}
    return f["person"][0][0], f["place"][0][0], f["year"][0][0], f["count"][0][0], f["event"][0][0]


def test_summary_with_every_fact_scores_one():
    person, place, year, count, event = _fill(PASSAGE_META)
    text = f"In {year}, {person} started the {event} in {place}, now counting {count}."
    assert summaries.gold_reward(text, PASSAGE_META) == 1.0


def test_summary_partial_name_and_missing_facts():
    person, place, year, count, event = _fill(PASSAGE_META)
    first, last = person.split()
    full = summaries.gold_parts(f"{person} and the {event} in {place}.", PASSAGE_META)
    assert full["coverage"] == pytest.approx(3 / 5)
    surname = summaries.gold_parts(f"{last} and the {event} in {place}.", PASSAGE_META)
    assert surname["coverage"] == pytest.approx(2.8 / 5)
    given = summaries.gold_parts(f"{first} and the {event} in {place}.", PASSAGE_META)
    assert given["coverage"] == pytest.approx(2.5 / 5)


def test_summary_invented_numbers_and_names_are_penalised():
    person, place, year, count, event = _fill(PASSAGE_META)
    base = f"In {year}, {person} started the {event} in {place}, now counting {count}."
    parts = summaries.gold_parts(base[:-1] + " with 12345 friends from Atlantis.", PASSAGE_META)
    assert parts["invented_numbers"] == [12345]
    assert parts["invented_names"] == ["Atlantis"]
    assert parts["gold"] == pytest.approx(1 - 0.15 - 0.1)
    # a capital at the start of a sentence is not an invented name
    assert summaries.invented_items("Wonderful. It rained.", PASSAGE_META["passage"]) == ([], [])


def test_summary_length_and_sentence_penalties():
    person, place, year, count, event = _fill(PASSAGE_META)
    base = f"In {year}, {person} started the {event} in {place}, now counting {count}."
    padding = " ".join(f"w{i}" for i in range(20))
    long = summaries.gold_parts(base[:-1] + " " + padding + ".", PASSAGE_META)
    n_words = len(base.split()) + 20
    assert long["length"] == pytest.approx(0.02 * (n_words - 30))
    two = summaries.gold_parts(base + " It was nice.", PASSAGE_META)
    assert two["extra_sentences"] == pytest.approx(0.05)
    copied = summaries.gold_parts(PASSAGE_META["passage"] * 3, PASSAGE_META)
    assert copied["gold"] < 0.5


def test_summary_garbage():
    assert summaries.gold_reward("ññññ ßßß ¿¿¿", PASSAGE_META) == 0.0


# ------------------------------------------------------------------ both tasks: range and prompt streams
@pytest.mark.parametrize("name", sorted(TASK_PROGRAMS))
def test_scores_stay_in_unit_interval(name):
    task = TASK_PROGRAMS[name]
    texts = ["", "ok", "A" * 5000, "word " * 3000, "- a\n" * 200, "1 2 3 4 5 6 7 8 9", "!!!???...",
             "Zebra Quokka Yeti 1 22 333.", "the blue sea is calm.", "\x00\x01 binary \ufffd"]
    for row in task.make_prompts(30, seed=1):
        for t in texts:
            g = task.gold_reward(t, row["meta"])
            assert 0.0 <= g <= 1.0 and isinstance(g, float)


@pytest.mark.parametrize("name", sorted(TASK_PROGRAMS))
def test_prompts_are_deterministic_prefix_stable_and_varied(name):
    task = TASK_PROGRAMS[name]
    a, b = task.make_prompts(20, seed=7), task.make_prompts(5, seed=7)
    assert a[:5] == b
    assert len({r["id"] for r in a}) == 20
    assert len({r["prompt"] for r in a}) >= 15
    assert a != task.make_prompts(20, seed=8)


def test_unknown_task_is_a_clear_error():
    with pytest.raises(LensInputError, match="known"):
        get_task_program("haiku")

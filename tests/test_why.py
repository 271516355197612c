"""The summing-up chapter reads paired gains from result files; it invents none."""
import pandas as pd
import pytest

from lens_minimal.companion import why


def record(numbers):
    return {"numbers": numbers}


RECORDS = {
    "table1_main_results": record({"bootstrap_gains": {"hh-harmless": {"lens": {"8": {
        "gain": -0.01, "gain_ci_low": -0.02, "gain_ci_high": 0.001, "n_seeds": 5, "n_items": 1312}}}}}),
    "ablation_gamma": record({"param": "gamma", "tasks": {"instructions": {"comparisons": [
        {"a": {"method": "lens", "value": "0.1"}, "b": {"method": "none", "value": None}, "gain": 0.02, "lo": 0.01, "hi": 0.03},
        {"a": {"method": "lens", "value": "0"}, "b": {"method": "lens", "value": "0.1"}, "gain": -0.01, "lo": -0.02, "hi": 0.0}]}}}),
    "open_weak_baseline": record({"gains": {"summaries": {
        "weak E=1: lens@8 - weak E=1: none": {"gain": -0.03, "lo": -0.05, "hi": -0.01},
        "weak E=1: none - tuned: none": {"gain": 0.0, "lo": -0.01, "hi": 0.01}}}}),
}


def test_collect_gains_finds_every_stored_gain_and_marks_those_against_no_augmentation():
    g = why.collect_gains(RECORDS)
    assert len(g) == 5 and g["versus_none"].sum() == 3
    row = g[g.chapter == "table1_main_results"].iloc[0]
    assert (row.dataset, row.gain, row.lo, row.hi) == ("hh-harmless", -0.01, -0.02, 0.001)
    assert "LENS 8x vs no augmentation" == row.comparison
    assert set(g[~g.versus_none].comparison) == {"lens @ 0 vs lens @ 0.1 (gamma)", "weak E=1: none - tuned: none"}


def test_counts_readings_and_sentences_come_from_the_intervals():
    g = why.collect_gains(RECORDS)
    assert why.verdict_counts(g) == {"clearly higher": 1, "clearly lower": 1, "unclear": 1}
    assert why.table(g)["reading"].tolist() == ["clearly higher", "unclear", "clearly lower"]
    assert "ablation_gamma, instructions" in why.clear_gains_markdown(g)
    assert why.weak_baseline_sentence(g).startswith("1 of the 1 clear gains are measured against the book's tuned")
    none = why.collect_gains({"x": record({"gains": {"a - b": {"gain": 0.1, "lo": -1, "hi": 1}}})})
    assert why.clear_gains_markdown(none).startswith("- None")
    counts = why.counts_by_chapter(g)
    assert counts.loc["open_weak_baseline", "clearly lower"] == 1


@pytest.mark.parametrize("reading_in, expected", [((0.01, 0.02), "clearly higher"), ((-0.02, -0.01), "clearly lower"),
                                                 ((-0.01, 0.01), "unclear")])
def test_reading(reading_in, expected):
    assert why.reading(*reading_in) == expected


def test_diagnostics_sentence_uses_the_first_described_dataset():
    rec = record({"described": {"synthetic": {"lens": {"two_sample_accuracy": [0.9, 0.8], "label_agreement_synthetic": [0.7, 0.7],
                                                        "label_agreement_heldout": [0.8, 0.8]}}}})
    text = why.diagnostics_sentence(rec)
    assert "`synthetic`" in text and "two-sample accuracy 0.85" in text and "(real held-out pairs: 0.80)" in text

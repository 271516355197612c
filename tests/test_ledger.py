"""The paper's numbers as data, and the rules that turn our numbers into verdicts."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lens_minimal.companion import ledger
from lens_minimal.io import LensInputError


def test_table1_transcription_is_complete():
    t1 = ledger.load_table1()
    assert len(t1) == 7 * 2 * 3                                   # methods x datasets x ratios
    lens = t1.set_index(["method", "dataset", "ratio"])["bon_gold"]
    assert lens[("lens", "hh", 8)] == 2.20 and lens[("lens", "tldr", 4)] == 1.44
    # at 1x every embedding-MLP row is the same model in the paper
    one_x = t1[(t1["ratio"] == 1) & t1["method"].isin(["text_mlp", "direct", "gaussian", "lens"])]
    assert one_x.groupby("dataset")["bon_gold"].nunique().eq(1).all()


def test_table2_ratios_follow_from_its_numbers():
    t2 = ledger.load_table2()
    for _, row in t2.iterrows():
        assert row["text_synthesis"] / row["latent_synthesis"] == pytest.approx(row["ratio"], rel=0.1)


def test_claims_are_well_formed_and_tests_point_at_table1_cells():
    claims = ledger.load_claims()
    assert len({c.id for c in claims}) == len(claims)
    t1 = ledger.load_table1().set_index(["method", "dataset", "ratio"])["bon_gold"]
    for c in claims:
        assert c.kind in ("claim", "scope")
        if c.test.get("type") == "difference":
            for side in ("a", "b"):
                cell = c.test[side]
                if cell["method"] != "lens_no_div":               # our ablation, not a paper row
                    method = ledger.PAPER_METHOD.get(cell["method"], cell["method"])
                    assert (method, c.test["dataset"], cell["ratio"]) in t1.index, c.id
        if c.test.get("type") == "every":
            for m in [c.test["a"], *c.test["b"]]:
                for r in c.test["ratios"]:
                    assert (ledger.PAPER_METHOD.get(m, m), c.test["dataset"], r) in t1.index, c.id


def _refused(tmp_path, claim: str, match: str) -> None:
    """A claims file holding the one claim `claim` (its YAML fields after `id: a, section: s, kind: claim,
    text: t, paper: p, `) is refused with an error matching `match`."""
    path = tmp_path / "claims.yml"
    path.write_text("claims:\n  - {id: a, section: s, kind: claim, text: t, paper: p, " + claim + "}\n")
    with pytest.raises(LensInputError, match=match):
        ledger.load_claims(path)


def test_bad_claims_file_names_the_claim(tmp_path):
    _refused(tmp_path, "tested_by: nowhere, test: {type: value, key: k, paper_value: 1, rtol: 0.1}",
             r"claim 1 \(a\).*notebooks/nowhere.ipynb not found")
    _refused(tmp_path, "tested_by: not tested yet, extra: 1", "unknown field")


def test_paired_difference_is_a_t_interval_over_seeds():
    a, b = [1.0, 1.2, 0.9, 1.1], [0.8, 0.9, 0.85, 0.7]
    d = np.subtract(a, b)
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    got = ledger.paired_difference(a, b)
    assert got["mean"] == pytest.approx(d.mean()) and got["n"] == 4
    assert (got["lo"], got["hi"]) == pytest.approx((lo, hi))
    single = ledger.paired_difference([1.0], [0.5])
    assert single["mean"] == 0.5 and math.isnan(single["lo"])
    with pytest.raises(LensInputError):
        ledger.paired_difference([1.0, 2.0], [1.0])


@pytest.mark.parametrize("mean, lo, hi, expect, verdict", [
    (0.3, 0.1, 0.5, "greater", "reproduced"),
    (0.3, -0.1, 0.7, "greater", "partly"),
    (-0.3, -0.5, 0.1, "greater", "not reproduced"),
    (-0.3, -0.5, -0.1, "less", "reproduced"),
    (0.3, 0.1, 0.5, "less", "not reproduced"),
    (-0.1, -0.3, 0.1, "no_gain", "reproduced"),
    (0.1, -0.1, 0.3, "no_gain", "partly"),
    (0.3, 0.1, 0.5, "no_gain", "not reproduced"),
    (0.3, math.nan, math.nan, "greater", "partly"),            # one seed: never more than partly
])
def test_difference_verdicts(mean, lo, hi, expect, verdict):
    assert ledger.difference_verdict({"mean": mean, "lo": lo, "hi": hi}, expect) == verdict


def test_judge_reads_cells_paired_by_seed_and_says_when_not_run():
    claims = {c.id: c for c in ledger.load_claims()}
    cells = {"instructions": {"lens": {"8": {"bon_gold": [0.6, 0.7, 0.65]}},
                              "none": {"1": {"bon_gold": [0.5, 0.55, 0.52]}}}}
    records = {"table1_main_results": {"numbers": {"cells": cells}},
               "table2_efficiency": {"numbers": {"vae_params_d4096": 531616}, "timings": {"factors": {"generation_time": 5.0}}}}
    j = ledger.judge(claims["lens-8x-hh"], records, task_for={"hh": "instructions", "tldr": "summaries"})
    assert j.verdict == "reproduced" and j.detail["task"] == "instructions"
    assert ledger.judge(claims["lens-8x-tldr"], records).verdict == "not tested yet"   # summaries not run
    assert ledger.judge(claims["lens-4x-hh"], records).verdict == "not tested yet"     # 4x not run
    assert ledger.judge(claims["vae-size"], records).verdict == "reproduced"
    gen = ledger.judge(claims["generation-time"], records)
    assert gen.verdict == "partly" and gen.detail["from_timings"]                      # 5x < 18x / 2
    assert ledger.judge(claims["downstream-sft"], records).verdict == "not tested yet"
    only_hh = ledger.judge(claims["lens-8x-tldr"], records, task_for={"hh": "instructions"})
    assert only_hh.verdict == "not tested yet" and "TL;DR" in only_hh.ours
    with pytest.raises(LensInputError, match="no results"):
        ledger.judge(claims["lens-8x-hh"], {})


def test_a_claim_with_two_stand_in_tasks_gets_one_verdict_per_task_on_its_own_metric():
    claims = [c for c in ledger.load_claims() if c.id == "lens-8x-hh"]
    cells = {"instructions": {"lens": {"8": {"bon_gold": [0.6, 0.7, 0.65], "pairwise_accuracy": [0.7] * 3}},
                              "none": {"1": {"bon_gold": [0.5, 0.55, 0.52], "pairwise_accuracy": [0.7] * 3}}},
             "hh-harmless": {"lens": {"8": {"bon_gold": [math.nan] * 3, "pairwise_accuracy": [0.60, 0.61, 0.62]}},
                             "none": {"1": {"bon_gold": [math.nan] * 3, "pairwise_accuracy": [0.63, 0.64, 0.65]}}}}
    records = {"table1_main_results": {"numbers": {"cells": cells}}}
    real, program = ledger.judge_all(claims, records, {"hh": ["hh-harmless", "instructions"], "tldr": ["summaries"]})
    assert (real.detail["task"], real.detail["metric"], real.verdict) == ("hh-harmless", "pairwise_accuracy", "not reproduced")
    assert (program.detail["task"], program.detail["metric"], program.verdict) == ("instructions", "bon_gold", "reproduced")
    assert (real.key, program.key) == ("lens-8x-hh@hh-harmless", "lens-8x-hh@instructions")
    assert "hh-harmless (held-out accuracy)" in real.ours
    single = ledger.judge_all(claims, records, {"hh": "instructions"})
    assert len(single) == 1 and single[0].key == "lens-8x-hh"
    assert ledger.task_map_words({"hh": ["hh-harmless", "instructions"]}) == "HH-RLHF → hh-harmless and instructions"


def test_ledger_markdown_links_to_the_measuring_chapter():
    claims = {c.id: c for c in ledger.load_claims()}
    text = ledger.ledger_markdown([ledger.Judgement(claims["vae-size"], "531,616", "reproduced")])
    assert "[table2_efficiency](table2_efficiency.ipynb)" in text and "| **reproduced** |" in text


def test_interval_claims_compare_an_interval_with_a_threshold(tmp_path):
    claim = ledger.Claim("t", "s", "claim", "x", "-", "theory_checks",
                         {"type": "interval", "key": "ledger.t", "expect": "less", "than": 0.1})
    record = lambda m, lo, hi: {"numbers": {"ledger": {"t": {"mean": m, "lo": lo, "hi": hi, "n": 3}}}}  # noqa: E731
    assert ledger.judge(claim, {"theory_checks": record(0.05, 0.02, 0.08)}).verdict == "reproduced"
    assert ledger.judge(claim, {"theory_checks": record(0.08, 0.02, 0.14)}).verdict == "partly"
    assert ledger.judge(claim, {"theory_checks": record(0.15, 0.12, 0.18)}).verdict == "not reproduced"
    greater = ledger.Claim("g", "s", "claim", "x", "-", "theory_checks",
                           {"type": "interval", "key": "ledger.t", "expect": "greater", "than": 0.1})
    assert ledger.judge(greater, {"theory_checks": record(0.15, 0.12, 0.18)}).verdict == "reproduced"
    with pytest.raises(LensInputError, match="no interval"):
        ledger.judge(claim, {"theory_checks": {"numbers": {"ledger": {}}}})
    path = tmp_path / "claims.yml"
    path.write_text("claims:\n  - {id: a, section: s, kind: claim, text: t, paper: p, tested_by: theory_checks,"
                    " test: {type: interval, key: k, expect: no_gain, than: 0}}\n")
    with pytest.raises(LensInputError, match="interval test expects"):
        ledger.load_claims(path)


def _sweep_record(comparisons, cells=None):
    """An ablation result with one task: cells {value: {method: {metric: per seed}}} and comparisons."""
    cells = cells or {v: {"lens": {"bon_gold": [0.5]}} for c in comparisons for v in (c[0], c[1])}
    comps = [{"a": {"value": a, "method": "lens"}, "b": {"value": b, "method": bm}, "gain": g, "lo": lo, "hi": hi,
              "sd_over_seeds": 0.0, "n_seeds": 3, "n_items": 200} for a, b, bm, g, lo, hi in comparisons]
    return {"numbers": {"tasks": {"instructions": {"metric": "bon_gold", "cells": cells, "comparisons": comps}}}}


def test_sweep_claims_are_judged_from_paired_gains():
    claims = {c.id: c for c in ledger.load_claims()}
    best = claims["gamma-best"]                              # 0.1 must beat every other gamma
    clear = _sweep_record([("0", "0.1", "lens", -0.02, -0.03, -0.01), ("0.5", "0.1", "lens", -0.05, -0.07, -0.02)])
    assert ledger.judge(best, {"ablation_gamma": clear}).verdict == "reproduced"
    mixed = _sweep_record([("0", "0.1", "lens", -0.02, -0.03, -0.01), ("0.5", "0.1", "lens", -0.01, -0.03, 0.01)])
    assert ledger.judge(best, {"ablation_gamma": mixed}).verdict == "partly"      # highest mean, not clearly
    beaten = _sweep_record([("0", "0.1", "lens", -0.02, -0.03, -0.01), ("0.5", "0.1", "lens", 0.01, -0.01, 0.02)])
    j = ledger.judge(best, {"ablation_gamma": beaten})
    assert j.verdict == "not reproduced" and "ahead of 1 of 2 other values, clearly of 1" in j.ours
    collapse = claims["gamma-large-collapses"]               # gamma 0.5 minus gamma 0.1, expect less
    assert ledger.judge(collapse, {"ablation_gamma": clear}).verdict == "reproduced"
    no_half = _sweep_record([("0", "0.1", "lens", -0.02, -0.03, -0.01)])
    assert ledger.judge(collapse, {"ablation_gamma": no_half}).verdict == "not tested yet"
    every = claims["seed-size"]                              # lens beats none at each size that was run
    cells = {v: {"lens": {"bon_gold": [0.6]}, "none": {"bon_gold": [0.5]}} for v in ("100", "1000")}
    up = _sweep_record([("100", "100", "none", 0.1, 0.05, 0.2), ("1000", "1000", "none", 0.02, 0.01, 0.03)], cells)
    assert ledger.judge(every, {"ablation_seed_size": up}).verdict == "reproduced"
    unclear = _sweep_record([("100", "100", "none", 0.1, 0.05, 0.2), ("1000", "1000", "none", 0.02, -0.01, 0.03)], cells)
    assert ledger.judge(every, {"ablation_seed_size": unclear}).verdict == "partly"
    half = _sweep_record([("100", "100", "none", 0.1, 0.05, 0.2), ("1000", "1000", "none", -0.02, -0.03, -0.01)], cells)
    j = ledger.judge(every, {"ablation_seed_size": half})
    assert j.verdict == "not reproduced" and "1000: -0.020" in j.ours
    two_tasks = {"numbers": {"tasks": {**up["numbers"]["tasks"], "hh-harmless": half["numbers"]["tasks"]["instructions"]}}}
    assert ledger.judge(every, {"ablation_seed_size": two_tasks}).verdict == "partly"   # tasks disagree


def test_verdicts_combine_and_values_have_one_spelling():
    assert ledger.combine_verdicts(["reproduced", "reproduced"]) == "reproduced"
    assert ledger.combine_verdicts(["reproduced", "not reproduced"]) == "partly"
    assert ledger.combine_verdicts(["not tested yet", "not reproduced"]) == "not reproduced"
    assert ledger.combine_verdicts(["not tested yet"]) == "not tested yet"
    assert [ledger.value_key(v) for v in (0.1, 1.0, 100, np.float64(0.001), "last", 0)] == \
        ["0.1", "1", "100", "0.001", "last", "0"]
    sigma2 = ledger.load_ablations("sigma2").set_index("value")["bon_gold"]
    assert sigma2.to_dict() == {"0.001": 1.63, "0.01": 1.96, "1": 1.51}
    assert ledger.load_ablations("gamma").empty


def test_bad_sweep_test_is_refused(tmp_path):
    _refused(tmp_path, "tested_by: ablation_gamma, test: {type: sweep_difference, a: {value: 1}, b: {value: 0.1, method: lens}, "
             "expect: less}", r"test.a must be \{value: ..., method: ...\}")
    _refused(tmp_path, "tested_by: ablation_gamma, test: {type: sweep_every, a: lens, b: none, values: []}", "non-empty list")


def test_every_claim_pairs_cells_by_seed_and_is_partly_while_comparisons_are_missing():
    claims = {c.id: c for c in ledger.load_claims()}
    cells = {"instructions": {"none": {"1": {"bon_gold": [0.70, 0.71, 0.72]}},
                              "lens": {"4": {"bon_gold": [0.72, 0.73, 0.74]}, "8": {"bon_gold": [0.71, 0.72, 0.73]}},
                              "smollm2_judge": {"4": {"bon_gold": [0.60, 0.62, 0.61]}},
                              "reward_lm_lora": {"4": {"bon_gold": [0.70], "seeds": [2]}},          # one seed, run alone
                              "reward_lm_full": {"1": {"bon_gold": [0.90, 0.92], "seeds": [0, 1]}}}}
    record = {"table1_text_rows": {"seeds": [0, 1, 2], "numbers": {"cells": cells}}}
    a, b = ledger.paired_cells(cells, "instructions", {"method": "lens", "ratio": 4}, {"method": "reward_lm_lora", "ratio": 4},
                               "bon_gold", [0, 1, 2])
    assert (a, b) == ([0.74], [0.70])                                                  # seed 2 of LENS against seed 2
    j = ledger.judge(claims["lens-beats-text-augmentation-hh"], record, {"hh": "instructions"})
    assert j.verdict == "partly" and set(j.detail["comparisons"]) == {"reward_lm_lora 4x", "smollm2_judge 4x"}
    assert "not run: reward_lm_full 4x" in j.ours and len(j.detail["not_run"]) == 4
    both = dict(cells["instructions"], **{m: {r: {"bon_gold": [0.5, 0.5, 0.5]} for r in ("4", "8")}
                                          for m in ("smollm2_judge", "reward_lm_lora", "reward_lm_full")})
    full = ledger.judge(claims["lens-beats-text-augmentation-hh"], {"table1_text_rows": {"seeds": [0, 1, 2], "numbers": {
        "cells": {"instructions": both}}}}, {"hh": "instructions"})
    assert full.verdict == "reproduced" and not full.detail["not_run"]                # every comparison run and won
    close = ledger.judge(claims["mlp-close-to-full-ft-hh"], record, {"hh": "instructions"})
    assert close.verdict == "not reproduced" and close.detail["n"] == 2               # full FT clearly better on seeds 0, 1
    none_run = ledger.judge(claims["lens-beats-text-augmentation-tldr"], record, {"tldr": "summaries"})
    assert none_run.verdict == "not tested yet"


def test_bad_every_test_is_refused(tmp_path):
    _refused(tmp_path, "tested_by: table1_text_rows, test: {type: every, dataset: hh, metric: bon_gold, a: lens, b: [], "
             "ratios: [4], expect: greater}", r"claim 1 \(a\).*b: a non-empty list of methods")

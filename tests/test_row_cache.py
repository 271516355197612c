"""The result cache of the text-space rows: provenance is stored, a parameter mismatch is refused."""
from __future__ import annotations

import pandas as pd
import pytest

from lens_minimal.companion import row_cache
from lens_minimal.io import LensInputError

PARAMS = {"task": "instructions", "agreements": [0.6, 1.0], "config": {"reward": {"max_epochs": 5}}}


def test_entry_keeps_provenance_and_loads_with_the_same_parameters(tmp_path):
    calls = []
    entry = row_cache.cached("x", PARAMS, [0, 1], lambda: calls.append(1) or {"rows": [{"bon_gold": 0.5}]},
                             recompute=True, root=tmp_path)
    prov = entry["provenance"]
    assert set(prov) >= {"git_commit", "hardware", "date", "versions", "torch_threads", "wall_seconds"}
    assert prov["hardware"]["cpu_count"] >= 1 and prov["wall_seconds"] >= 0
    again = row_cache.cached("x", dict(PARAMS, agreements=(0.6, 1.0)), [0, 1], lambda: 1 / 0, root=tmp_path)  # tuple == list
    assert again["payload"] == {"rows": [{"bon_gold": 0.5}]} and calls == [1]


@pytest.mark.parametrize("params, seeds, words", [
    (dict(PARAMS, agreements=[0.6, 0.9]), [0, 1], "params.agreements: cached [0.6, 1.0], asked [0.6, 0.9]"),
    (dict(PARAMS, config={"reward": {"max_epochs": 6}}), [0, 1], "params.config.reward.max_epochs: cached 5, asked 6"),
    (dict(PARAMS, extra=1), [0, 1], "params.extra: asked 1, cached entry has no such parameter"),
    (PARAMS, [0, 1, 2], "seeds: cached [0, 1], asked [0, 1, 2]"),
])
def test_mismatch_is_refused_naming_what_differs(tmp_path, params, seeds, words):
    row_cache.save_entry("x", PARAMS, [0, 1], {"rows": []}, 1.0, root=tmp_path)
    with pytest.raises(LensInputError, match="refusing to use it") as err:
        row_cache.load_entry("x", params, seeds, root=tmp_path)
    assert words in str(err.value) and "x.json" in str(err.value)


def test_missing_or_broken_entry_is_a_clear_error(tmp_path):
    with pytest.raises(LensInputError, match="no cached result 'y'"):
        row_cache.load_entry("y", PARAMS, [0], root=tmp_path)
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(LensInputError, match="not valid JSON"):
        row_cache.load_entry("y", PARAMS, [0], root=tmp_path)
    with pytest.raises(LensInputError, match="bad name"):
        row_cache.entry_path("../z")


def _lm_row(seed, bon):
    return {"task": "instructions", "method": "reward_lm_lora", "ratio": 1, "seed": seed, "bon_gold": bon,
            "pairwise_accuracy": 0.6, "seconds_train": 600.0, "n_trainable": 1234}


def test_reward_lm_rows_are_read_with_their_parameters_and_set_beside_the_mlp_on_the_same_seeds(tmp_path):
    from lens_minimal.companion import text_rows

    params = text_rows.reward_lm_params("instructions", True, 1, None, None, {"epochs": 1.0}, None)
    row_cache.save_entry("reward_lm_instructions_lora_r1", params, [1], {"rows": [_lm_row(1, 0.7)]}, 60.0, root=tmp_path)
    rows = text_rows.load_reward_lm_rows({"instructions": {"lora": [1]}}, [0, 1, 2], 1.0, root=tmp_path)   # holds seed 1 of 0-2
    none = {"instructions": {"1": {"bon_gold": [0.5, 0.6, 0.9]}},                 # seeds 0, 1, 2
            "hh-harmless": {"1": {"bon_gold": [float("nan")] * 3, "pairwise_accuracy": [0.60, 0.62, 0.64]}}}
    lens = {"instructions": {"4": {"bon_gold": [0.1, 0.2, 0.3]}, "8": {"bon_gold": [0.4, 0.55, 0.8]}},
            "hh-harmless": {"8": {"bon_gold": [float("nan")] * 3, "pairwise_accuracy": [0.59, 0.61, 0.63]}}}
    hh = dict(_lm_row(2, float("nan")), task="hh-harmless", pairwise_accuracy=0.66)
    frame = text_rows.reward_lm_frame(rows + [hh, dict(_lm_row(0, 0.5), ratio=4)], none, lens, seeds=[0, 1, 2])
    assert tuple(frame.loc[("instructions", "reward_lm_lora", "4x")][["LENS at", "LENS, same seeds"]]) == ("4x", 0.1)
    line = frame.loc[("instructions", "reward_lm_lora", "1x")]
    assert line["n seeds"] == 1 and line["Best-of-N gold"] == 0.7 and line["compared on"] == "Best-of-N gold"
    assert line["none, same seeds"] == 0.6 and (line["LENS at"], line["LENS, same seeds"]) == ("8x", 0.55)   # seed 1's values
    assert line["train minutes"] == 10.0 and line["run as"] == "1 thread"             # stored before threads were
    alone = dict(_lm_row(1, 0.7), ratio=2, gradient_checkpointing=False, resumed=True,  # recorded: one thread
                 row_provenance={"torch_threads": 2})
    two = text_rows.reward_lm_frame(rows + [alone], none, lens, seeds=[0, 1, 2])
    assert two.loc[("instructions", "reward_lm_lora", "2x"), "run as"] == "2 threads, no checkpointing, resumed"
    line = frame.loc[("hh-harmless", "reward_lm_lora", "1x")]                        # no gold: pairwise accuracy
    assert line["compared on"] == "held-out pairwise accuracy" and (line["none, same seeds"], line["LENS, same seeds"]) == (0.64, 0.63)
    tables = text_rows.reward_lm_tables(frame, {"instructions": {"bon_random": 0.4, "bon_oracle": 0.9}})
    caption, table = tables["instructions"]
    assert caption.endswith("random pick 0.400, of the oracle 0.900") and list(table.index) == [("LoRA", "1x"), ("LoRA", "4x")]
    assert tuple(table.loc[("LoRA", "1x")][["seeds", "Best-of-N gold", "MLP, no aug.", "LENS", "trainable"]]) == \
        (1, "0.700", "0.600", "0.550 (8x)", "1.2k")
    assert text_rows.reward_lm_tables(pd.DataFrame(), {}) == {}                      # nothing run
    caption, table = tables["hh-harmless"]                                           # no gold: no Best-of-N column
    assert caption == "compared on held-out pairwise accuracy" and "Best-of-N gold" not in table.columns
    words = text_rows.reward_lm_markdown(frame.loc[["hh-harmless"]], {}, {}, {})
    assert "held-out pairwise accuracy 0.660, against 0.640 for the embedding MLP" in words
    with pytest.raises(LensInputError, match="lm_config.epochs"):
        text_rows.load_reward_lm_rows({"instructions": {"lora": [1]}}, [1], 2.0, root=tmp_path)
    with pytest.raises(LensInputError, match=r"cached seeds \[1\]; asked for a non-empty subset of \[0, 2\]"):
        text_rows.load_reward_lm_rows({"instructions": {"lora": [1]}}, [0, 2], 1.0, root=tmp_path)
    with pytest.raises(LensInputError, match="kind 'qlora'"):
        text_rows.load_reward_lm_rows({"instructions": {"qlora": [1]}}, [1], 1.0, root=tmp_path)


def test_self_rewarding_rows_and_their_difference_from_lens(tmp_path):
    from lens_minimal.companion import text_rows

    params = {"task": "instructions", "labels_entry": "judge_labels_instructions", "ratios": [2], "config": {}}
    judged = [{"task": "instructions", "method": "text_aug", "annotator": "smollm2_judge", "ratio": 2, "seed": s,
               "bon_gold": b, "pairwise_accuracy": 0.6} for s, b in ((0, 0.50), (1, 0.52), (2, 0.54))]
    row_cache.save_entry("mlp_judge_instructions", params, [0, 1, 2], {"rows": judged}, 5.0, root=tmp_path)
    rows = text_rows.load_judge_rows({"instructions": [2]}, [0, 1, 2], {}, root=tmp_path)
    cells = text_rows.cells_from_rows(rows)
    assert cells["instructions"]["smollm2_judge"]["2"]["bon_gold"] == [0.50, 0.52, 0.54]
    lens = {"instructions": {"2": {"bon_gold": [0.60, 0.62, 0.64]}, "4": {"bon_gold": [0.0, 0.0, 0.0]}}}
    diffs = text_rows.judge_differences(cells, lens, ["instructions"], [2, 4])
    assert list(diffs) == ["instructions@2"] and abs(diffs["instructions@2"]["mean"] + 0.10) < 1e-12
    assert diffs["instructions@2"]["hi"] < 0
    with pytest.raises(LensInputError, match="seeds"):
        text_rows.load_judge_rows({"instructions": [2]}, [0, 1], {}, root=tmp_path)


def test_reward_lm_sentences_name_what_ran_and_estimate_what_did_not():
    from lens_minimal.companion import text_rows

    frame = pd.DataFrame([{"task": "instructions", "row": "reward_lm_lora", "ratio": "1x", "n seeds": 1, "Best-of-N gold": 0.7,
                           "pairwise accuracy": 0.6, "compared on": "Best-of-N gold", "none, same seeds": 0.65, "LENS at": "8x", "LENS, same seeds": 0.66,
                           "train minutes": 15.0, "run as": "1 thread", "trainable parameters": 10}]).set_index(["task", "row", "ratio"])
    costs = {"seconds_per_epoch_full": 2400.0, "seconds_per_epoch_lora": 900.0, "texts_per_second_score": 10.0}
    words = text_rows.reward_lm_markdown(frame, {"instructions": costs}, {"instructions": {"full": [1], "lora": [1, 4]}},
                                         n_test_texts={"instructions": 600}, unmeasured=["summaries"])
    lines = words.splitlines()
    assert len(lines) == 4 and lines[3].startswith("- **summaries**: no fine-tuned or LoRA cell run")
    assert "LoRA, 1x** (1 seed, 15 min of training, 1 thread)" in lines[0] and "0.700" in lines[0] and "0.650" in lines[0] and "LENS 8x" in lines[0] and "one seed has no interval" in lines[0]
    assert "fully fine-tuned, 1x**: not run" in lines[1] and "about 41 min" in lines[1]     # 40 min epoch + 1 min scoring
    assert "LoRA, 4x**: not run" in lines[2] and "about 61 min" in lines[2]                # 4 x 15 + 1
    # with runs of the same kind, their rates: 1,200 s over 600 pairs, 120 s scoring -> 4x of 900 pairs: 120 + 2 min
    runs = [dict(_lm_row(0, 0.7), seconds_train=1200.0, n_train_pairs=600, seconds_score=120.0)]
    faster = dict(runs[0], seconds_train=300.0, row_provenance={"torch_threads": 2}, gradient_checkpointing=False)
    rates = text_rows.run_rates(runs + [faster])                                         # estimates are for one thread
    assert rates == {("instructions", "lora"): {"seconds_per_pair": 2.0, "seconds_score": 120.0, "n_runs": 1}}
    words = text_rows.reward_lm_markdown(frame, {"instructions": {**costs, "n_seed_pairs": 900}},
                                         {"instructions": {"full": [1], "lora": [1, 4]}}, {"instructions": 600}, rates=rates)
    full, lora4 = words.splitlines()[1:]
    # no full run but a LoRA one: the full measure (40 min), scaled by how far the LoRA measure fell short
    # (2.0 s/pair x 900 pairs = 1,800 s against a measured 900 s epoch: 2.0x), + the LoRA run's 2 min of scoring
    assert "about 82 min" in full and "times 2.0: what the LoRA instructions run took against its own `measure`" in full
    assert "about 122 min" in lora4 and "rates of the 1 LoRA instructions run above" in lora4


def test_reward_lm_ratio_words_follow_each_kind_across_ratios_with_the_judge_agreement():
    from lens_minimal.companion import text_rows

    rows = [_lm_row(0, 0.70), _lm_row(1, 0.74), dict(_lm_row(0, 0.62), ratio=4), dict(_lm_row(0, 0.55), ratio=8),
            dict(_lm_row(0, 0.80), method="reward_lm_full"),                   # one ratio only: no sentence
            *(dict(_lm_row(0, b), task="summaries", ratio=r) for r, b in ((1, 0.5), (4, 0.6), (8, 0.55)))]
    lines = text_rows.reward_lm_ratio_words(rows, {"instructions": 0.533, "summaries": 0.71}).splitlines()
    assert len(lines) == 2
    inst, summ = lines
    assert inst.startswith("- **instructions, LoRA**: Best-of-N gold 0.720 (1x) → 0.620 (4x) → 0.550 (8x): lower at every added ratio, -0.170")
    assert "seeds of one cell differ by up to 0.040" in inst and "53.3%" in inst and "label noise" in inst
    assert "not monotone in the ratio, +0.050" in summ and "one seed per cell" in summ and "71.0%" in summ
    assert "differ by" not in summ                                                 # no task cell with two seeds
    assert "label noise" not in summ                                               # a judge well above a coin
    two = rows + [dict(_lm_row(1, 0.81), method="reward_lm_full"), dict(_lm_row(0, 0.8), method="reward_lm_full", ratio=4)]
    full = text_rows.reward_lm_ratio_words([r for r in two if r["method"] == "reward_lm_full" or r["ratio"] != 1], {}).splitlines()
    assert "one seed per cell" in full[1] and "(the seeds of the fully fine-tuned 1x cell differ by 0.010)" in full[1]
    assert text_rows.reward_lm_ratio_words([], {}) == ""
    runs = {"instructions": {"n_pairs": 3000}, "instructions, 7 per prompt": {"n_pairs": 7000}, "summaries": {"n_pairs": 3000}}
    assert {t: r["n_pairs"] for t, r in text_rows.labelling_judge_runs(runs).items()} == {"instructions": 7000, "summaries": 3000}


def test_table2_prices_judge_labelling_at_the_cached_measured_rate(tmp_path):
    from lens_minimal.companion import table2, text_rows

    params = text_rows.judge_params("instructions", 10, 3)
    row_cache.save_entry("judge_labels_instructions", params, [], {"pairs_per_second": 2.0, "n_pairs": 30}, 15.0, root=tmp_path)
    judged = table2.measured_judge("instructions", 10, 3, root=tmp_path)
    assert judged["pairs_per_second"] == 2.0 and judged["n_pairs"] == 30
    with pytest.raises(LensInputError, match="pairs_per_prompt"):
        table2.measured_judge("instructions", 10, 1, root=tmp_path)
    seconds = {"text_generate": 1.0, "text_label": 0.0, "text_embed": 2.0, "reward_model": 3.0}
    frame = table2.parts_frame(seconds, 4.0, 5.0, judged, n_new_pairs=700)
    row = frame.loc[("text", "or label the (r−1)·N new pairs with the SmolLM2 judge")]
    assert row["seconds"] == 350.0 and "30 judged pairs" in row["how"]
    assert len(table2.parts_frame(seconds, 4.0, 5.0)) == 6


def test_add_seeds_keeps_the_other_seeds_rows_with_their_provenance(tmp_path):
    params = {"task": "t", "lora": True}
    row_cache.save_entry("cell", params, [0], {"rows": [{"seed": 0, "bon_gold": 0.7}]}, 60.0, root=tmp_path)
    entry = row_cache.add_seeds("cell", params, [1], lambda: {"rows": [{"seed": 1, "bon_gold": 0.6}]}, root=tmp_path)
    assert entry["seeds"] == [0, 1] and [r["bon_gold"] for r in entry["payload"]["rows"]] == [0.7, 0.6]
    assert all({"git_commit", "date", "hardware"} <= set(r["row_provenance"]) for r in entry["payload"]["rows"])
    again = row_cache.add_seeds("cell", params, [1], lambda: {"rows": [{"seed": 1, "bon_gold": 0.65}]}, root=tmp_path)
    assert [r["bon_gold"] for r in again["payload"]["rows"]] == [0.7, 0.65]          # a seed run again replaces its row
    tupled = {"task": "t", "lora": True, "ratios": (1, 4)}                           # tuples are stored as lists
    row_cache.save_entry("cell2", tupled, [0], {"rows": [{"seed": 0, "bon_gold": 0.7}]}, 1.0, root=tmp_path)
    assert row_cache.add_seeds("cell2", tupled, [1], lambda: {"rows": [{"seed": 1, "bon_gold": 0.6}]},
                               root=tmp_path)["seeds"] == [0, 1]
    other = row_cache.add_seeds("cell", dict(params, lora=False), [2], lambda: {"rows": [{"seed": 2, "bon_gold": 0.5}]},
                                root=tmp_path)
    assert other["seeds"] == [2] and len(other["payload"]["rows"]) == 1             # other parameters: nothing kept


def test_provenance_names_the_commit_the_process_started_at(tmp_path, monkeypatch):
    """A long run saved after later commits records the code it ran, and the HEAD at saving beside it."""
    monkeypatch.setattr(row_cache, "STARTED_AT_COMMIT", "aaaa")
    monkeypatch.setattr(row_cache, "git_commit", lambda: "bbbb")
    row_cache.save_entry("x", {"a": 1}, [], {"v": 1}, 1.0, root=tmp_path)
    prov = row_cache.load_entry("x", {"a": 1}, [], root=tmp_path)["provenance"]
    assert (prov["git_commit"], prov["git_commit_at_save"]) == ("aaaa", "bbbb")
    monkeypatch.setattr(row_cache, "git_commit", lambda: "aaaa")
    row_cache.save_entry("x", {"a": 1}, [], {"v": 1}, 1.0, root=tmp_path)
    assert "git_commit_at_save" not in row_cache.load_entry("x", {"a": 1}, [], root=tmp_path)["provenance"]


def test_judge_summary_reads_a_run_with_its_parameters_and_gives_a_clopper_pearson_interval(tmp_path):
    from scipy import stats

    from lens_minimal.companion import text_rows

    payload = {"agreement": 0.55, "n_distinct_gold": 200, "n_pairs": 210, "agreement_one_order": 0.5,
               "first_position_logodds": 2.0, "order_disagreement": 0.99, "pairs_per_second": 1.5, "labels": []}
    params = text_rows.judge_run_params("instructions", 30, 7, reuse_base=True)
    assert params["reused_from"] == "judge_labels_instructions"
    assert "reused_from" not in text_rows.judge_run_params("instructions", 30, 3, reuse_base=True)   # the base run copies nothing
    row_cache.save_entry("judge_labels_instructions_k7", params, [], payload, 1.0, root=tmp_path)
    j = text_rows.judge_summary("instructions", 30, 7, root=tmp_path)
    ci = stats.binomtest(110, 200).proportion_ci(0.95)
    assert (j["pairs_per_prompt"], j["agreement"], j["ci_low"], j["ci_high"]) == (7, 0.55, ci.low, ci.high)
    assert j["ci_low"] < 0.5 < j["ci_high"] and "labels" not in j
    with pytest.raises(LensInputError, match="reused_from"):                         # judged from scratch: other parameters
        text_rows.judge_summary("instructions", 30, 7, reuse_base=False, root=tmp_path)
    frame = text_rows.judge_frame({"instructions, 7 per prompt": j})
    assert frame.loc["agreement", "instructions, 7 per prompt"] == 0.55 and frame.loc["ci_low"].iloc[0] == round(ci.low, 3)

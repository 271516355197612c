"""What the notebooks compute, as functions of the companion: Table 1's contract with the ledger,
its tables and verdict sentences, Table 2's extrapolation and table, the walkthrough's numbers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from lens_minimal.companion import figures, ledger, table1, table2, walkthrough
from lens_minimal.data import PreferencePairs
from lens_minimal.experiment import summarize
from lens_minimal.io import LensInputError
from lens_minimal.synthesis import SynthesisConfig
from lens_minimal.vae import VAEConfig


def fake_runs(tasks=("toy",), seeds=(2, 0, 1), bon=True) -> pd.DataFrame:
    """`run_grid`-shaped rows with known values: metric = base + 0.1 * seed (+ 0.05 for lens)."""
    rows = []
    for t in tasks:
        for method, ratios in (("none", [1]), ("lens", [4, 8]), ("direct", [4, 8]), ("gaussian", [4, 8])):
            for r in ratios:
                for s in seeds:                                    # deliberately not in seed order
                    gain = {"none": 0.0, "lens": 0.05 * r, "direct": 0.01, "gaussian": -0.02}[method]
                    rows.append({"task": t, "method": method, "ratio": r, "seed": s,
                                 "bon_gold": (0.5 + gain + 0.1 * s) if bon else float("nan"),
                                 "pairwise_accuracy": 0.6 + gain / 2 + 0.01 * s,
                                 "bon_random": 0.2 if bon else float("nan"), "bon_oracle": 0.9 if bon else float("nan"),
                                 "seconds_fit": 1.0, "seconds_augment": 0.5, "seconds_train": 2.0})
    return pd.DataFrame(rows)


# --- Table 1: the contract with the ledger ---------------------------------------------------------

def test_per_seed_cells_orders_every_cell_by_seed_so_cells_pair_by_position():
    cells = ledger.per_seed_cells(fake_runs())
    assert set(cells["toy"]) == {"none", "lens", "direct", "gaussian"}
    assert set(cells["toy"]["lens"]) == {"4", "8"} and set(cells["toy"]["none"]) == {"1"}
    assert ledger.cell_values(cells, "toy", "none", 1, "bon_gold") == pytest.approx([0.5, 0.6, 0.7])
    assert ledger.cell_values(cells, "toy", "lens", 8, "bon_gold") == pytest.approx([0.9, 1.0, 1.1])
    diff = ledger.paired_difference(ledger.cell_values(cells, "toy", "lens", 8, "bon_gold"),
                                    ledger.cell_values(cells, "toy", "none", 1, "bon_gold"))
    assert diff["mean"] == pytest.approx(0.4) and diff["hi"] - diff["lo"] == pytest.approx(0, abs=1e-9)


def test_the_ledger_judges_table1_claims_from_the_stored_cells():
    record = {"numbers": {"cells": ledger.per_seed_cells(fake_runs())}}
    claim = ledger.Claim("c", "Table 1", "claim", "t", "p", "table1_main_results",
                         {"type": "difference", "dataset": "hh", "metric": "bon_gold",
                          "a": {"method": "lens", "ratio": 8}, "b": {"method": "none", "ratio": 1}, "expect": "greater"})
    j = ledger.judge(claim, {"table1_main_results": record}, {"hh": "toy"})
    assert j.verdict == "reproduced" and j.detail["mean"] == pytest.approx(0.4)
    assert ledger.judge(claim, {"table1_main_results": record}, {"tldr": "toy"}).verdict == ledger.NOT_TESTED


def test_reference_picks_and_timings():
    runs = fake_runs(tasks=("a", "b"))
    picks = table1.reference_picks(runs)
    assert set(picks) == {"a", "b"}
    assert picks["a"] == {"bon_random": pytest.approx(0.2), "bon_oracle": pytest.approx(0.9)}
    timings = table1.run_timings(runs, {"a": 3.0, "b": 4.0}, 7.5)
    assert timings["seconds_total"] == 7.5 and timings["mean_seconds"]["lens@8"]["seconds_train"] == 2.0


def test_check_params_stops_before_running():
    with pytest.raises(LensInputError, match="must include 1"):
        table1.check_params(["synthetic"], [4, 8], {})
    with pytest.raises(LensInputError, match=r"tasks \['nowhere'\]: data not found"):
        table1.check_params(["nowhere"], [1, 4], {})
    table1.check_params(["synthetic"], [1, 4], {})
    table1.check_params(["mine"], [1, 4], {"mine": {"pairs": "p", "test": "t"}})   # your own files


# --- Table 1: tables and words --------------------------------------------------------------------

def test_blocks_give_one_narrow_table_per_task_and_metric():
    runs = fake_runs(tasks=("instructions", "summaries"))
    summary = summarize(runs)
    blocks = table1.blocks(summary, ledger.load_table1(), {"instructions": "hh", "summaries": "tldr"},
                           table1.reference_picks(runs))
    titles = [t for t, _ in blocks]
    assert len(blocks) == 4
    assert "**instructions** (stands in for HH-RLHF)" in titles[0] and "pairwise accuracy" in titles[1]
    assert "(stands in for TL;DR)" in titles[2]
    gold = blocks[0][1]
    assert gold.columns.names == ["ratio", "source"]
    assert list(gold.columns) == [(f"{r}x", s) for r in (1, 4, 8) for s in ("paper", "ours")]
    assert gold.loc["LENS", ("8x", "paper")] == "2.20"                        # the paper's HH-RLHF number
    assert gold.loc["LENS", ("4x", "ours")] == "0.800 ± 0.100"                # mean ± sd over 3 seeds
    assert gold.loc["Random pick (reference)", ("4x", "ours")] == "0.200"
    assert list(blocks[1][1].columns) == ["1x", "4x", "8x"]                    # accuracy: ours only
    tldr = blocks[2][1]
    assert tldr.loc["LENS", ("8x", "paper")] == "1.48"


def test_text_space_cells_come_from_the_cache_under_the_papers_rows_with_their_seed_counts(tmp_path):
    from lens_minimal.companion import row_cache, text_rows

    lm = {"task": "instructions", "method": "reward_lm_lora", "ratio": 4, "seed": 0, "bon_gold": 0.42,
          "pairwise_accuracy": 0.6, "seconds_train": 60.0, "n_trainable": 10}
    row_cache.save_entry("reward_lm_instructions_lora_r4", text_rows.reward_lm_params(
        "instructions", True, 4, None, None, {"epochs": 1.0}, "judge_labels_instructions"), [0], {"rows": [lm]}, 1.0, root=tmp_path)
    judged = [{"task": "instructions", "method": "text_aug", "annotator": "smollm2_judge", "ratio": r, "seed": s,
               "bon_gold": 0.3 + 0.1 * s, "pairwise_accuracy": 0.5} for r in (2, 4) for s in (0, 1, 2)]
    row_cache.save_entry("mlp_judge_instructions", text_rows.mlp_judge_params("instructions", "judge_labels_instructions", [2, 4]),
                         [0, 1, 2], {"rows": judged}, 1.0, root=tmp_path)
    text = table1.text_space_summary({"instructions": [2, 4]}, {"instructions": {"lora": [4]}}, [0, 1, 2], [1, 4, 8], root=tmp_path)
    assert sorted(zip(text["method"], text["ratio"], text["n_seeds"])) == [
        ("self_rewarding", 4, 3), ("text_lora", 4, 1), ("text_mlp", 4, 3)]          # no 2x column: not a ratio of the table
    runs = fake_runs(tasks=("instructions",), seeds=(0, 1, 2))
    gold = table1.blocks(pd.concat([summarize(runs), text]), ledger.load_table1(), {"instructions": "hh"},
                         table1.reference_picks(runs))[0][1]
    assert gold.loc["LoRA RM (text augmentation)", ("4x", "ours")] == "0.420 (1 seed)"
    assert gold.loc["Self-rewarding", ("4x", "ours")] == gold.loc["Embedding MLP (text augmentation)", ("4x", "ours")] == "0.400 ± 0.100"
    assert gold.loc["Self-rewarding", ("1x", "ours")] == gold.loc["LENS", ("1x", "ours")]         # 1x: no augmentation
    assert gold.loc["Fully fine-tuned RM (text augmentation)", ("4x", "ours")] == "pending"
    assert gold.loc["LENS", ("4x", "ours")] == "0.800 ± 0.100"                                  # 3 seeds: no count


def test_a_task_without_gold_reward_gets_only_its_accuracy_table():
    runs = pd.concat([fake_runs(tasks=("instructions",)), fake_runs(tasks=("hh-harmless",), bon=False)])
    blocks = table1.blocks(summarize(runs), ledger.load_table1(), {"instructions": "hh", "hh-harmless": "hh"},
                           table1.reference_picks(runs))
    titles = [t for t, _ in blocks]
    assert len(blocks) == 3 and titles[2].startswith("**hh-harmless** (real human pairs of HH-RLHF): held-out")
    hh_block = blocks[2][1]
    assert ("4x", "paper (gold)") in hh_block.columns and ("4x", "ours") in hh_block.columns
    assert set(table1.reference_picks(runs)) == {"instructions"}
    cells = ledger.per_seed_cells(runs)
    assert table1.main_metric(cells, "instructions") == "bon_gold"
    assert table1.main_metric(cells, "hh-harmless") == "pairwise_accuracy"


def test_bootstrap_gains_pair_methods_with_no_augmentation_on_the_same_items():
    runs = fake_runs(tasks=("toy",))
    runs["per_item"] = [[v, v + 0.1, v - 0.1] for v in runs["bon_gold"]]      # three test items per run
    gains = table1.bootstrap_gains(runs)
    g = gains["toy"]["lens"]["8"]
    assert g["gain"] == pytest.approx(0.4) and g["n_items"] == 3 and g["n_seeds"] == 3
    assert g["gain_ci_low"] == pytest.approx(0.4) and g["gain_ci_high"] == pytest.approx(0.4)
    frame = table1.bootstrap_frame(gains, ["toy"])
    assert frame.loc[("toy", "LENS", "8x"), "reading"] == "higher"


def test_gains_frame_is_the_paired_difference_over_seeds():
    cells = ledger.per_seed_cells(fake_runs())
    frame = table1.gains_frame(cells, ["toy"], ["lens", "direct"], [1, 4, 8])
    assert list(frame.columns) == ["gold reward minus 1x", "reading"]
    assert len(frame) == 4
    assert frame.loc[("toy", "LENS", "8x"), "gold reward minus 1x"].startswith("+0.400")
    assert frame.loc[("toy", "Direct perturbation", "4x"), "gold reward minus 1x"].startswith("+0.010")


def test_verdict_sentences_come_from_the_numbers():
    cells = ledger.per_seed_cells(fake_runs(tasks=("instructions",)))
    text = table1.verdict_markdown(cells, ["instructions"], ["lens", "direct", "gaussian"], [1, 4, 8],
                                   {"instructions": "hh"}, ledger.load_table1())
    lines = text.splitlines()
    assert lines[0].startswith("- **instructions**: LENS at 8x against no augmentation: +0.400")
    assert "The paper reports 2.20 against 1.43 on HH-RLHF." in lines[0]
    assert lines[1].startswith("  Against direct perturbation at 8x: +0.390")
    assert lines[2].startswith("  Against gaussian sampling at 8x: +0.420")
    assert table1.verdict_markdown(cells, ["instructions"], ["direct"], [1, 4], {}, ledger.load_table1()) == \
        "LENS was not run in this profile."


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_interval_reach_is_the_t_quantile_over_root_n(n):
    assert table1.interval_reach(n) == f"{stats.t.ppf(0.975, n - 1) / math.sqrt(n):.2f}"
    assert table1.interval_reach(1).startswith("(undefined")


# --- Table 2 --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ratio, m", [(1, 1), (2, 1), (3, 1), (4, 2), (6, 2), (8, 3), (10, 3), (11, 4)])
def test_responses_per_prompt_is_the_smallest_m_giving_enough_pairs(ratio, m):
    assert table2.responses_per_prompt(ratio) == m
    assert math.comb(m + 2, 2) - 1 >= ratio - 1
    assert m == 1 or math.comb(m + 1, 2) - 1 < ratio - 1


def test_extrapolation_and_factors():
    seconds = table2.extrapolate(300, {"generate": 2.0, "label": 0.01, "embed": 0.5}, 10.0, 5.0)
    assert seconds["text_generate"] == 600.0 and seconds["text_label"] == 3.0 and seconds["text_embed"] == 150.0
    assert seconds["text_generation"] == 603.0 and seconds["text_total"] == 603.0 + 150.0 + 5.0
    assert seconds["latent_total"] == 15.0
    f = table2.factors(seconds, 135_000_000, 11_500)
    assert f["generation_time"] == pytest.approx(60.3) and f["total_runtime"] == pytest.approx(758 / 15)
    assert f["generator_parameters"] == pytest.approx(135e6 / 11500)


def test_table2_words_and_frame():
    assert [table2.human_time(s) for s in (4.14, 192, 9000)] == ["4.1 s", "3.2 min", "2.50 h"]
    assert [figures.human_count(n) for n in (11_488, 134_515_008, 8e9)] == ["11.5k", "134.5M", "8.0B"]
    assert [table2.factor_text(x) for x in (13.24, 11_709.4)] == ["13.2x", "11,709x"]
    assert [table2.factor_words(x) for x in (3.44, 166.2)] == ["3.4", "166"]
    paper = ledger.load_table2()
    assert table2.paper_factors_words(paper) == "18x, 13x and 16,000x"
    assert table2.paper_scale_factor(paper, 531_616) == pytest.approx(8e9 / 531_616)
    seconds = table2.extrapolate(540, {"generate": 1.2, "label": 0.0, "embed": 0.44}, 3.9, 0.8)
    frame = table2.frame(paper, seconds, 134_515_008, 11_488)
    assert list(frame.index) == ["Generation time", "Generator parameters", "Total runtime"]
    assert frame.loc["Generation time", (table2.PAPER_HEADER, "text")] == "3.6 h"
    assert frame.loc["Generator parameters", (table2.PAPER_HEADER, "latent")] == "500.0k"
    assert frame.loc["Generator parameters", (table2.OURS_HEADER, "ratio")] == "11,709x"
    assert frame.loc["Generation time", (table2.OURS_HEADER, "text")] == "10.8 min"
    parts = table2.parts_frame(seconds, 3.9, 0.0)
    assert parts["seconds"].tolist() == pytest.approx([648.0, 0.0, 237.6, 0.8, 3.9, 0.0])


def test_table2_check_params():
    with pytest.raises(LensInputError, match="not a torch dtype"):
        table2.check_params("synthetic", "bfloat17")
    with pytest.raises(LensInputError, match="data not found"):
        table2.check_params("nowhere", "float32")


# --- the walkthrough ------------------------------------------------------------------------------

class _IdentityVAE:
    center, scale = torch.zeros(2), torch.ones(2)


def test_spread_metrics_by_hand():
    example = {"seed": {"chosen": torch.tensor([[0.0, 0.0], [4.0, 0.0]]), "rejected": torch.tensor([[0.0, 1.0], [4.0, 1.0]])},
               "recon": {"chosen": torch.tensor([[1.0, 0.0], [4.0, 1.0]]), "rejected": torch.tensor([[0.0, 1.0], [4.0, 1.0]])},
               "synth": {"chosen": torch.tensor([[[1.0, 2.0]], [[4.0, 3.0]]]), "rejected": torch.tensor([[[0.0, 1.0]], [[4.0, 1.0]]])}}
    got = walkthrough.spread_metrics(_IdentityVAE(), example)
    # spread: chosen 2.0, rejected 0.0 -> 1.0; offset: chosen 1.0, rejected 0.0 -> 0.5; between seeds: 4.0
    assert got == {"relative_spread": pytest.approx(0.25), "relative_offset": pytest.approx(0.125)}


@pytest.fixture(scope="module")
def small_pairs():
    g = torch.Generator().manual_seed(0)
    return PreferencePairs(torch.randn(40, 8, generator=g) + 1.0, torch.randn(40, 8, generator=g) - 1.0)


def test_walkthrough_trains_one_vae_per_gamma_and_reads_their_latents(small_pairs):
    config = VAEConfig(epochs=3, hidden_dim=8, latent_dim=4)
    models, histories, seconds = walkthrough.train_vaes(small_pairs, config, [0.1, 0.0], seed=0)
    assert set(models) == set(histories) == set(seconds) == {0.1, 0.0}
    latents, numbers = {}, {}
    for g in (0.1, 0.0):
        latents[g], numbers[g] = walkthrough.latent_stats(models[g], histories[g], small_pairs)
        assert latents[g][0].shape == (40, 4) and numbers[g]["w2_mean"] >= 0
        assert 0 <= numbers[g]["direction_accuracy"] <= 1
    frame = walkthrough.stats_frame(numbers)
    assert list(frame.index) == ["0.1", "0"] and list(frame.columns) == list(walkthrough.STATS_COLUMNS.values())
    ex1 = walkthrough.synthetic_example(models[0.1], small_pairs, 3, 5, SynthesisConfig(), seed=1)
    ex2 = walkthrough.synthetic_example(models[0.1], small_pairs, 3, 5, SynthesisConfig(), seed=1)
    assert ex1["synth"]["chosen"].shape == (3, 5, 8) and ex1["recon"]["rejected"].shape == (3, 8)
    assert torch.equal(ex1["synth"]["rejected"], ex2["synth"]["rejected"])       # seeded
    spread = walkthrough.spread_metrics(models[0.1], ex1)
    assert spread["relative_spread"] > 0 and np.isfinite(spread["relative_offset"])


# --- Table 1's text rows: what the notebook shows --------------------------------------------------

def test_text_rows_tables_and_sentences():
    from lens_minimal.companion import text_rows

    runs = fake_runs()
    lens = text_rows.lens_cells_from_runs(runs[runs.method == "lens"])
    assert lens["toy"]["8"]["bon_gold"] == pytest.approx([0.9, 1.0, 1.1])
    rows = runs.to_dict("records")
    assert text_rows.reference_picks(rows, ["toy"]) == {"toy": {"bon_random": pytest.approx(0.2), "bon_oracle": pytest.approx(0.9)}}
    cells = {"toy": {"none": {"1": {"bon_gold": [0.5, 0.7], "pairwise_accuracy": [0.6, 0.6]}}}}
    frame = text_rows.cells_frame(cells, {"toy": {"8": lens["toy"]["8"], "4": lens["toy"]["4"]}}, ["toy"])
    assert list(frame.index) == [("toy", "LENS", "4x"), ("toy", "LENS", "8x"), ("toy", "none", "1x")]
    assert frame.loc[("toy", "none", "1x"), "Best-of-N gold"] == "0.600 ± 0.141"
    diffs = {"toy@4": {"0.6": {"mean": -0.1}, "1": {"mean": 0.2}}, "toy@8": {"0.6": {"mean": 0.05}, "1": {"mean": 0.1}}}
    text = text_rows.crossover_markdown({"toy@4": 0.8, "toy@8": None}, diffs, [0.6, 1.0],
                                        {"toy": {"agreement": 0.37, "n_distinct_gold": 30, "ci_low": 0.2, "ci_high": 0.56}})
    assert text.splitlines() == [
        "- **toy, 4x**: text augmentation overtakes LENS at agreement ≈ 0.80.",
        "- **toy, 8x**: no crossover in [0.6, 1.0]: text augmentation is above LENS at every agreement "
        "(mean difference +0.050 at a = 0.6, +0.100 at a = 1.0).",
        "- The SmolLM2 judge agrees with gold on 0.37 of 30 toy pairs (95% interval 0.20 to 0.56)."]

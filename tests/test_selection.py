"""The pre-registered protocol (lens_minimal.selection) and the study runner (lens_minimal.companion.beyond)."""
import json

import pandas as pd
import pytest
import torch

from lens_minimal.companion import beyond
from lens_minimal.datasets import load_task
from lens_minimal.io import LensInputError
from lens_minimal.selection import choose, dev_final_split, score_candidates, split_test, standardized_gain, verdict

SMALL_WORLD = {"dim": 32, "n_train": 80, "n_test_prompts": 16, "n_candidates": 6}
TINY_STUDY = {
    "datasets": ["synthetic"], "world": SMALL_WORLD, "ratios": [4], "min_wins": 1,
    "validation_seeds": [0], "confirmation_seeds": [100],
    "candidates": [{"label": "lens", "method": "lens", "config": {}},
                   {"label": "down", "method": "lens_downweight", "config": {"trust": {"synthetic_weight": 0.3}}}],
    "config": {"vae": {"epochs": 2}, "reward": {"max_epochs": 2}},
}


def test_dev_and_final_slices_partition_the_test_items_deterministically():
    dev, final = dev_final_split(200, 0.25, seed=0)
    assert len(dev) == 50 and len(final) == 150
    assert sorted(torch.cat([dev, final]).tolist()) == list(range(200))
    assert torch.equal(dev, dev_final_split(200, 0.25, seed=0)[0])
    assert not torch.equal(dev, dev_final_split(200, 0.25, seed=1)[0])
    with pytest.raises(LensInputError, match="dev_fraction"):
        dev_final_split(200, 1.0, 0)


def test_split_test_slices_best_of_n_prompts_and_held_out_pairs():
    task = load_task("synthetic", world=SMALL_WORLD)
    dev, final = split_test(task, 0.25, 0)
    assert dev.test.n_prompts == 4 and final.test.n_prompts == 12
    assert dev.train is task.train and dev.info["test_slice"] == "dev"
    idx = dev_final_split(16, 0.25, 0)[0]
    assert torch.equal(dev.test.gold, task.test.gold[idx])
    pairs_task = type(task)("pairs", task.train, task.train.subset(torch.arange(40)))
    d, f = split_test(pairs_task, 0.25, 0)
    assert len(d.test) == 10 and len(f.test) == 30 and not d.has_gold


def _gains(rows):
    return pd.DataFrame(rows, columns=["task", "candidate", "gain", "gain_ci_low", "gain_ci_high"])


def test_choice_maximises_the_second_best_dataset():
    # A: huge on one dataset, negative on the others; B: modest on two. The win rule needs two, so B.
    gains = _gains([
        ("x", "A", 5.0, 4.0, 6.0), ("y", "A", -1.0, -2.0, 0.0), ("z", "A", -1.0, -2.0, 0.0),
        ("x", "B", 1.0, 0.0, 2.0), ("y", "B", 1.0, 0.0, 2.0), ("z", "B", -1.0, -2.0, 0.0),
    ])
    assert choose(gains, ["A", "B"], min_wins=2) == "B"
    assert choose(gains, ["A", "B"], min_wins=1) == "A"
    scores = score_candidates(gains, ["A", "B"], 2)
    assert scores.candidate.tolist() == ["B", "A"] and scores["rank"].tolist() == [1, 2]
    assert scores.loc[0, "score"] == pytest.approx(1.0 / (2.0 / (2 * 1.959963984540054)))


def test_choice_ties_go_to_mean_z_then_to_the_registered_order():
    same = [("x", c, 1.0, 0.0, 2.0) for c in ("P", "Q")] + [("y", c, 1.0, 0.0, 2.0) for c in ("P", "Q")]
    assert choose(_gains(same), ["Q", "P"], 1) == "Q"
    assert choose(_gains(same), ["P", "Q"], 1) == "P"
    better_mean = _gains(same[:3] + [("y", "Q", 3.0, 2.0, 4.0)])
    assert choose(better_mean, ["P", "Q"], 1) == "Q"


def test_choice_errors_on_incomplete_or_unregistered_results():
    gains = _gains([("x", "A", 1.0, 0.0, 2.0), ("y", "A", 1.0, 0.0, 2.0), ("x", "B", 1.0, 0.0, 2.0)])
    with pytest.raises(LensInputError, match="'B'"):
        choose(gains, ["A", "B"], 1)
    with pytest.raises(LensInputError, match="not in the pre-registered list"):
        choose(gains, ["A"], 1)
    with pytest.raises(LensInputError, match="min_wins"):
        choose(gains[gains.candidate == "A"], ["A"], 3)


def test_standardized_gain_handles_zero_width_intervals():
    assert standardized_gain(0.0, 0.0, 0.0) == 0.0
    assert standardized_gain(0.1, 0.1, 0.1) == float("inf")
    assert standardized_gain(-2.0, -3.0, -1.0) == pytest.approx(-2 * 1.959963984540054)


def test_verdict_counts_intervals_above_zero():
    conf = pd.DataFrame({"task": ["x", "y", "z"], "gain": [0.1, 0.1, -0.1],
                         "gain_ci_low": [0.01, -0.01, -0.2], "gain_ci_high": [0.2, 0.2, -0.01]})
    v = verdict(conf, 2)
    assert v["outcome"] == {"x": "gain", "y": "no difference", "z": "loss"}
    assert v["n_gains"] == 1 and not v["wins"]
    assert verdict(conf, 1)["wins"]


# ----------------------------------------------------------------------------- the study runner

def test_study_parameters_are_checked():
    with pytest.raises(LensInputError, match="unique"):
        beyond.resolve_study({"candidates": [{"label": "a", "method": "lens", "config": {}}] * 2})
    with pytest.raises(LensInputError, match="seeds must differ"):
        beyond.resolve_study({"validation_seeds": [0, 1], "confirmation_seeds": [1, 2]})
    with pytest.raises(LensInputError, match="unknown method"):
        beyond.resolve_study({"candidates": [{"label": "a", "method": "magic", "config": {}}]})
    with pytest.raises(LensInputError, match=r"candidates\['a'\].config"):
        beyond.resolve_study({"candidates": [{"label": "a", "method": "lens", "config": {"vea": {}}}]})
    with pytest.raises(LensInputError, match="study"):
        beyond.resolve_study({"seeds": [1]})


def test_study_runs_both_stages_resumes_and_refuses_other_parameters(tmp_path, monkeypatch):
    study = beyond.resolve_study(TINY_STUDY)
    out = tmp_path / "study.json"
    record = beyond.run_study(study, "validation", out, progress=False)
    assert record["confirmation"] is None and record["chosen"] in beyond.cell_order(study)
    assert {r["candidate"] for r in record["validation"]["rows"]} == {"none", "lens", "down"}
    assert record["validation"]["provenance"]["git_commit"]
    with pytest.raises(LensInputError, match="incomplete"):
        beyond.load_study(study, out)

    calls = []
    real = beyond.run_ratios
    monkeypatch.setattr(beyond, "run_ratios", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    record = beyond.run_study(study, "all", out, progress=False)
    assert sorted(calls) == sorted(["none", beyond.chosen_candidate(study, record["chosen"])[0]["method"]])
    rows = record["confirmation"]["rows"]
    assert {r["seed"] for r in rows} == {100} and len(rows[0]["per_item"]) == 12   # the final slice only
    assert json.loads(out.read_text())["study_key"] == study.key()

    calls.clear()
    beyond.run_study(study, "all", out, progress=False)     # finished: nothing is rerun
    assert calls == []
    loaded = beyond.load_study(study, out)
    analysis = beyond.analyse(loaded)
    assert analysis["chosen"] == record["chosen"] and analysis["verdict"]["min_wins"] == 1
    with pytest.raises(LensInputError, match=r"differ in \['validation_seeds'\]"):
        beyond.load_study(beyond.resolve_study({**TINY_STUDY, "validation_seeds": [1]}), out)


def test_an_interrupted_study_reuses_the_runs_it_finished(tmp_path, monkeypatch):
    study = beyond.resolve_study(TINY_STUDY)
    out = tmp_path / "study.json"
    real, calls = beyond.run_ratios, []

    def flaky(*a, **k):
        calls.append(a[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(beyond, "run_ratios", flaky)
    with pytest.raises(KeyboardInterrupt):
        beyond.run_study(study, "validation", out, progress=False)
    assert not out.exists() and len(out.with_name("study.json.partial.jsonl").read_text().splitlines()) == 2
    calls.clear()
    monkeypatch.setattr(beyond, "run_ratios", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    beyond.run_study(study, "validation", out, progress=False)
    assert calls == ["lens_downweight"]


def test_a_study_with_one_more_candidate_runs_only_that_candidate(tmp_path, monkeypatch):
    out = tmp_path / "study.json"
    beyond.run_study(beyond.resolve_study(TINY_STUDY), "validation", out, progress=False)
    more = {**TINY_STUDY, "candidates": TINY_STUDY["candidates"] + [{"label": "orth", "method": "lens_orthogonal", "config": {}}]}
    real, calls = beyond.run_ratios, []
    monkeypatch.setattr(beyond, "run_ratios", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    record = beyond.run_study(beyond.resolve_study(more), "validation", out, progress=False)
    assert calls == ["lens_orthogonal"]
    assert {r["candidate"] for r in record["validation"]["rows"]} == {"none", "lens", "down", "orth"}
    assert record["validation"]["provenance"]["seconds"] > 0


def test_diagnostics_describe_every_candidate_from_seed_pairs_only(tmp_path):
    study = beyond.resolve_study(TINY_STUDY)
    record = beyond.run_study(study, "diagnostics", tmp_path / "study.json", progress=False)
    assert record["validation"] is None and record["confirmation"] is None
    rows = record["diagnostics"]["rows"]
    assert [r["candidate"] for r in rows] == ["lens", "down"] and {r["ratio"] for r in rows} == {4}
    for r in rows:
        assert 0 <= r["two_sample_accuracy"] <= 1 and 0 <= r["label_agreement_synthetic"] <= 1 and r["nn_distance_ratio"] > 0


def test_spot_check_recomputes_two_runs_and_catches_a_stale_file(tmp_path):
    record = beyond.run_study(beyond.resolve_study(TINY_STUDY), "all", tmp_path / "study.json", progress=False)
    assert "equal to the file" in beyond.spot_check(record)
    for row in record["confirmation"]["rows"]:
        if row["candidate"] == "none":
            row["per_item"] = [v + 1.0 for v in row["per_item"]]
    with pytest.raises(LensInputError, match="stale"):
        beyond.spot_check(record)

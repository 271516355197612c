"""The open-question chapters' variant sets, numbers and sentences (no training needed)."""
import math

import numpy as np
import pandas as pd
import pytest

from lens_minimal.companion import questions
from lens_minimal.variants import variant_gains


def fake_runs(variants, seeds=(0, 1, 2), task="t", shift=None):
    """Per-item scores: 10 test items, variant v scores base + shift[v] (+ tiny seed noise)."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=10)
    rows = []
    for v in variants:
        for s in seeds:
            items = base + (shift or {}).get(v, 0.0) + 0.001 * s
            rows.append({"task": task, "variant": v, "seed": s, "per_item": items.tolist(), "bon_gold": items.mean(),
                         "pairwise_accuracy": 0.7, "steps": 10.0, "epochs": 2.0, "recon_heldout": 0.1 * (1 + s)})
    return pd.DataFrame(rows)


def test_weak_baseline_variants_and_pairs_name_the_same_cells():
    vs = questions.weak_baseline_variants("lens", 8, [1, 3])
    names = {v.name for v in vs}
    assert len(vs) == 6 and len(names) == 6
    for a, b in questions.weak_baseline_pairs("lens", 8, [1, 3]):
        assert a in names and b in names
    weak = next(v for v in vs if v.name == "weak E=3: lens@8")
    assert weak.ratio == 8 and weak.config["reward"] == {"dropout": 0.0, "weight_decay": 0.0, "max_epochs": 3,
                                                         "early_stopping": False}


def test_steps_variants_cap_and_pairs():
    vs = {v.name: v for v in questions.steps_question(["lens"], 8, [1, 8], [1], {"dropout": 0.0})(1000)}
    cap = questions.steps_per_epoch(1000)
    assert cap == math.ceil(900 / 64)
    assert vs["lens@8 capped E=8"].config["reward"]["max_steps_per_epoch"] == cap
    assert vs["lens@8 E=1"].config["reward"]["max_steps_per_epoch"] is None
    assert all(v.config["reward"]["dropout"] == 0.0 and not v.config["reward"]["early_stopping"] for v in vs.values())
    pairs = questions.steps_pairs(["lens"], 8, [1, 8], [1])
    assert pairs == [("lens@8 E=1", "none E=1"), ("lens@8 E=1", "none E=8"),
                     ("lens@8 capped E=1", "none E=1"), ("lens@8 capped E=8", "none E=8")]


def test_synthesis_variants_hold_the_default_once():
    vs = questions.synthesis_variants(8, [4, 16], [2, 4], [1, 2, 8], ["generate", "residual"])
    names = [v.name for v in vs]
    assert names == ["none", "lens@8", "latent=4", "no filter", "top-k=4", "ratio=2", "decode=residual"]
    nf = vs[names.index("no filter")]
    assert nf.config == {"synthesis": {"n_candidates": 1}}


def test_cells_gains_and_sentences_follow_the_numbers():
    runs = fake_runs(["tuned: none", "tuned: lens@8", "weak E=1: none", "weak E=1: lens@8"],
                     shift={"tuned: lens@8": -0.5, "weak E=1: none": -1.0, "weak E=1: lens@8": 0.0})
    gains = variant_gains(runs, questions.weak_baseline_pairs("lens", 8, [1]))
    d = questions.gains_dict(gains)["t"]
    assert d["tuned: lens@8 - tuned: none"]["gain"] == pytest.approx(-0.5)
    assert d["weak E=1: lens@8 - weak E=1: none"]["lo"] > 0
    text = questions.weak_baseline_sentences(gains, "lens", 8, [1])
    assert "clearly ahead of a weak baseline at E = 1" in text and "(lower)" in text
    c = questions.cells(runs, ["bon_gold"])
    assert len(c["t"]["tuned: none"]["bon_gold"]) == 3
    assert questions.primary_metrics(runs) == {"t": ("bon_gold", "Best-of-N gold reward")}
    per_seed = questions.per_seed_gains(runs, baseline="tuned: none")
    assert per_seed[per_seed.variant == "weak E=1: none"].gain.tolist() == pytest.approx([-1.0] * 3)


def test_interval_and_theory_sentences():
    iv = questions.interval([0.1, 0.12, 0.11])
    assert iv["n"] == 3 and iv["lo"] < 0.11 < iv["hi"]
    diff = questions.interval([0.2, 0.3, 0.25], [0.3, 0.4, 0.36])
    assert diff["mean"] == pytest.approx(-0.1033, abs=1e-3)
    text = questions.theory_sentences("w", 0.01, {"mean": 0.03, "lo": 0.01, "hi": 0.05, "n": 3}, "i", 16,
                                      {"mean": -0.1, "lo": -0.2, "hi": -0.05, "n": 3},
                                      {"mean": 0.0, "lo": -0.01, "hi": 0.01, "n": 3}, 0.1)
    assert "below the 10%" in text and "shrinks" in text and "does not clearly change" in text


def test_steps_kinds_and_sentences():
    assert questions.steps_kind("lens@8 E=1", "none E=1") == "equal epochs"
    assert questions.steps_kind("lens@8 E=1", "none E=8") == "equal steps (about)"
    assert questions.steps_kind("lens@8 capped E=4", "none E=4") == "equal steps, capped epochs"
    runs = fake_runs(["none E=1", "none E=8", "lens@8 E=1"], shift={"none E=1": -1.0})
    gains = variant_gains(runs, [("lens@8 E=1", "none E=1"), ("lens@8 E=1", "none E=8")])
    text = questions.steps_sentences(gains)
    assert "equal epochs: lens@8 E=1 minus none E=1: +1.000" in text and "(higher)" in text
    assert "equal steps (about): lens@8 E=1 minus none E=8: +0.000" in text


def test_sweep_sentences_name_the_clear_settings():
    runs = fake_runs(["none", "a", "b", "c"], shift={"a": 0.5, "b": -0.5, "c": 0.0})
    gains = variant_gains(runs, [("a", "none"), ("b", "none"), ("c", "none")])
    text = questions.sweep_sentences(gains)
    assert "of 3 settings, 1 is clearly above none (a) and 1 clearly below (b)" in text
    assert "Best: a, +0.500" in text and "worst: b, -0.500" in text

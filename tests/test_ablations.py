"""The ablation chapters' numbers, tables, figures and sentences (lens_minimal.companion.ablations)."""
import numpy as np
import pytest

from lens_minimal.companion import ablations, ledger
from lens_minimal.config import from_dict
from lens_minimal.datasets import load_task
from lens_minimal.experiment import ExperimentConfig, paired_gains, run_task_variants, sweep
from lens_minimal.latent_diagnostics import diagnose_augmenter

WORLD = {"dim": 24, "n_train": 120, "n_test_prompts": 12}
CFG = {"vae": {"epochs": 8}, "reward": {"max_epochs": 4}}


@pytest.fixture(scope="module")
def gamma_runs():
    task = load_task("synthetic", world=WORLD)
    return sweep(task, "vae.gamma", [0.0, 0.1, 1.0], [0, 1], from_dict(ExperimentConfig, CFG), diagnose=diagnose_augmenter)


@pytest.fixture(scope="module")
def size_runs():
    task = load_task("synthetic", world=WORLD)
    variants = {n: task.with_seed_pairs(n) for n in (40, 120)}
    return run_task_variants(variants, ["lens"], [1, 4], [0, 1], from_dict(ExperimentConfig, CFG))


def test_numbers_of_a_sweep_hold_cells_baseline_comparisons_and_diagnostics(gamma_runs):
    numbers = ablations.ablation_numbers(gamma_runs, "gamma", reference=0.1, diagnostics=["recon_error", "pair_w2"])
    tn = numbers["tasks"]["synthetic"]
    assert tn["metric"] == "bon_gold" and list(tn["cells"]) == ["0", "0.1", "1"]
    lens = gamma_runs[gamma_runs.method == "lens"].sort_values("seed")
    assert tn["cells"]["1"]["lens"]["bon_gold"] == lens[lens.value == 1.0].bon_gold.tolist()
    assert tn["baseline"]["bon_gold"] == gamma_runs[gamma_runs.method == "none"].sort_values("seed").bon_gold.tolist()
    c = ablations.find_comparison(tn, {"value": "1", "method": "lens"}, {"value": None, "method": "none"})
    base = gamma_runs[gamma_runs.method == "none"].set_index("seed").bon_gold
    assert c["gain"] == pytest.approx(np.mean([lens[(lens.value == 1.0) & (lens.seed == s)].bon_gold.item() - base[s]
                                               for s in (0, 1)]), abs=1e-6)
    vs_ref = ablations.find_comparison(tn, {"value": "0", "method": "lens"}, {"value": "0.1", "method": "lens"})
    assert vs_ref["n_seeds"] == 2 and vs_ref["lo"] <= vs_ref["gain"] <= vs_ref["hi"]
    assert len(tn["diagnostics"]["0.1"]["pair_w2"]) == 2
    with pytest.raises(KeyError):
        ablations.find_comparison(tn, {"value": "7", "method": "lens"}, {"value": None, "method": "none"})


def test_numbers_of_task_variants_compare_within_each_value(size_runs):
    numbers = ablations.ablation_numbers(size_runs, "seed_pairs", shared_baseline=False, picks=True)
    tn = numbers["tasks"]["synthetic"]
    assert "baseline" not in tn and set(tn["cells"]["40"]) == {"lens", "none"}
    assert tn["picks"]["40"]["bon_random"] == pytest.approx(size_runs.bon_random.iloc[0])
    table = ablations.ablation_table(numbers, "synthetic", "seed pairs")
    assert table.loc["40", "random / oracle pick"].count("/") == 1
    gains = paired_gains(size_runs, ("none", 1), within=("task", "value")).set_index("value")
    c = ablations.find_comparison(tn, {"value": "40", "method": "lens"}, {"value": "40", "method": "none"})
    assert c["gain"] == pytest.approx(gains.loc[40, "gain"])


def test_table_figure_and_sentences_come_from_the_numbers(gamma_runs, size_runs):
    numbers = ablations.ablation_numbers(gamma_runs, "gamma", reference=0.1, diagnostics=["recon_error"])
    table = ablations.ablation_table(numbers, "synthetic", "γ", reference=0.1)
    assert list(table.index) == ["0", "0.1", "1", "no augmentation"]
    assert table.loc["0.1", "minus LENS at 0.1"] == "(reference)" and "95% CI" in table.loc["1", "minus LENS at 0.1"]
    lines = ablations.verdict_lines(numbers, "γ", reference=0.1)
    assert lines[0].startswith("- **synthetic** (Best-of-N gold reward): LENS is clearly above no augmentation at")
    assert sum("minus γ = 0.1" in line for line in lines) == 2
    fig = ablations.plot_ablation(numbers, "γ")
    assert len(fig.axes) == 1 and fig.axes[0].get_xticklabels()[2].get_text() == "1"
    assert len(ablations.plot_diagnostics(numbers, "γ", ["recon_error"]).axes) == 1
    sizes = ablations.ablation_numbers(size_runs, "seed_pairs", shared_baseline=False)
    paper = ledger.load_ablations("seed_size")
    assert len(ablations.plot_ablation(sizes, "seed pairs", paper=paper).axes) == 2
    assert ablations.ablation_table(sizes, "synthetic", "seed pairs", paper=paper).loc["40", "paper (gold RM reward)"] == "-"
    ledger_lines = ablations.ledger_lines("ablation_gamma", numbers)
    assert [line.split("**")[1] for line in ledger_lines] == ["gamma-best", "gamma-large-collapses"]
    assert "not tested yet" in ledger_lines[1]                 # gamma 0.5 was not run here


def test_chapter_runners_and_the_collapse_sentence(gamma_runs):
    cfg = from_dict(ExperimentConfig, CFG)
    with pytest.raises(ablations.LensInputError, match="paper_best: 0.1 must be one of"):
        ablations.run_sweeps(["synthetic"], "vae.gamma", [0.0, 1.0], [0], cfg, reference=0.1, world=WORLD)
    numbers = ablations.ablation_numbers(gamma_runs, "gamma", reference=0.1,
                                         diagnostics=["effective_dims", "latent_norm"])
    words = ablations.collapse_words(numbers, "synthetic", 0.1, cfg)
    norm = np.mean(numbers["tasks"]["synthetic"]["diagnostics"]["0.1"]["latent_norm"])
    assert words["norm_at_best"] == f"{norm:.1f}" and words["noise_share"] == f"{100 * 0.4 / norm:.0f}%"
    runs, subsets = ablations.run_representations({"instructions": ["random_init"]}, [0], cfg, n_seed_pairs=60,
                                                  progress=False)
    assert set(runs.value) == {"random_init"} and set(runs.method) == {"none", "lens"}
    assert subsets == {"instructions / random_init": "first 100 of 200 test prompts"}
    timings = ablations.run_timings(runs, 1.0, 2.0)
    assert timings["cpu_seconds_kernel"] == 2.0 and set(timings["mean_seconds"]["seconds_fit"]) == {"none", "lens"}

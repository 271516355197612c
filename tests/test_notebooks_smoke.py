"""Every notebook, executed in the smoke profile, reproduces the committed reference results.

Numbers (`numbers`, `params`, `seeds` of each result file) must match `data/reference/smoke/`
within RTOL = ATOL = 0.02 (`lens_minimal.companion.book`): enough for float differences between CPUs and
library builds, far below the effects the book reports. Timings are never compared. After an
intended change, refresh the references with
`python -m lens_minimal.companion.book build --profile smoke --update-reference` and commit them.
"""
from __future__ import annotations

import time

import pytest

from lens_minimal.companion import book, results


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Execute all notebooks (in build order, the ledger last) into a temporary folder."""
    root = tmp_path_factory.mktemp("smoke")
    profiles = book.load_profiles()
    params = {name: book.resolve_parameters(name, "smoke", profiles) for name in profiles}
    seconds = {}
    for name in profiles:
        start = time.perf_counter()
        book.execute_notebook(name, params[name], root / "executed",
                              results_root=root / "results", figures_root=root / "figures")
        seconds[name] = time.perf_counter() - start
    return root, list(profiles), seconds


def test_every_notebook_matches_its_reference(smoke_run):
    root, names, seconds = smoke_run
    problems = []
    for name in names:
        got = results.load_results(name, "smoke", root=root / "results")
        reference = results.load_reference(name, "smoke")
        problems += [f"{name}: {p}" for p in results.compare_to_reference(got, reference, book.RTOL, book.ATOL)]
    assert not problems, "smoke results differ from data/reference/smoke/:\n" + "\n".join(problems)


def test_notebooks_write_their_figures_and_no_failed_output(smoke_run):
    root, names, _ = smoke_run
    assert sorted(p.name for p in (root / "figures").iterdir()) == sorted([
        "method_latent_space.svg", "method_synthetic_samples.svg", "table1_gold_vs_ratio.svg",
        "table1_text_rows_agreement.svg",
        "open_weak_baseline_gains.svg", "open_steps_vs_data.svg", "open_steps_vs_data_gains.svg",
        "open_synthesis_choices.svg", "open_synthesis_recon.svg", "diagnostics_synthetic_pairs.svg",
        "diagnostics_latent_space.svg", "theory_theorem1.svg", "theory_theorem2.svg",
        "ablation_gamma.svg", "ablation_gamma_latent.svg", "ablation_representation.svg", "ablation_seed_size.svg",
        "ablation_sigma2.svg", "beyond_gains.svg", "why_gains_forest.svg"])
    for svg in (root / "figures").iterdir():   # volatile metadata stripped
        text = svg.read_text()
        assert "<dc:date>" not in text and "Matplotlib v" not in text
    assert sorted(p.stem for p in (root / "executed").glob("*.ipynb")) == sorted(names)


def test_every_smoke_notebook_reports_its_time(smoke_run):
    """Times are a figure to read (the 3-minute smoke budget is checked by eye and printed by
    `make book PROFILE=smoke`), not an assertion: a timed test fails on a loaded machine."""
    _, names, seconds = smoke_run
    assert set(seconds) == set(names) and all(s > 0 for s in seconds.values())
    print(f"smoke notebooks: {sum(seconds.values()):.0f} s in all; " +
          ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))

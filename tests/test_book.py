"""The book's build machinery: parameter checks before running, source-notebook hygiene, HTML checks."""
from __future__ import annotations

import json

import nbformat
import pytest
import yaml

from lens_minimal import paths
from lens_minimal.companion import book
from lens_minimal.io import LensInputError


def test_every_source_notebook_is_clean_and_listed():
    profiles = book.load_profiles()
    on_disk = sorted(p.stem for p in paths.NOTEBOOKS_DIR.glob("*.ipynb"))
    assert sorted(profiles) == on_disk
    for name in profiles:
        book.check_source_notebook(book.notebook_path(name))   # one `parameters` cell, no outputs
        assert set(profiles[name]) >= {"default", "smoke"}
        for profile in profiles[name]:
            book.resolve_parameters(name, profile, profiles)   # names and types check out


def test_toc_lists_the_executed_notebooks_in_build_order():
    toc = yaml.safe_load((paths.REPO_ROOT / "_toc.yml").read_text())
    files = [c["file"] for c in toc["chapters"]]
    executed = [f.split("/")[-1] for f in files if f.startswith("book/executed/")]
    assert executed == list(book.load_profiles())
    for f in files:
        if not f.startswith("book/executed/"):
            assert (paths.REPO_ROOT / f"{f}.md").exists(), f


def test_config_executes_nothing_and_skips_sources():
    text = (paths.REPO_ROOT / "_config.yml").read_text()
    config = yaml.safe_load(text)
    assert config["execute"]["execute_notebooks"] == "off"        # the string, not the boolean False
    assert config["only_build_toc_files"] is True
    assert {"notebooks", ".venv", "_build", ".cache"} <= set(config["exclude_patterns"])
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon"} <= set(config["sphinx"]["extra_extensions"])


@pytest.fixture()
def profiles(tmp_path):
    return {"table1_main_results": {"smoke": {"seeds": [0, 1], "ratios": [1, 4]}}}


def test_unknown_parameter_stops_before_running(profiles):
    profiles["table1_main_results"]["smoke"]["sedes"] = [0]
    with pytest.raises(LensInputError, match=r"unknown parameter\(s\) \['sedes'\]"):
        book.resolve_parameters("table1_main_results", "smoke", profiles)


@pytest.mark.parametrize("key, value, match", [
    ("seeds", "0,1", "expected list"),
    ("seeds", [0, "1"], r"seeds\[1\]: expected int"),
    ("ratios", [], "must not be empty"),
    ("config", [1], "expected dict"),
])
def test_bad_values_stop_before_running(profiles, key, value, match):
    profiles["table1_main_results"]["smoke"][key] = value
    with pytest.raises(LensInputError, match=match):
        book.resolve_parameters("table1_main_results", "smoke", profiles)


def test_missing_profile_and_injected_names_are_refused(profiles, tmp_path):
    with pytest.raises(LensInputError, match="no profile 'gpu'"):
        book.resolve_parameters("table1_main_results", "gpu", profiles)
    bad = tmp_path / "profiles.yml"
    bad.write_text("table1_main_results:\n  smoke: {profile: default}\n")
    with pytest.raises(LensInputError, match="set by the build"):
        book.load_profiles(bad)


def test_source_notebook_checks(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("y = 2")]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(LensInputError, match="exactly one cell tagged 'parameters'"):
        book.check_source_notebook(path)
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nbformat.write(nb, str(path))
    with pytest.raises(LensInputError, match="cell 2 has outputs"):
        book.check_source_notebook(path)


def test_check_finds_broken_links_missing_anchors_and_empty_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "EXECUTED_DIR", tmp_path / "none")
    monkeypatch.setattr(book.results, "figures_dir", lambda root=None: tmp_path / "nofigures")
    monkeypatch.setattr(book, "_referenced_figures", lambda: {})
    html = tmp_path / "html"
    (html / "sub").mkdir(parents=True)
    (html / "index.html").write_text(
        '<a href="sub/page.html#here">ok</a><a href="sub/page.html#gone">x</a><a href="missing.html">x</a>'
        '<a href="https://example.org/nowhere">external</a><table><tr><td>1</td></tr></table>')
    (html / "sub" / "page.html").write_text('<h1 id="here">h</h1><a href="../index.html">up</a><table></table>')
    problems = book.check(html)
    assert any("missing.html" in p for p in problems)
    assert any("no anchor #gone" in p for p in problems)
    assert any("table 1 has no data cells" in p for p in problems)
    assert len(problems) == 3


def test_check_reports_unreferenced_and_missing_figures(tmp_path, monkeypatch):
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "orphan.svg").write_text("<svg/>")
    monkeypatch.setattr(book.results, "figures_dir", lambda root=None: figs)
    monkeypatch.setattr(book, "EXECUTED_DIR", tmp_path / "none")
    monkeypatch.setattr(book, "_referenced_figures", lambda: {figs / "gone.svg": "book/x.md"})
    monkeypatch.setattr(book.paths, "REPO_ROOT", tmp_path)
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "index.html").write_text("<p>no figures</p>")
    problems = book.check(tmp_path / "html")
    assert any("gone.svg does not exist" in p for p in problems)
    assert any("orphan.svg: figure is not referenced" in p for p in problems)


def test_executed_notebooks_record_their_profile(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"metadata": {"papermill": {"parameters": {"profile": "smoke"}}}, "cells": []}))
    assert book.executed_profile(path) == "smoke"


def test_a_failing_notebook_leaves_no_output_only_a_failed_copy(tmp_path, monkeypatch):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError(f'boom {x}')")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(src / "fails.ipynb"))
    monkeypatch.setattr(book.paths, "NOTEBOOKS_DIR", src)
    monkeypatch.setattr(book, "FAILED_DIR", tmp_path / "failed")
    out = tmp_path / "out"
    with pytest.raises(LensInputError, match="notebook fails failed in cell .*ValueError: boom 2"):
        book.execute_notebook("fails", {"x": 2}, out)
    assert list(out.iterdir()) == []                                # nothing partial where the book looks
    assert (tmp_path / "failed" / "fails.ipynb").exists()          # the error output, for inspection


@pytest.mark.parametrize("profile", ["default", "smoke"])
def test_references_exist_and_match_the_profile_parameters(profile):
    """Editing profiles.yml without refreshing data/reference/<profile>/ fails here, before any run."""
    from lens_minimal.companion import results

    for name, per_profile in book.load_profiles().items():
        reference = results.load_reference(name, profile)
        for key, value in per_profile[profile].items():
            used = reference["seeds"] if key == "seeds" else reference["params"][key]   # seeds are stored apart
            assert used == value, (
                f"{name}.{profile}.{key}: profiles.yml has {value!r}, the reference was made with {used!r}; "
                f"run `python -m lens_minimal.companion.book build --profile {profile} --update-reference`")

"""The book's build machinery: parameter checks before running, source-notebook hygiene, HTML checks."""
from __future__ import annotations

import ast
import json
from pathlib import Path

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
    out = tmp_path / "out"
    with pytest.raises(LensInputError, match="notebook fails failed in cell .*ValueError: boom 2"):
        book.execute_notebook("fails", {"x": 2}, out)
    assert list(out.iterdir()) == []                                # nothing partial where the book looks
    assert (tmp_path / "_failed" / "fails.ipynb").exists()         # the error output, for inspection


def test_a_kernel_that_dies_while_starting_is_started_again_other_errors_are_not_retried(tmp_path, monkeypatch):
    src = tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(src / "n.ipynb"))
    monkeypatch.setattr(book.paths, "NOTEBOOKS_DIR", src)
    calls = []

    def flaky(source, target, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        nbformat.write(nbformat.v4.new_notebook(), target)

    monkeypatch.setattr(book.papermill, "execute_notebook", flaky)
    book.execute_notebook("n", {}, tmp_path / "out")
    assert len(calls) == 2 and (tmp_path / "out" / "n.ipynb").exists()

    def broken(source, target, **kwargs):
        calls.append(1)
        raise RuntimeError("something else")

    monkeypatch.setattr(book.papermill, "execute_notebook", broken)
    with pytest.raises(RuntimeError, match="something else"):
        book.execute_notebook("n", {}, tmp_path / "out2")
    assert len(calls) == 3


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


# --- the front door: offline rendering, thin notebooks, progress, parallel execution -----------------

def test_check_fails_on_any_asset_from_another_host(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "EXECUTED_DIR", tmp_path / "none")
    monkeypatch.setattr(book.results, "figures_dir", lambda root=None: tmp_path / "nofigures")
    monkeypatch.setattr(book, "_referenced_figures", lambda: {})
    html = tmp_path / "html"
    (html / "_static").mkdir(parents=True)
    (html / "_static" / "local.js").write_text("")
    (html / "_static" / "fine.css").write_text('@import "other.css"; a {background: url(data:image/png;base64,AA)}')
    (html / "_static" / "other.css").write_text("b {}")
    (html / "_static" / "fonts.css").write_text('@import url("https://fonts.example.org/css2?family=X");')
    (html / "index.html").write_text(
        '<script src="_static/local.js"></script><link rel="stylesheet" href="_static/fine.css">'
        '<a href="https://example.org/paper">a link to read elsewhere is fine</a>')
    assert book.check(html) == []
    (html / "math.html").write_text(
        '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<link rel="stylesheet" href="//cdn.example.org/theme.css"><link rel="stylesheet" href="_static/fonts.css">'
        '<img src="http://example.org/badge.png">')
    problems = book.check(html)
    assert len(problems) == 4, problems
    assert any("math.html: loads 'https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js'" in p for p in problems)
    assert any("'//cdn.example.org/theme.css'" in p for p in problems)
    assert any("_static/fonts.css: imports 'https://fonts.example.org/css2?family=X'" in p for p in problems)
    assert any("badge.png" in p for p in problems)


def test_math_is_served_from_the_build():
    import importlib

    config = yaml.safe_load((paths.REPO_ROOT / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    ext = importlib.import_module("sphinx-mathjax-offline")
    assert (paths.REPO_ROOT / "requirements.txt").read_text().count("sphinx-mathjax-offline==") == 1
    static = Path(ext.__file__).parent / "static" / "mathjax"
    assert (static / "tex-chtml.js").exists() and (static / "output" / "chtml" / "fonts").is_dir()


def test_source_notebooks_only_call():
    """Parameters, calls, plots, glue and prose: no function, class or lambda; no code cell over 15
    lines (the parameters cell excepted: one line per parameter)."""
    for path in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for i, cell in enumerate(nb.cells, 1):
            if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
                continue
            tree = ast.parse(cell.source)
            defined = [type(n).__name__ for n in ast.walk(tree)
                       if type(n).__name__ in ("FunctionDef", "AsyncFunctionDef", "ClassDef", "Lambda")]
            assert not defined, f"{path.name} cell {i} defines {defined}: move it into lens_minimal/companion/"
            assert len(cell.source.splitlines()) <= 15, f"{path.name} cell {i} has {len(cell.source.splitlines())} lines"


def test_stderr_relay_prefixes_lines_and_thins_out_progress_bars():
    import io

    out = io.StringIO()
    relay = book.StderrRelay("table1", out, interval=3600)
    relay.write("loading the model\nhalf a li")
    relay.write("ne\n")
    relay.write("\rgrid:   0%| 0/4")                   # first bar state: passed on
    relay.write("\rgrid:  25%| 1/4\rgrid:  50%| 2/4")  # within the interval: held back
    relay.write("\rgrid: 100%| 4/4\n")                  # the line ends: its last state is passed on
    relay.write("/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter\n")
    relay.write("no newline at the end")
    relay.close()
    assert out.getvalue().splitlines() == [
        "[table1] loading the model", "[table1] half a line", "[table1] grid:   0%| 0/4",
        "[table1] grid: 100%| 4/4", "[table1] no newline at the end"]


def test_schedule_runs_the_ledger_after_everything_else_in_book_order():
    names = list(book.load_profiles())
    waves = book.schedule(names)
    last = [n for n in names if n in book.RUN_LAST]
    assert "claims_ledger" in last and waves[-1] == last
    assert sum(waves, []) == [n for n in names if n not in book.RUN_LAST] + last
    assert book.schedule(["table2_efficiency", "method_walkthrough"]) == [["table2_efficiency", "method_walkthrough"]]
    assert book.schedule(["claims_ledger"]) == [["claims_ledger"]]


def _timed_notebook(folder, name, fail=False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell('log = ""\nseconds = 0.0'),
                nbformat.v4.new_code_cell(
                    "import json, sys, time\nstart = time.time()\nprint('working', file=sys.stderr)\n"
                    "time.sleep(seconds)\n" + ("raise ValueError('boom')\n" if fail else "") +
                    f"open(f'{{log}}/{name}.json', 'w').write(json.dumps([start, time.time()]))")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


@pytest.mark.slow
def test_independent_notebooks_run_in_parallel_and_a_failure_is_raised_after_the_others_finish(tmp_path, capfd):
    src, log, out = tmp_path / "src", tmp_path / "log", tmp_path / "out"
    src.mkdir(), log.mkdir()
    for name in ("a", "b"):
        _timed_notebook(src, name)
    _timed_notebook(src, "bad", fail=True)
    params = {"a": {"log": str(log), "seconds": 6.0}, "b": {"log": str(log), "seconds": 6.0},
              "bad": {"log": str(log), "seconds": 0.0}}
    done = []
    with pytest.raises(LensInputError, match="notebook bad failed .*ValueError: boom"):
        for name, _ in book.execute_many(["a", "bad", "b"], params, workers=3, out_dir=out, source_dir=src):
            done.append(name)
    assert sorted(done) == ["a", "b"] and sorted(p.name for p in out.glob("*.ipynb")) == ["a.ipynb", "b.ipynb"]
    assert (tmp_path / "_failed" / "bad.ipynb").exists()           # the failed one: kept for inspection only
    (a0, a1), (b0, b1) = (json.loads((log / f"{n}.json").read_text()) for n in ("a", "b"))
    assert b0 < a1 and a0 < b1, "the two notebooks did not overlap"
    err = capfd.readouterr().err
    assert "[a] working" in err and "[b] working" in err          # the kernels' stderr, relayed and named


def test_table1_shows_the_text_space_cells_the_text_rows_chapter_shows():
    """Table 1's text-space cells and the text-rows chapter read the same cache entries in every profile."""
    profiles = book.load_profiles()
    for profile, params in profiles["table1_main_results"].items():
        text = profiles["table1_text_rows"][profile]
        assert params.get("text_cells", {}) == {k: text[k] for k in ("judge_mlp", "reward_lm") if k in text}, profile

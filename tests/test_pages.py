"""Pages the build writes from its own results: the introduction's headline and the execution status page."""
from __future__ import annotations

import json

import pytest
import yaml

from lens_minimal import paths
from lens_minimal.companion import ledger, pages, results
from lens_minimal.io import LensInputError


def test_the_intro_includes_the_headline_and_the_toc_lists_the_status_page():
    intro = (paths.BOOK_DIR / "intro.md").read_text()
    first_screen = intro[:intro.index("## ")]                  # before the first section
    assert "```{include} _generated/headline.md" in first_screen
    toc = yaml.safe_load((paths.REPO_ROOT / "_toc.yml").read_text())
    assert {"file": "book/status"} in toc["chapters"]
    assert "```{include} _generated/status.md" in (paths.BOOK_DIR / "status.md").read_text()


def test_headline_claims_are_labelled_in_the_claims_file():
    claims = ledger.load_claims()
    labelled = [c.id for c in claims if c.headline]
    assert {"lens-8x-hh", "lens-8x-tldr", "generation-time", "generator-parameters"} <= set(labelled)
    assert all(len(c.headline) <= 60 for c in claims)          # short labels: the headline fits a screen


def test_a_headline_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "claims.yml"
    path.write_text("claims:\n  - {id: a, section: s, kind: claim, text: t, paper: p, tested_by: not tested yet, headline: true}\n")
    with pytest.raises(LensInputError, match="headline must be a short label"):
        ledger.load_claims(path)


def _claim(cid, headline="", **kw):
    return ledger.Claim(cid, "s", "claim", f"text of {cid}", kw.pop("paper", "1 vs 2"), "x", headline=headline)


def test_headline_counts_every_verdict_and_shows_only_the_headline_claims():
    judged = [ledger.Judgement(_claim("a", "A wins"), "0.61 vs 0.60 (diff +0.01)", "not reproduced"),
              ledger.Judgement(_claim("b", "B is | faster"), "166x", "reproduced"),
              ledger.Judgement(_claim("c"), "12x", "reproduced"),
              ledger.Judgement(_claim("d"), "-", ledger.NOT_TESTED)]
    text = pages.headline_markdown(judged, "default", "0123456789abcdef+dirty")
    assert text.startswith(":::{admonition} Headline result of this build (default profile, commit `0123456789ab+dirty`)")
    assert ("Our runs test 3 claims and give 3 verdicts: **2 reproduced**, 0 partly and **1 not reproduced**; "
            "1 more claim is not tested yet") in text
    twice = judged + [ledger.Judgement(_claim("a", "A wins"), "0.70 vs 0.71", "not reproduced")]   # a second stand-in
    assert ("Our runs test 3 claims and give 4 verdicts (a claim about a dataset with two stand-ins gets one verdict "
            "on each): **2 reproduced**, 0 partly and **2 not reproduced**") in pages.headline_markdown(twice, "default", "abc")
    assert "| A wins | 1 vs 2 | 0.61 vs 0.60 (diff +0.01) | **not reproduced** |" in text
    assert "| B is \\| faster | 1 vs 2 | 166x | **reproduced** |" in text
    assert "text of c" not in text and "[claims ledger](executed/claims_ledger.ipynb)" in text
    assert text.rstrip().endswith(":::") and "smoke" not in text
    assert "say nothing about the paper" in pages.headline_markdown(judged, "smoke", "abc")
    half = judged + [ledger.Judgement(_claim("a", "A wins"), "no pool here", ledger.NOT_TESTED)]   # one stand-in not run
    text = pages.headline_markdown(half, "default", "abc")
    assert "Our runs test 3 claims and give 3 verdicts" in text and "1 more claim is not tested yet" in text
    assert "no pool here" not in text                         # the untested stand-in of a tested claim is left out


def test_status_rows_say_profile_time_commit_and_reference_check():
    record = {"git_commit": "0123456789abcdef0123"}
    rows = [pages.status_record("table1_main_results", "smoke", 75.4, record, []),
            pages.status_record("table2_efficiency", "smoke", 12.25, record, ["numbers.x: 1 != reference 2", "y"]),
            pages.status_record("method_walkthrough", "mine", 3.0, {"git_commit": "feedbeef" * 5 + "+dirty"}, None)]
    assert rows[0]["reference"] == "matches" and rows[1]["reference"] == "2 difference(s)"
    assert rows[2]["reference"] == "no reference"
    text = pages.status_markdown(rows + [{"name": "claims_ledger", "profile": "-", "seconds": None, "commit": "-",
                                          "reference": "not executed", "first_difference": "", "finished": "-"}],
                                 {"table1_main_results": "Table 1: main results"})
    lines = text.splitlines()
    assert lines[0] == "| Chapter | Profile | Wall time | Commit | Reference check |"
    assert lines[2] == "| [Table 1: main results](executed/table1_main_results.ipynb) | smoke | 1\u00a0min\u00a015\u00a0s | `0123456789ab` | matches |"
    assert "| 12.2\u00a0s | `0123456789ab` | **2 difference(s)**: numbers.x: 1 != reference 2 |" in lines[3]
    assert "`feedbeeffeed+dirty` | no reference for this profile |" in lines[4]
    assert lines[5].startswith("| [claims_ledger](executed/claims_ledger.ipynb) | - | - | `-` | **not executed** |")
    assert "notebook time in all: 1\u00a0min\u00a031\u00a0s." in lines[-1]


def test_status_files_round_trip_and_missing_ones_read_as_not_executed(tmp_path):
    pages.write_status(pages.status_record("a", "smoke", 1.0, None, []), tmp_path)
    got = pages.read_statuses(["a", "b"], tmp_path)
    assert got[0]["name"] == "a" and got[0]["commit"] == "unknown" and got[0]["reference"] == "matches"
    assert got[1]["reference"] == "not executed" and got[1]["seconds"] is None


def test_notebook_title_is_the_first_heading(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "# not a title"},
                                          {"cell_type": "markdown", "source": ["Intro\n", "# Table 9: things\n"]}]}))
    assert pages.notebook_title(path) == "Table 9: things"
    path.write_text(json.dumps({"cells": []}))
    assert pages.notebook_title(path) == "n"


def test_write_all_judges_the_claims_from_the_result_files(tmp_path):
    """End to end: result files of a profile -> headline.md, status.md, lens_help.txt."""
    root = tmp_path / "results"
    cells = {"toy": {"none": {"1": {"bon_gold": [0.5, 0.6, 0.7]}}, "lens": {"8": {"bon_gold": [0.4, 0.5, 0.6]}}}}
    results.save_results("table1_main_results", {"cells": cells, "references": {}}, {}, [0, 1, 2], "p", root=root)
    results.save_results("table2_efficiency", {"factors": {"generator_parameters": 20000.0}, "vae_params_d4096": 531616},
                         {}, [0], "p", timings={"factors": {"generation_time": 3.0, "total_runtime": 2.0}}, root=root)
    results.save_results("claims_ledger", {"verdicts": {}}, {"task_for": {"hh": "toy"}}, [], "p", root=root)
    executed = tmp_path / "executed"
    executed.mkdir()
    (executed / "table1_main_results.ipynb").write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": "# T1"}]}))
    pages.write_status(pages.status_record("table1_main_results", "p", 9.0, None, []), executed)
    out = tmp_path / "generated"
    written = pages.write_all("p", ["table1_main_results", "claims_ledger"], executed, out_dir=out, results_root=root)
    assert sorted(p.name for p in written) == ["headline.md", "lens_help.txt", "status.md"]
    headline = (out / "headline.md").read_text()
    assert "| LENS at 8x beats the seed pairs alone (HH-RLHF) | 2.20 vs 1.43 | toy (gold): 0.500 vs 0.600 (diff -0.100" in headline
    assert "**not reproduced** |" in headline
    assert "| The latent generator is far smaller | 8B vs 0.5M (16,000x) | 20,000x | **reproduced** |" in headline
    assert "| Latent synthesis is faster than text synthesis | 3.6 h vs 0.2 h (18x) | 3.0x | **partly** |" in headline
    assert "| LENS at 8x beats the seed pairs alone (TL;DR) | 1.48 vs 0.78 | no task stands in for TL;DR here |" in headline
    status = (out / "status.md").read_text()
    assert "[T1](executed/table1_main_results.ipynb) | p |" in status and "**not executed**" in status
    assert (out / "lens_help.txt").read_text().startswith("$ lens --help")


def test_write_all_names_a_missing_result_file(tmp_path):
    with pytest.raises(LensInputError, match="cannot write the introduction's headline: .*result file not found"):
        pages.write_all("p", [], tmp_path, out_dir=tmp_path / "g", results_root=tmp_path / "none")
    assert not (tmp_path / "g").exists()

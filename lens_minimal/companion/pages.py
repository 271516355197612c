"""Text the build writes for the book to include, from the results of the build itself.

- `book/_generated/headline.md`: the headline of the introduction: the verdicts of the claims
  with a `headline` label in `data/paper/claims.yml`, with the paper's numbers and ours, judged by
  `ledger.judge` from the result files exactly as the claims ledger chapter judges them;
- `book/_generated/status.md`: the execution status page: every notebook, its profile, wall time,
  commit and whether its numbers matched the committed reference (one status file per notebook,
  written by the build when the notebook finishes: `book/executed/<name>.status.json`);
- `book/_generated/lens_help.txt`: `lens --help` and the help of every subcommand.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import paths
from ..io import LensInputError, atomic_path, write_json
from . import ledger, results

GENERATED_DIR = paths.BOOK_DIR / "_generated"
LEDGER = "claims_ledger"          # the chapter whose parameters say which task stands in for which dataset


# --- the execution status page ------------------------------------------------------------------------

def status_record(name: str, profile: str, seconds: float, record: Mapping[str, Any] | None,
                  problems: Sequence[str] | None) -> dict[str, Any]:
    """What the status page shows of one executed notebook.

    `record` is its result file (None if it wrote none); `problems` the differences from the
    committed reference (None: there is no reference for this profile).
    """
    if problems is None:
        reference = "no reference"
    else:
        reference = "matches" if not problems else f"{len(problems)} difference(s)"
    return {"name": name, "profile": profile, "seconds": round(float(seconds), 1),
            "commit": (record or {}).get("git_commit", "unknown"), "reference": reference,
            "first_difference": problems[0] if problems else "",
            "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_status(status: Mapping[str, Any], executed_dir: str | Path) -> Path:
    """Store one notebook's status beside its executed copy, atomically."""
    path = Path(executed_dir) / f"{status['name']}.status.json"
    write_json(path, dict(status))
    return path


def read_statuses(names: Sequence[str], executed_dir: str | Path) -> list[dict[str, Any]]:
    """The status of every notebook in `names` (book order); a notebook never executed gets a stub."""
    out = []
    for name in names:
        path = Path(executed_dir) / f"{name}.status.json"
        out.append(json.loads(path.read_text()) if path.exists() else
                   {"name": name, "profile": "-", "seconds": None, "commit": "-", "reference": "not executed",
                    "first_difference": "", "finished": "-"})
    return out


def status_markdown(statuses: Sequence[Mapping[str, Any]], titles: Mapping[str, str] | None = None) -> str:
    """The status table (MyST), one row per notebook; the chapter names link to their pages."""
    titles = titles or {}
    lines = ["| Chapter | Profile | Wall time | Commit | Reference check |", "|---|---|---|---|---|"]
    for s in statuses:
        chapter = f"[{titles.get(s['name'], s['name'])}](executed/{s['name']}.ipynb)"
        seconds = "-" if s["seconds"] is None else _duration(s["seconds"])
        check = {"matches": "matches", "no reference": "no reference for this profile"}.get(s["reference"])
        if check is None:
            check = f"**{s['reference']}**" + (f": {s['first_difference']}" if s["first_difference"] else "")
        cells = [chapter, s["profile"], seconds, f"`{_short_commit(str(s['commit']))}`", check]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    total = sum(s["seconds"] for s in statuses if s["seconds"] is not None)
    finished = sorted(s["finished"] for s in statuses if s["finished"] != "-")
    when = f"Last notebook finished {finished[-1]}; n" if finished else "N"
    lines += ["", f"{when}otebook time in all: {_duration(total)}."]
    return "\n".join(lines)


def _short_commit(commit: str) -> str:
    """'483aba37daa1' or '483aba37daa1+dirty'."""
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


def _duration(seconds: float) -> str:
    """'42.0 s' or '7 min 03 s' (non-breaking spaces: one line in a table cell)."""
    if seconds < 60:
        return f"{seconds:.1f}\u00a0s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}\u00a0min\u00a0{rest:02d}\u00a0s"


def notebook_title(path: str | Path) -> str:
    """The first `# ` heading of a notebook's markdown cells (the chapter title), else its file name."""
    nb = json.loads(Path(path).read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return Path(path).stem


# --- the headline of the introduction -----------------------------------------------------------------

def headline_markdown(judgements: Sequence[ledger.Judgement], profile: str, commit: str,
                      ledger_link: str = "executed/claims_ledger.ipynb") -> str:
    """The introduction's headline: verdict counts, then the headline claims with both numbers."""
    counts = ledger.verdict_counts(judgements)
    tested = len(judgements) - counts[ledger.NOT_TESTED]
    lines = [f":::{{admonition}} Headline result of this build ({profile} profile, commit `{_short_commit(commit)}`)",
             ":class: tip", ""]
    if profile != "default":
        lines += [f"*The {profile} profile checks the machinery on small or synthetic data: its numbers say "
                  "nothing about the paper. `make book` builds the default profile.*", ""]
    tested_ids = {j.claim.id for j in judgements if j.verdict != ledger.NOT_TESTED}
    claims_tested = len(tested_ids)
    claims_untested = len({j.claim.id for j in judgements} - tested_ids)   # no verdict on any of its stand-ins
    twice = " (a claim about a dataset with two stand-ins gets one verdict on each)" if tested > claims_tested else ""
    lines += [f"Our runs test {claims_tested} claims and give {tested} verdicts{twice}: "
              f"**{counts['reproduced']} reproduced**, {counts['partly']} partly and **{counts['not reproduced']} not "
              f"reproduced**; {claims_untested} more claim{'s are' if claims_untested != 1 else ' is'} not tested yet. "
              "The paper's main claims:", "",
              "| Claim | Paper | Ours | Verdict |", "|---|---|---|---|"]
    for j in judgements:   # a stand-in not tested is left out where another stand-in of the claim was tested
        if j.claim.headline and (j.verdict != ledger.NOT_TESTED or j.claim.id not in tested_ids):
            cells = [j.claim.headline, j.claim.paper, j.ours, f"**{j.verdict}**"]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", f"Every claim, with the test that judges it: the [claims ledger]({ledger_link}).", ":::"]
    return "\n".join(lines)


def judge_from_results(profile: str, root: str | Path | None = None) -> tuple[list[ledger.Judgement], str]:
    """Judge every claim from the result files of `profile`, with the stand-in tasks the ledger
    chapter ran with (its recorded `task_for`); returns (judgements, the ledger's commit).
    A claim whose chapter left no result file in this build (e.g. a build of a few chapters with
    `--only`) is shown as not tested, naming the missing chapter; the ledger's own file must exist.
    """
    claims = ledger.load_claims()
    records = {LEDGER: results.load_results(LEDGER, profile, root=root)}
    for name in ledger.needed_results(claims):
        if (results.results_dir(profile, root) / f"{name}.json").is_file():
            records[name] = results.load_results(name, profile, root=root)
    task_for = records[LEDGER]["params"].get("task_for")
    judged = ledger.judge_all([c for c in claims if c.tested_by in records or c.tested_by == ledger.NOT_TESTED
                               or c.kind != "claim"], records, task_for)
    judged += [ledger.Judgement(c, f"no result file of {c.tested_by} in this build", ledger.NOT_TESTED)
               for c in claims if c.kind == "claim" and c.tested_by not in records and c.tested_by != ledger.NOT_TESTED]
    return judged, records[LEDGER].get("git_commit", "unknown")


# --- the command line's help --------------------------------------------------------------------------

def cli_help() -> str:
    """`lens --help` followed by `lens <command> --help` for every subcommand, 100 columns wide."""
    from ..cli import build_parser   # the `lens` entry point's parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = build_parser()
        parts = [f"$ lens --help\n{parser.format_help()}"]
        for action in parser._actions:   # argparse keeps subcommands in a _SubParsersAction
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    parts.append(f"$ lens {name} --help\n{sub.format_help()}")
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(parts)


# --- writing them -------------------------------------------------------------------------------------

def write_all(profile: str, names: Sequence[str], executed_dir: str | Path, *,
              out_dir: str | Path | None = None, results_root: str | Path | None = None) -> list[Path]:
    """Write headline.md, status.md and lens_help.txt into `out_dir` (default `book/_generated`)."""
    out_dir = Path(out_dir or GENERATED_DIR)
    executed_dir = Path(executed_dir)
    titles = {n: notebook_title(executed_dir / f"{n}.ipynb") for n in names if (executed_dir / f"{n}.ipynb").exists()}
    try:
        judgements, commit = judge_from_results(profile, results_root)
        headline = headline_markdown(judgements, profile, commit)
    except LensInputError as err:
        raise LensInputError(f"cannot write the introduction's headline: {err}") from None
    texts = {"headline.md": headline + "\n",
             "status.md": status_markdown(read_statuses(names, executed_dir), titles) + "\n",
             "lens_help.txt": cli_help()}
    written = []
    for file_name, text in texts.items():
        with atomic_path(out_dir / file_name) as tmp:
            tmp.write_text(text)
        written.append(out_dir / file_name)
    return written

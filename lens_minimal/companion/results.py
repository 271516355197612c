"""Result files: every number the book shows is written here by the notebook that computes it.

A result file `book/results/<profile>/<name>.json` holds

- `numbers`:  the notebook's numbers (nested dicts of floats/ints/strings), compared with the
  committed reference in `data/reference/<profile>/<name>.json` within a tolerance;
- `timings`:  machine-dependent numbers (seconds), kept but never compared;
- `params`, `seeds`, `profile`: what produced them (compared exactly);
- `versions`, `git_commit`: provenance (never compared).

Files are written atomically with sorted keys, so a rerun that gives the same numbers gives the
same file apart from provenance.
"""
from __future__ import annotations

import importlib.metadata
import json
import math
import platform
import re
import subprocess
from pathlib import Path
from typing import Any, Mapping

import matplotlib

from .. import paths
from ..io import LensInputError, atomic_path, write_json

PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")   # profiles are named in notebooks/profiles.yml
# packages whose versions are recorded with every result
_VERSIONED = ("lens-minimal", "torch", "numpy", "scipy", "pandas", "transformers", "matplotlib", "papermill", "myst-nb")


def results_dir(profile: str, root: str | Path | None = None) -> Path:
    """Folder of the result files of `profile` (under `root`, default `book/results`)."""
    _check_profile(profile)
    return Path(root if root is not None else paths.RESULTS_DIR) / profile


def reference_dir(profile: str) -> Path:
    """Folder of the committed reference results of `profile`."""
    _check_profile(profile)
    return paths.REFERENCE_DIR / profile


def save_results(
    name: str,
    numbers: Mapping[str, Any],
    params: Mapping[str, Any],
    seeds: list[int],
    profile: str,
    *,
    timings: Mapping[str, Any] | None = None,
    root: str | Path | None = None,
) -> Path:
    """Write `<root>/<profile>/<name>.json` atomically and return its path.

    `numbers` are compared with the reference; `timings` (seconds, machine-dependent) are not.
    """
    if not name or "/" in name:
        raise LensInputError(f"save_results: bad result name {name!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise LensInputError(f"save_results: seeds must be a list of ints, got {seeds!r}")
    record = {
        "name": name,
        "profile": profile,
        "numbers": _plain(numbers, "numbers"),
        "timings": _plain(timings or {}, "timings"),
        "params": _plain(params, "params"),
        "seeds": list(seeds),
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    path = results_dir(profile, root) / f"{name}.json"
    write_json(path, record)
    return path


def load_results(name: str, profile: str, *, root: str | Path | None = None) -> dict:
    """Read a result file written by `save_results`; a missing file names the notebook to run."""
    path = results_dir(profile, root) / f"{name}.json"
    return read_result_file(path, hint=f"run `python -m lens_minimal.companion.book build --profile {profile} --only {name}`")


def load_reference(name: str, profile: str) -> dict:
    """Read the committed reference result of `name` in `profile`."""
    path = reference_dir(profile) / f"{name}.json"
    return read_result_file(path, hint=f"refresh with `python -m lens_minimal.companion.book build --profile {profile} --update-reference`")


def read_result_file(path: str | Path, hint: str = "") -> dict:
    """Read and check one result file."""
    path = Path(path)
    if not path.exists():
        raise LensInputError(f"{path}: result file not found" + (f"; {hint}" if hint else ""))
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise LensInputError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    missing = [k for k in ("name", "profile", "numbers", "params", "seeds") if k not in record]
    if missing:
        raise LensInputError(f"{path}: not a result file, missing field(s) {missing}")
    return record


def write_reference(record: Mapping[str, Any], profile: str) -> Path:
    """Store `record` as the reference of its notebook, dropping provenance and timings."""
    kept = {k: record[k] for k in ("name", "profile", "numbers", "params", "seeds")}
    path = reference_dir(profile) / f"{record['name']}.json"
    write_json(path, kept)
    return path


def compare_to_reference(
    results: Mapping[str, Any], reference: Mapping[str, Any], rtol: float = 1e-6, atol: float = 0.0
) -> list[str]:
    """Mismatches between a result and its reference, one readable line each (empty: they agree).

    `numbers` must have the same keys, and floats agree within `atol + rtol * |reference|`;
    `params`, `seeds` and non-float values must be equal. Timings and provenance are ignored.
    """
    problems: list[str] = []
    for section in ("params", "seeds"):
        if results.get(section) != reference.get(section):
            problems.append(f"{section}: {results.get(section)!r} != reference {reference.get(section)!r}")
    problems += tree_differences(results.get("numbers", {}), reference.get("numbers", {}), "numbers", rtol=rtol, atol=atol)
    return problems


REFERENCE_WORDS = {"missing": "{where}: missing (reference has {want!r})", "extra": "{where}: not in the reference (got {got!r})",
                   "differs": "{where}: {got!r} != reference {want!r}", "length": "{where}: length {n_got} != reference length {n_want}"}


def tree_differences(got: Any, want: Any, where: str, *, rtol: float = 0.0, atol: float = 0.0,
                     words: Mapping[str, str] = REFERENCE_WORDS, elementwise: bool = True) -> list[str]:
    """Every place where two JSON-like trees differ, one sentence each (`words`: the templates for a key
    missing from `got`, a key only in `got`, a differing leaf, a list length). Floats match within
    atol + rtol * |want| (NaN matches NaN); other leaves must be equal. Lists are compared element by
    element, or (`elementwise=False`) as one leaf."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(want) | set(got)):
            at = f"{where}.{key}"
            if key not in got:
                out.append(words["missing"].format(where=at, want=want[key]))
            elif key not in want:
                out.append(words["extra"].format(where=at, got=got[key]))
            else:
                out += tree_differences(got[key], want[key], at, rtol=rtol, atol=atol, words=words, elementwise=elementwise)
        return out
    if elementwise and isinstance(want, list) and isinstance(got, list):
        out = [] if len(want) == len(got) else [words["length"].format(where=where, n_got=len(got), n_want=len(want))]
        for i, (g, w) in enumerate(zip(got, want)):
            out += tree_differences(g, w, f"{where}[{i}]", rtol=rtol, atol=atol, words=words)
        return out
    if _is_number(want) and _is_number(got) and (isinstance(want, float) or isinstance(got, float)):
        if (math.isnan(want) and math.isnan(got)) or abs(got - want) <= atol + rtol * abs(want):
            return []
        tolerance = f" (atol={atol}, rtol={rtol})" if rtol or atol else ""
        return [words["differs"].format(where=where, got=got, want=want) + tolerance]
    return [] if got == want else [words["differs"].format(where=where, got=got, want=want)]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _plain(obj: Any, where: str) -> Any:
    """Convert numpy/torch scalars and tuples to plain JSON types; reject anything else."""
    if isinstance(obj, Mapping):
        for k in obj:
            if not isinstance(k, str):
                raise LensInputError(f"{where}: keys must be strings, got {k!r}")
        return {k: _plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:  # numpy / torch scalar
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise LensInputError(f"{where}: cannot store a {type(obj).__name__} in a result file")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the numbers."""
    versions = {"python": platform.python_version()}
    for pkg in _VERSIONED:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions


def git_commit() -> str:
    """The repository's HEAD commit, with `+dirty` if tracked files changed; `unknown` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=paths.REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


# --- figures -------------------------------------------------------------------------------

def figures_dir(root: str | Path | None = None) -> Path:
    """Folder the notebooks write their figures to (default `book/figures`)."""
    return Path(root if root is not None else paths.BOOK_DIR / "figures")


def save_figure(fig: "matplotlib.figure.Figure", name: str, root: str | Path | None = None) -> Path:
    """Save `fig` as `<root>/<name>.svg` without volatile metadata (date, software), atomically.

    The SVG hash salt is fixed so the same figure gives the same bytes on every run.
    """
    path = figures_dir(root) / f"{name}.svg"
    with matplotlib.rc_context({"svg.hashsalt": "lens-companion", "svg.fonttype": "path"}):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return path


def _check_profile(profile: str) -> None:
    if not isinstance(profile, str) or not PROFILE_NAME.match(profile):
        raise LensInputError(f"bad profile name {profile!r}: use letters, digits, '_' or '-'")

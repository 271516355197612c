"""Build the companion book: execute every notebook with papermill, render with Jupyter Book, check.

    python -m lens_minimal.companion.book build --profile default         # what `make book` runs
    python -m lens_minimal.companion.book build --profile smoke --only table1_main_results --no-book
    python -m lens_minimal.companion.book build --profile smoke --update-reference
    python -m lens_minimal.companion.book check

Source notebooks (`notebooks/*.ipynb`, no outputs, one cell tagged `parameters`) are executed
with the parameters of a profile from `notebooks/profiles.yml` into `book/executed/` (build
products, git-ignored). Each notebook writes its numbers to `book/results/<profile>/<name>.json`
and its figures to `book/figures/`. Jupyter Book then renders the executed copies without
executing anything (`execute_notebooks: "off"`), with warnings as errors.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import unquote, urlsplit

import nbformat
import papermill

from .. import paths, vae_store
from ..io import LensInputError, atomic_path, read_yaml
from . import pages, results

PROFILES_FILE = paths.NOTEBOOKS_DIR / "profiles.yml"
EXECUTED_DIR = paths.BOOK_DIR / "executed"          # executed notebooks (build products)
FAILED_DIR = paths.BOOK_DIR / "_failed"             # a failed notebook's output, for debugging
GENERATED_DIR = pages.GENERATED_DIR                  # text generated at build time (headline, status, CLI help)
HTML_DIR = paths.REPO_ROOT / "_build" / "html"
VAE_STORE_DIR = paths.REPO_ROOT / "_build" / "vae_store"   # fits shared by the chapters of one build
KERNEL = "python3"
KERNEL_START_ATTEMPTS = 3      # a kernel that dies before its first cell is started again (see execute_notebook)
# Parameters the build sets itself (every notebook declares them); profiles may not set them.
INJECTED = ("profile", "results_root", "figures_root")
# Tolerance for comparing results with the committed references (see tests/test_notebooks_smoke.py).
RTOL, ATOL = 0.02, 0.02
# Notebooks that read the other chapters' result files: they run after all others have finished.
RUN_LAST = ("why_lens_here", "claims_ledger")


# --- profiles and parameters ----------------------------------------------------------------------

def load_profiles(path: str | Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """`profiles.yml` as {notebook: {profile: {parameter: value}}}, in build (= book) order."""
    path = Path(path or PROFILES_FILE)
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not doc:
        raise LensInputError(f"{path}: expected a mapping of notebook name -> profiles")
    for name, profiles in doc.items():
        if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
            raise LensInputError(f"{path}: {name}: expected a mapping of profile -> parameters")
        for profile, params in profiles.items():
            for key in params:
                if key in INJECTED:
                    raise LensInputError(f"{path}: {name}.{profile}.{key}: set by the build, not by a profile")
    return doc


def notebook_path(name: str, source_dir: str | Path | None = None) -> Path:
    """Source notebook `notebooks/<name>.ipynb` (or `<source_dir>/<name>.ipynb`)."""
    path = Path(source_dir or paths.NOTEBOOKS_DIR) / f"{name}.ipynb"
    if not path.exists():
        raise LensInputError(f"{path}: notebook not found (named in {PROFILES_FILE.name})")
    return path


def declared_parameters(name: str) -> dict[str, Any]:
    """Parameters declared in the notebook's `parameters` cell, with their default values."""
    path = notebook_path(name)
    check_source_notebook(path)
    declared = {}
    inspected = papermill.inspect_notebook(str(path))
    assigned = _assigned_names(path)
    if set(inspected) != assigned:   # papermill skips lines it cannot parse, with only a warning
        raise LensInputError(f"{path}: papermill could not read parameter(s) {sorted(assigned - set(inspected))} "
                             "in the parameters cell (keep one `name = literal  # comment` per line)")
    for pname, info in inspected.items():
        try:
            declared[pname] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            raise LensInputError(f"{path}: parameter {pname!r}: default {info['default']!r} is not a literal") from None
    return declared


def _assigned_names(path: Path) -> set[str]:
    """Names assigned at top level in the notebook's parameters cell."""
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse(cell.source)
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


def check_source_notebook(path: Path) -> None:
    """A source notebook has exactly one cell tagged `parameters` and no outputs."""
    nb = nbformat.read(str(path), as_version=4)
    tagged = [i for i, c in enumerate(nb.cells, 1) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise LensInputError(f"{path}: needs exactly one cell tagged 'parameters', found {len(tagged)} (cells {tagged})")
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            raise LensInputError(f"{path}: cell {i} has outputs; commit source notebooks without outputs")


def resolve_parameters(name: str, profile: str, profiles: dict | None = None) -> dict[str, Any]:
    """Parameters of `name` under `profile`, checked against the notebook's declaration.

    An unknown name, a value whose type differs from the default's, or a missing profile raises
    `LensInputError` before anything runs.
    """
    profiles = profiles if profiles is not None else load_profiles()
    if name not in profiles:
        raise LensInputError(f"{PROFILES_FILE}: no entry for notebook {name!r}")
    if profile not in profiles[name]:
        raise LensInputError(f"{PROFILES_FILE}: notebook {name!r} has no profile {profile!r}; it has {sorted(profiles[name])}")
    declared = declared_parameters(name)
    where = f"{PROFILES_FILE.name}: {name}.{profile}"
    missing = [p for p in INJECTED if p not in declared]
    if missing:
        raise LensInputError(f"notebooks/{name}.ipynb: the parameters cell must declare {missing}")
    params = dict(profiles[name][profile])
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise LensInputError(f"{where}: unknown parameter(s) {unknown}; the notebook declares {sorted(declared)}")
    for key, value in params.items():
        _check_type(value, declared[key], f"{where}.{key}")
    return {**params, "profile": profile}


def _check_type(value: Any, default: Any, where: str) -> None:
    """`value` must have the type of `default` (ints pass for floats; None defaults accept anything)."""
    if default is None:
        return
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list)
        if ok and default:
            for i, item in enumerate(value):
                _check_type(item, default[0], f"{where}[{i}]")
        if ok and not value:
            raise LensInputError(f"{where}: must not be empty")
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
        if ok and default:
            first = next(iter(default.values()))
            for k, v in value.items():
                _check_type(v, first, f"{where}.{k}")
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise LensInputError(
            f"{where}: expected {type(default).__name__} like the notebook's default {default!r}, got {value!r}"
        )


# --- executing notebooks --------------------------------------------------------------------------

def execute_notebook(
    name: str,
    params: dict[str, Any],
    out_dir: str | Path = EXECUTED_DIR,
    *,
    results_root: str | Path | None = None,
    figures_root: str | Path | None = None,
    threads: int = 1,
    progress: bool = False,
    source_dir: str | Path | None = None,
) -> float:
    """Execute `notebooks/<name>.ipynb` into `<out_dir>/<name>.ipynb`; return the seconds it took.

    papermill writes its output even when a cell fails, so it writes to a temporary file that is
    renamed only on success; a failed run is kept in `_failed/` beside `out_dir` (`book/_failed/`)
    for inspection. The kernel
    runs with `threads` intra-op threads (OMP_NUM_THREADS): our models are small, and on a busy
    2-core machine one thread is up to 100x faster than two fighting over the cores.
    `progress` relays what the notebook writes to stderr (progress bars, stage lines) to this
    process's stderr, each line prefixed with `[name]`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {**params, "results_root": str(results_root) if results_root else None,
              "figures_root": str(figures_root) if figures_root else None}
    final = out_dir / f"{name}.ipynb"
    tmp = out_dir / f".{name}.{os.getpid()}.partial.ipynb"   # papermill wants an .ipynb suffix
    relay = StderrRelay(name) if progress else None
    if progress:
        print(f"[book] executing {name} ({params.get('profile')} profile) ...", flush=True)
    start = time.perf_counter()
    try:
        with _environment(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), MPLBACKEND="Agg"):
            for attempt in range(KERNEL_START_ATTEMPTS):
                try:
                    papermill.execute_notebook(
                        str(notebook_path(name, source_dir)), str(tmp), parameters=params, kernel_name=KERNEL,
                        cwd=str(out_dir), progress_bar=False, language="python", stderr_file=relay,
                    )
                    break
                except RuntimeError as err:
                    # kernels started at the same moment by parallel workers can race for a port and die
                    # before any cell ran; starting again is safe then, and only then
                    if "before replying to kernel_info" not in str(err) or attempt + 1 == KERNEL_START_ATTEMPTS:
                        raise
                    print(f"[book] {name}: the kernel died while starting ({err}); starting it again", flush=True)
        _strip_volatile(tmp)
        os.replace(tmp, final)
    except papermill.PapermillExecutionError as err:
        failed = out_dir.parent / FAILED_DIR.name / f"{name}.ipynb"     # book/_failed/ beside book/executed/
        failed.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            os.replace(tmp, failed)
        raise LensInputError(
            f"notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"  the partial output is in {failed}"
        ) from None
    finally:
        if relay is not None:
            relay.close()
        if tmp.exists():
            tmp.unlink()
    return time.perf_counter() - start


class StderrRelay:
    """papermill's `stderr_file`: the kernel's stderr, line by line, each line prefixed with `[name]`.

    A progress bar redraws its line with carriage returns; of those redraws, one is passed on at
    most every `interval` seconds (and the last one when the line ends), so `make book` shows
    which notebook is at which grid point without flooding the terminal.
    """

    # tqdm.auto's warning in a kernel without ipywidgets (it falls back to a text bar): noise here
    QUIET = re.compile(r"IProgress not found|from \.autonotebook import tqdm")

    def __init__(self, name: str, stream: Any = None, interval: float = 2.0) -> None:
        self.prefix, self.stream, self.interval = f"[{name}] ", stream, interval
        self._pending = ""                 # the unfinished line (for a bar: its latest state)
        self._last_bar = float("-inf")     # when a redrawn line was last passed on
        self._last_line: str | None = None

    def write(self, text: str) -> int:
        self._pending += text
        *complete, self._pending = self._pending.split("\n")
        for line in complete:
            self._emit(([p for p in line.split("\r") if p.strip()] or [""])[-1])
        if "\r" in self._pending:
            states = [p for p in self._pending.split("\r") if p.strip()]
            self._pending = states[-1] if states else ""
            if states and time.monotonic() - self._last_bar >= self.interval:
                self._emit(states[-1])
                self._last_bar = time.monotonic()
        return len(text)

    def flush(self) -> None:
        (self.stream or sys.stderr).flush()

    def close(self) -> None:
        """Pass on what is left of an unfinished line."""
        self._emit(self._pending)
        self._pending = ""

    def _emit(self, line: str) -> None:
        line = line.rstrip()
        if line and line != self._last_line and not self.QUIET.search(line):
            stream = self.stream or sys.stderr
            stream.write(self.prefix + line + "\n")
            stream.flush()
            self._last_line = line


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration of the block."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _strip_volatile(path: Path) -> None:
    """Drop per-run timestamps that papermill stores, so reruns differ only where numbers do;
    fold the parameter cells (declared defaults, and the values this build injected) behind a toggle."""
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.get("papermill", {}).pop("start_time", None)
    nb.metadata.get("papermill", {}).pop("end_time", None)
    for key in ("input_path", "output_path"):
        nb.metadata.get("papermill", {}).pop(key, None)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
        cell.metadata.pop("execution", None)
        for k in ("start_time", "end_time", "duration", "status", "exception"):
            cell.metadata.get("papermill", {}).pop(k, None)
    nbformat.write(nb, str(path))


def executed_profile(path: Path) -> str | None:
    """The profile an executed notebook ran with (from papermill's metadata)."""
    nb = json.loads(path.read_text())
    return nb.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("profile")


# --- the build ------------------------------------------------------------------------------------

def build(
    profile: str,
    only: Iterable[str] | None = None,
    *,
    render: bool = True,
    update_reference: bool = False,
    threads: int = 1,
    workers: int = 2,
) -> dict[str, float]:
    """Execute the notebooks of `profile` (all, or `only`), then render and check the book.

    Notebooks run `workers` at a time (each kernel with `threads` torch threads), those in
    `RUN_LAST` after all others; the chapters keep their order in the book. Returns the seconds
    per step. Parameters are checked for every notebook before any runs.
    """
    profiles = load_profiles()
    names = list(profiles)
    only = list(only or [])
    for n in only:
        if n not in profiles:
            raise LensInputError(f"--only {n}: unknown notebook; known: {names}")
    todo = [n for n in names if not only or n in only]
    params = {n: resolve_parameters(n, profile, profiles) for n in todo}   # fail before running anything
    for stray in sorted(p.stem for p in paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        if stray not in profiles:
            raise LensInputError(f"notebooks/{stray}.ipynb is not listed in {PROFILES_FILE.name}")

    wall = time.perf_counter()
    times: dict[str, float] = {}
    for n in todo:                  # a notebook that fails has no status, not an old one
        (EXECUTED_DIR / f"{n}.status.json").unlink(missing_ok=True)
    with fresh_vae_store(profile):
        for wave in schedule(todo):
            for name, seconds in execute_many(wave, params, workers=workers, threads=threads):
                times[name] = seconds
                print(f"[book] {name} done in {seconds:.1f} s", flush=True)
                _report_reference(name, profile, update_reference, seconds)
    times = {n: times[n] for n in todo}                  # book order, not the order they finished in

    if render:
        start = time.perf_counter()
        if render_book(profile, names):
            times["jupyter-book build + check"] = time.perf_counter() - start
    _print_times(times, profile, time.perf_counter() - wall)
    return times


@contextlib.contextmanager
def fresh_vae_store(profile: str) -> Iterator[Path]:
    """An empty `vae_store` folder for this build, named (for the block) in the environment that the
    notebook kernels inherit: chapters share VAE fits within one build, never across builds, so a
    build's times are those of a build from scratch."""
    store = VAE_STORE_DIR / profile
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    before = os.environ.get(vae_store.ENV)
    os.environ[vae_store.ENV] = str(store)
    try:
        yield store
    finally:
        if before is None:
            os.environ.pop(vae_store.ENV, None)
        else:
            os.environ[vae_store.ENV] = before


def render_book(profile: str, names: list[str]) -> bool:
    """Write the generated pages, render the book with Jupyter Book and check it; False (and
    nothing rendered) when an executed notebook is missing or comes from another profile."""
    executed = {n: EXECUTED_DIR / f"{n}.ipynb" for n in names}
    absent = [n for n, p in executed.items() if not p.exists()]
    stale = [n for n, p in executed.items() if p.exists() and executed_profile(p) != profile]
    if absent or stale:
        print(f"[book] not rendering: executed notebooks missing {absent} or from another profile {stale}; "
              f"run without --only", flush=True)
        return False
    pages.write_all(profile, names, EXECUTED_DIR)
    run_jupyter_book()
    problems = check()
    if problems:
        raise LensInputError("book check failed:\n  " + "\n  ".join(problems))
    return True


def schedule(names: Iterable[str]) -> list[list[str]]:
    """Waves of notebooks, in book order: first every notebook that reads no other's results (they
    may run in parallel), then those in `RUN_LAST` (the claims ledger reads the others' result files)."""
    names = list(names)
    waves = [[n for n in names if n not in RUN_LAST], [n for n in names if n in RUN_LAST]]
    return [w for w in waves if w]


def execute_many(names: list[str], params: dict[str, dict[str, Any]], *, workers: int = 2, threads: int = 1,
                 **kwargs: Any) -> Iterator[tuple[str, float]]:
    """Execute independent notebooks, `workers` at a time in separate processes (each kernel with
    `threads` torch threads); yield (name, seconds) as each finishes. Numbers do not depend on the
    order: every notebook seeds its own runs. If any fails, the others finish, then the first
    failure is raised. `kwargs` go to `execute_notebook`.
    """
    if workers <= 1 or len(names) == 1:
        for n in names:
            yield n, execute_notebook(n, params[n], threads=threads, progress=True, **kwargs)
        return
    failures = []
    spawn = multiprocessing.get_context("spawn")     # a fresh interpreter: no state forked from this one
    with ProcessPoolExecutor(max_workers=min(workers, len(names)), mp_context=spawn) as pool:
        futures = {pool.submit(execute_notebook, n, params[n], threads=threads, progress=True, **kwargs): n
                   for n in names}
        for future in as_completed(futures):
            try:
                seconds = future.result()
            except LensInputError as err:
                failures.append(err)
                continue
            yield futures[future], seconds
    if failures:
        raise failures[0]


def _report_reference(name: str, profile: str, update: bool, seconds: float) -> None:
    """Compare a finished notebook's results with the committed reference (or store them as the
    reference) and record its execution status for the status page."""
    record = results.load_results(name, profile)
    problems: list[str] | None = None
    if update:
        print(f"[book]   reference written: {results.write_reference(record, profile)}", flush=True)
        problems = []
    else:
        try:
            reference = results.load_reference(name, profile)
        except LensInputError:
            print(f"[book]   no committed reference for {name} ({profile})", flush=True)
        else:
            problems = results.compare_to_reference(record, reference, rtol=RTOL, atol=ATOL)
            status = ("matches the reference" if not problems
                      else f"{len(problems)} difference(s) from the reference, e.g. {problems[0]}")
            print(f"[book]   {name}: {status}", flush=True)
    pages.write_status(pages.status_record(name, profile, seconds, record, problems), EXECUTED_DIR)


def _print_times(times: dict[str, float], profile: str, wall: float) -> None:
    width = max(len(k) for k in times) if times else 10
    print(f"\n[book] times ({profile} profile)")
    for k, v in times.items():
        print(f"  {k:<{width}}  {v:7.1f} s")
    print(f"  {'sum':<{width}}  {sum(times.values()):7.1f} s")
    print(f"  {'wall clock':<{width}}  {wall:7.1f} s", flush=True)


def run_jupyter_book() -> None:
    """`jupyter-book build . -W -n --keep-going --all` at the repository root."""
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe if exe.exists() else shutil.which("jupyter-book") or "jupyter-book"),
           "build", str(paths.REPO_ROOT), "-W", "-n", "--keep-going", "--all"]
    print("[book] " + " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, cwd=paths.REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        text = done.stdout + "\n" + done.stderr
        problems = [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line]
        detail = "\n".join(problems[:40]) if problems else text[-6000:]
        raise LensInputError(f"jupyter-book build failed (exit {done.returncode}; warnings are errors):\n{detail}")


# --- checking the built book ----------------------------------------------------------------------

class _Links(HTMLParser):
    """Collects href/src targets, element ids, table shapes and render assets of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.assets: list[str] = []      # what the page loads to render: scripts, stylesheets, images
        self.ids: set[str] = set()
        self.tables: list[int] = []      # number of data cells per <table>
        self._open: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "img", "link", "script", "object", "embed", "source"):
                self.targets.append(a[key])
        rel = (a.get("rel") or "").lower().split()
        if tag in ("script", "img", "iframe", "embed", "source") and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "link" and a.get("href") and {"stylesheet", "preload", "modulepreload"} & set(rel):
            self.assets.append(a["href"])
        if tag == "table":
            self._open.append(0)
        elif tag == "td" and self._open:
            self._open[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._open:
            self.tables.append(self._open.pop())


def check(html_dir: str | Path | None = None) -> list[str]:
    """Problems in the built book (empty list: all good).

    - no broken internal link (file or `#anchor`) in the built HTML;
    - the book renders offline: no page loads a script, stylesheet or image from another host, and
      no stylesheet of the build imports one (`@import`, `url()`); MathJax ships with the build;
    - every table renders: each HTML table has data cells, and every table a notebook displays
      reaches its page;
    - every figure in `book/figures/` exists, is referenced by a page, and the reference resolves.
    """
    html_dir = Path(html_dir or HTML_DIR)
    if not html_dir.exists():
        return [f"{html_dir}: no built book; run `python -m lens_minimal.companion.book build`"]
    parsed = {p: _parse(p) for p in html_dir.rglob("*.html")
              if p.relative_to(html_dir).parts[0] not in ("_static", "_sources")}   # theme templates, not pages
    return (_check_links(parsed, html_dir) + _check_assets(parsed, html_dir) + _check_tables(parsed, html_dir)
            + _check_figures(parsed))


def _check_links(parsed: dict[Path, "_Links"], html_dir: Path) -> list[str]:
    problems = []
    for page, links in parsed.items():
        rel = page.relative_to(html_dir)
        for target in links.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "data:", "javascript:")):
                continue
            dest = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                problems.append(f"{rel}: broken link {target!r}")
            elif parts.fragment and dest.suffix == ".html":
                ids = parsed[dest].ids if dest in parsed else _parse(dest).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{rel}: link {target!r}: no anchor #{parts.fragment}")
    return problems


def _check_assets(parsed: dict[Path, "_Links"], html_dir: Path) -> list[str]:
    """What a page needs to render (scripts, stylesheets and what they import, images) ships with the build."""
    problems, stylesheets = [], set()
    for page, links in parsed.items():
        for url in links.assets:
            if is_external(url):
                problems.append(f"{page.relative_to(html_dir)}: loads {url!r} from another host "
                                "(the book must render offline)")
            elif url.split("?")[0].endswith(".css"):
                stylesheets.add((page.parent / unquote(urlsplit(url).path)).resolve())
    for css in sorted(p for p in stylesheets if p.exists()):
        for url in _CSS_IMPORT.findall(css.read_text(errors="replace")):
            if is_external(url):
                problems.append(f"{css.relative_to(html_dir.resolve())}: imports {url!r} from another host "
                                "(the book must render offline)")
    return problems


def _check_tables(parsed: dict[Path, "_Links"], html_dir: Path) -> list[str]:
    problems = []
    for page, links in parsed.items():
        for i, cells in enumerate(links.tables, 1):
            if cells == 0:
                problems.append(f"{page.relative_to(html_dir)}: table {i} has no data cells")
    for nb_path in sorted(EXECUTED_DIR.glob("*.ipynb")):
        shown = _notebook_tables(nb_path)
        page = html_dir / "book" / "executed" / f"{nb_path.stem}.html"
        if page.exists() and len(parsed[page].tables) < shown:
            problems.append(f"{page.relative_to(html_dir)}: notebook displays {shown} tables, page has {len(parsed[page].tables)}")
        elif not page.exists():
            problems.append(f"{nb_path.name}: executed but not in the built book")
    return problems


def _check_figures(parsed: dict[Path, "_Links"]) -> list[str]:
    problems = []
    figure_dir = results.figures_dir()
    referenced = _referenced_figures()
    on_disk = {p.resolve() for p in figure_dir.glob("*") if p.is_file()} if figure_dir.exists() else set()
    for fig, where in sorted(referenced.items()):
        if not fig.exists():
            problems.append(f"{where}: figure {fig.relative_to(paths.REPO_ROOT)} does not exist")
    for fig in sorted(on_disk - set(referenced)):
        problems.append(f"{fig.relative_to(paths.REPO_ROOT)}: figure is not referenced by any page")
    shown_images = {Path(unquote(urlsplit(t).path)).name for links in parsed.values() for t in links.targets}
    for fig in sorted(set(referenced) & on_disk):
        if fig.name not in shown_images:
            problems.append(f"{fig.relative_to(paths.REPO_ROOT)}: referenced but not in the built HTML")
    return problems


_CSS_IMPORT = re.compile(r"""(?:@import\s+(?:url\(\s*)?|url\(\s*)['"]?([^'"()\s;]+)""")   # @import / url() targets


def is_external(url: str) -> bool:
    """Whether `url` is fetched from another host (http:, https:, or protocol-relative //host/...)."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") or bool(parts.netloc)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(errors="replace"))
    return parser


def _notebook_tables(path: Path) -> int:
    """Tables a notebook displays (HTML tables in outputs, including glued ones)."""
    nb = json.loads(path.read_text())
    count = 0
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            glued = out.get("metadata", {}).get("scrapbook")
            if not glued:   # glued outputs are hidden in place and counted where they are pasted
                count += html.count("<table")
    return count


_FIGURE_REF = re.compile(r"(?:```\{figure\}|:::\{figure\}|\{image\}|!\[[^\]]*\]\()\s*([^\s)`]+\.(?:svg|png|pdf|jpg))")


def _referenced_figures() -> dict[Path, str]:
    """Figure files referenced from the markdown chapters and the executed notebooks' markdown."""
    found: dict[Path, str] = {}
    sources: list[tuple[Path, str]] = [(p, p.read_text()) for p in paths.BOOK_DIR.glob("*.md")]
    for nb_path in EXECUTED_DIR.glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        sources.append((nb_path, text))
    for path, text in sources:
        for ref in _FIGURE_REF.findall(text):
            found.setdefault((path.parent / ref).resolve(), str(path.relative_to(paths.REPO_ROOT)))
    return found


# --- command line ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lens_minimal.companion.book", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute the notebooks, render the book, check it")
    b.add_argument("--profile", default="default", help="parameter set from notebooks/profiles.yml (default: default)")
    b.add_argument("--only", action="append", metavar="NAME", help="execute only this notebook (repeatable)")
    b.add_argument("--no-book", action="store_true", help="execute notebooks only; skip jupyter-book")
    b.add_argument("--update-reference", action="store_true",
                   help="store the new results as data/reference/<profile>/ (commit them after review)")
    b.add_argument("--threads", type=int, default=int(os.environ.get("LENS_THREADS", "1")),
                   help="torch threads per notebook kernel (default 1, or $LENS_THREADS)")
    b.add_argument("--workers", type=int, default=int(os.environ.get("LENS_WORKERS", "2")),
                   help="notebooks executed at a time, each in its own kernel (default 2, or $LENS_WORKERS)")
    sub.add_parser("check", help="check the built book: figures, tables, links, no external assets")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.profile, args.only, render=not args.no_book, update_reference=args.update_reference,
                  threads=args.threads, workers=args.workers)
        else:
            problems = check()
            for p in problems:
                print(f"[check] {p}")
            print(f"[check] {'OK' if not problems else f'{len(problems)} problem(s)'}")
            return 1 if problems else 0
    except LensInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

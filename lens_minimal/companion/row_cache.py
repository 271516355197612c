"""A cache of costly results in the repository, with provenance, refused when its parameters differ.

An entry is `data/cache/text_rows/<name>.json`:

    {"name", "params", "seeds", "payload", "provenance": {"git_commit", "hardware", "date",
     "versions", "torch_threads", "wall_seconds"}}

`load_entry(name, params, seeds)` returns the entry only when `params` and `seeds` equal the ones
it was computed with; otherwise it raises `LensInputError` naming the file and every differing
parameter, never silently using numbers computed for another question. `cached(...)` reads the
entry, or computes and stores it when asked to (`recompute=True`) or when it is missing and
`compute_missing=True`.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from .. import paths
from ..io import LensInputError, write_json
from .results import _plain, git_commit, package_versions, tree_differences

CACHE_DIR = paths.DATA_DIR / "cache" / "text_rows"


def entry_path(name: str, root: str | Path | None = None) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise LensInputError(f"cache entry: bad name {name!r}")
    return Path(root if root is not None else CACHE_DIR) / f"{name}.json"


def hardware() -> dict[str, Any]:
    """What ran it: CPU model (from /proc/cpuinfo where there is one), core count, platform."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine()}


def save_entry(name: str, params: Mapping[str, Any], seeds: list[int], payload: Mapping[str, Any],
               wall_seconds: float, root: str | Path | None = None) -> Path:
    """Store an entry (atomic) with its provenance; returns its path."""
    record = {
        "name": name, "params": _plain(params, "params"), "seeds": list(seeds), "payload": _plain(payload, "payload"),
        "provenance": {**_stamp(), "versions": package_versions(), "torch_threads": torch.get_num_threads(),
                       "wall_seconds": float(wall_seconds)},
    }
    path = entry_path(name, root)
    write_json(path, record)
    return path


STARTED_AT_COMMIT = git_commit()   # the code this process loaded; a long run may be saved after later commits


def _stamp() -> dict[str, Any]:
    """Where and when a result is computed: the commit whose code ran (HEAD when this process started; the
    HEAD at saving too, as `git_commit_at_save`, where it moved since), hardware and UTC date (every entry;
    every row of `add_seeds`)."""
    now = git_commit()
    return {"git_commit": STARTED_AT_COMMIT, **({"git_commit_at_save": now} if now != STARTED_AT_COMMIT else {}),
            "hardware": hardware(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _as_stored(params: Mapping[str, Any]) -> Any:
    """`params` as an entry stores them (numpy scalars and tuples become plain JSON values and lists)."""
    return json.loads(json.dumps(_plain(params, "params")))


CACHE_WORDS = {"missing": "{where}: asked {want!r}, cached entry has no such parameter",
               "extra": "{where}: cached {got!r}, not asked for", "differs": "{where}: cached {got!r}, asked {want!r}"}


def _differences(got: Any, want: Any, where: str) -> list[str]:
    """Where the cached parameters `got` differ from those asked for (exact; lists compared whole)."""
    return tree_differences(got, want, where, words=CACHE_WORDS, elementwise=False)


def load_entry(name: str, params: Mapping[str, Any], seeds: list[int], root: str | Path | None = None,
               subset: bool = False) -> dict:
    """The cached entry `name` if it was computed with exactly `params` and `seeds`; else a clear error.
    With `subset`, the entry may hold any non-empty subset of `seeds` (cells run seed by seed, see `add_seeds`)."""
    path = entry_path(name, root)
    if not path.is_file():
        raise LensInputError(f"{path}: no cached result {name!r}; compute it (recompute=True, or "
                             f"`python -m lens_minimal.companion.text_rows`)")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise LensInputError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    missing = [k for k in ("params", "seeds", "payload", "provenance") if k not in record]
    if missing:
        raise LensInputError(f"{path}: not a cache entry, missing {missing}")
    diffs = _differences(record["params"], _as_stored(params), "params")
    if subset and (not record["seeds"] or any(s not in seeds for s in record["seeds"])):
        diffs.append(f"cached seeds {record['seeds']!r}; asked for a non-empty subset of {list(seeds)!r}")
    elif not subset and record["seeds"] != list(seeds):
        diffs.append(f"seeds: cached {record['seeds']!r}, asked {list(seeds)!r}")
    if diffs:
        raise LensInputError(f"{path}: cached result {name!r} was computed with other parameters; refusing to use it:\n  "
                             + "\n  ".join(diffs) + "\nRecompute it (recompute=True) or ask for the cached parameters.")
    return record


def add_seeds(name: str, params: Mapping[str, Any], seeds: list[int], compute: Callable[[], Mapping[str, Any]],
              root: str | Path | None = None) -> dict:
    """Run `compute()` -> {"rows": [...]} for `seeds` and store them in entry `name` together with the rows
    of OTHER seeds already stored there under exactly `params` (an entry with other params is replaced).
    Every row carries its own provenance (`row_provenance`: commit, date, hardware, wall seconds and torch threads
    of its run),
    so rows computed in different sessions keep theirs; the entry's seeds are the union."""
    path = entry_path(name, root)
    kept: list[dict] = []
    if path.is_file():
        old = json.loads(path.read_text())
        if not _differences(old["params"], _as_stored(params), "params"):
            prov = old["provenance"]
            kept = [dict(r, row_provenance=r.get("row_provenance", {k: prov[k] for k in ("git_commit", "date", "hardware", "wall_seconds")}))
                    for r in old["payload"]["rows"] if r["seed"] not in seeds]
    t0 = time.perf_counter()
    new = list(compute()["rows"])
    wall = time.perf_counter() - t0
    stamp = {**_stamp(), "wall_seconds": wall, "torch_threads": torch.get_num_threads()}
    rows = sorted(kept + [dict(r, row_provenance=stamp) for r in new], key=lambda r: r["seed"])
    all_seeds = sorted({r["seed"] for r in rows})
    save_entry(name, params, all_seeds, {"rows": rows}, wall, root)
    return load_entry(name, params, all_seeds, root)


def cached(name: str, params: Mapping[str, Any], seeds: list[int], compute: Callable[[], Mapping[str, Any]],
           recompute: bool = False, root: str | Path | None = None) -> dict:
    """`load_entry`, or (with `recompute`) run `compute()` -> payload, store it and return the entry."""
    if not recompute:
        return load_entry(name, params, seeds, root)
    t0 = time.perf_counter()
    payload = compute()
    save_entry(name, params, seeds, payload, time.perf_counter() - t0, root)
    return load_entry(name, params, seeds, root)

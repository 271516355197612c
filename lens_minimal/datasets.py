"""Named embedding tasks: the synthetic world (always available), the shipped SmolLM2 tasks, and your own files.

`load_task` is the one loader of an `EmbeddingTask`. The shipped tasks live on the text side
(`lens_minimal.text.shipped`); it is imported inside the two functions that need it, the only
upward imports of the core (see ARCHITECTURE.md and tests/test_architecture.py).
"""
from __future__ import annotations

from typing import Any, Mapping

from .config import from_dict
from .data import BestOfNSet, EmbeddingTask, PreferencePairs
from .io import LensInputError
from .worlds.synthetic import SyntheticWorldConfig, make_synthetic_task

SHIPPED_TASKS = ("instructions", "summaries")   # SmolLM2 tasks with gold-reward programs
PAIR_DATASETS = ("hh-harmless",)                 # real human pairs: held-out pairwise accuracy only


def available_tasks() -> list[str]:
    """Names of the tasks whose data is present on this machine."""
    from .text.shipped import shipped_task_available

    return ["synthetic"] + [t for t in (*SHIPPED_TASKS, *PAIR_DATASETS) if shipped_task_available(t)]


def load_task(name: str, *, layer: str = "last", seed: int = 0, world: dict[str, Any] | None = None,
              files: Mapping[str, str] | None = None) -> EmbeddingTask:
    """Load task `name`: your own embedded files when `files` = {"pairs": ..., "test": ...} is given
    (from `lens embed`), else "synthetic" (with `world` overrides of `SyntheticWorldConfig` and data
    `seed`), a shipped SmolLM2 task ("instructions", "summaries") or the real HH-RLHF pairs
    ("hh-harmless", test = held-out pairs) at embedding `layer`."""
    if files is not None:
        missing = sorted({"pairs", "test"} - set(files))
        if missing:
            raise LensInputError(f"task {name!r}: files needs 'pairs' and 'test', missing {missing}")
        return EmbeddingTask(name, PreferencePairs.load(files["pairs"]), BestOfNSet.load(files["test"]))
    if name == "synthetic":
        return make_synthetic_task(from_dict(SyntheticWorldConfig, world, "world"), seed=seed)
    if name in SHIPPED_TASKS:
        from .text.shipped import load_shipped_task

        return load_shipped_task(name, layer=layer)
    if name in PAIR_DATASETS:
        from .text.hh_harmless import load_hh_harmless

        return load_hh_harmless(layer=layer)
    raise LensInputError(f"unknown task {name!r}; known: {['synthetic', *SHIPPED_TASKS, *PAIR_DATASETS]}")

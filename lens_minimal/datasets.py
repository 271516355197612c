"""Named embedding tasks: the synthetic world (always available) and the shipped SmolLM2 tasks."""
from __future__ import annotations

from typing import Any

from .config import from_dict
from .data import EmbeddingTask
from .io import LensInputError
from .worlds.synthetic import SyntheticWorldConfig, make_synthetic_task

SHIPPED_TASKS = ("instructions", "summaries")


def available_tasks() -> list[str]:
    """Names of the tasks whose data is present on this machine."""
    names = ["synthetic"]
    try:
        from .shipped import shipped_task_available
    except ImportError:
        return names
    return names + [t for t in SHIPPED_TASKS if shipped_task_available(t)]


def load_task(name: str, *, layer: str = "last", seed: int = 0, world: dict[str, Any] | None = None) -> EmbeddingTask:
    """Load task `name`: "synthetic" (with `world` overrides of `SyntheticWorldConfig` and data `seed`)
    or a shipped SmolLM2 task ("instructions", "summaries") at embedding `layer`."""
    if name == "synthetic":
        return make_synthetic_task(from_dict(SyntheticWorldConfig, world, "world"), seed=seed)
    if name in SHIPPED_TASKS:
        from .shipped import load_shipped_task
        return load_shipped_task(name, layer=layer)
    raise LensInputError(f"unknown task {name!r}; known: {['synthetic', *SHIPPED_TASKS]}")

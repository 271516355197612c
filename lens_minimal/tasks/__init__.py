"""Self-built preference tasks with gold rewards that are readable programs (the default data).

Each task module exposes `make_prompts(n, seed) -> list[{"id", "prompt", "meta"}]` and
`gold_reward(response, meta) -> float in [0, 1]`; its module docstring documents the reward.
  * `instructions`: checkable instructions, our stand-in for HH-RLHF.
  * `summaries`: one-sentence fact summaries, our stand-in for TL;DR.
"""
from __future__ import annotations

from types import ModuleType

from ..io import LensInputError
from . import instructions, summaries

TASKS: dict[str, ModuleType] = {"instructions": instructions, "summaries": summaries}


def get_task(name: str) -> ModuleType:
    """The task module called `name`; a clear error naming the known tasks otherwise."""
    if name not in TASKS:
        raise LensInputError(f"task: unknown name {name!r}; known: {sorted(TASKS)}")
    return TASKS[name]

"""Self-built preference tasks with gold rewards that are readable programs (the default data).

Each task module exposes `make_prompts(n, seed) -> list[{"id", "prompt", "meta"}]` and
`gold_reward(response, meta) -> float in [0, 1]`; its module docstring documents the reward.
  * `instructions`: checkable instructions, our stand-in for HH-RLHF.
  * `summaries`: one-sentence fact summaries, our stand-in for TL;DR.
"""
from __future__ import annotations

from types import ModuleType

from ...io import LensInputError
from . import instructions, summaries

TASK_PROGRAMS: dict[str, ModuleType] = {"instructions": instructions, "summaries": summaries}


def get_task_program(name: str) -> ModuleType:
    """The task program (module with `make_prompts` and `gold_reward`) called `name`; a clear error otherwise.

    Not to be confused with `lens_minimal.datasets.load_task`, which loads an `EmbeddingTask`."""
    if name not in TASK_PROGRAMS:
        raise LensInputError(f"task: unknown name {name!r}; known: {sorted(TASK_PROGRAMS)}")
    return TASK_PROGRAMS[name]

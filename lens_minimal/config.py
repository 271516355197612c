"""Small helpers for the per-component config dataclasses: build from a dict, unknown keys are errors."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from .io import LensInputError

T = TypeVar("T")


def from_dict(cls: type[T], values: Mapping[str, Any] | None, where: str = "config") -> T:
    """Build dataclass `cls` from `values`; an unknown key raises `LensInputError` naming it."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise LensInputError(
            f"{where}: unknown parameter(s) {unknown} for {cls.__name__}; known: {sorted(names)}"
        )
    return cls(**values)


def replace(cfg: T, **changes: Any) -> T:
    """`dataclasses.replace` with the same unknown-key error as `from_dict`."""
    return from_dict(type(cfg), {**dataclasses.asdict(cfg), **changes}, where=type(cfg).__name__)  # type: ignore[arg-type]

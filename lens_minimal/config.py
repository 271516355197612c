"""Building the per-component config dataclasses from (nested) dicts; an unknown key is an error.

One spelling of every parameter: a dict mirrors the nesting of the dataclasses, so the key path
of a value is the attribute path of the field it sets. For `ExperimentConfig`:

    {"vae": {"gamma": 0.1, "epochs": 200}, "synthesis": {"sigma2": 0.01}, "noise_scale": 0.1,
     "reward": {"max_epochs": 50}, "val_fraction": 0.1, "best_of": None}

is `cfg.vae.gamma`, `cfg.synthesis.sigma2`, ... Notebook parameters (`config`), `notebooks/profiles.yml`,
`lens ... --config file.json` and `lens run` all use this spelling; CLI flags are shortcuts onto it
(`cli.CONFIG_FLAGS`).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, TypeVar

from .io import LensInputError

T = TypeVar("T")


def from_dict(cls: type[T], values: Mapping[str, Any] | None, where: str = "config") -> T:
    """Build dataclass `cls` from `values`, recursing into fields that are dataclasses themselves.

    An unknown key raises `LensInputError` naming its path (e.g. "config.vae: unknown parameter(s) ['latent']").
    """
    if values is not None and not isinstance(values, Mapping):
        raise LensInputError(f"{where}: expected a mapping of parameters for {cls.__name__}, got {values!r}")
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise LensInputError(
            f"{where}: unknown parameter(s) {unknown} for {cls.__name__}; known: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        sub = hints.get(name)
        if dataclasses.is_dataclass(sub) and (value is None or isinstance(value, Mapping)):
            values[name] = from_dict(sub, value, f"{where}.{name}")
    return cls(**values)


def replace_path(obj: T, path: str, value: Any, where: str = "config") -> T:
    """A copy of dataclass `obj` with the field at key path `path` (e.g. "vae.gamma") set to `value`.

    The path is the one spelling of a parameter (see the module docstring); an unknown part is an
    error naming it. The copy goes through each dataclass's checks (`__post_init__`) again.
    """
    head, _, rest = path.partition(".")
    names = {f.name for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
    if head not in names:
        raise LensInputError(f"{where}: unknown parameter {head!r} in {path!r} for {type(obj).__name__}; known: {sorted(names)}")
    if rest:
        inner = getattr(obj, head)
        if not dataclasses.is_dataclass(inner):
            raise LensInputError(f"{where}.{head}: is a value, not a group of parameters (path {path!r})")
        value = replace_path(inner, rest, value, f"{where}.{head}")
    return dataclasses.replace(obj, **{head: value})

"""Named embedding tasks: the synthetic world (always available), the shipped SmolLM2 tasks, and your own files.

`load_task` is the one loader of an `EmbeddingTask`. The shipped tasks live on the text side
(`lens_minimal.text.shipped`); it is imported inside the two functions that need it, the only
upward imports of the core (see ARCHITECTURE.md and tests/test_architecture.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .config import from_dict
from .data import BestOfNSet, EmbeddingTask, PreferencePairs, read_metadata
from .io import LensInputError
from .worlds.synthetic import SyntheticWorldConfig, make_synthetic_task

SHIPPED_TASKS = ("instructions", "summaries")   # SmolLM2 tasks with gold-reward programs
PAIR_DATASETS = ("hh-harmless",)                 # real human pairs: held-out pairwise accuracy only
SHIPPED_LAYERS = ("last", "layer10", "layer20")  # SmolLM2 layers stored with the shipped tasks


def available_tasks() -> list[str]:
    """Names of the tasks whose data is present on this machine."""
    from .text.shipped import shipped_task_available

    return ["synthetic"] + [t for t in (*SHIPPED_TASKS, *PAIR_DATASETS) if shipped_task_available(t)]


def load_task(name: str, *, layer: str = "last", seed: int = 0, world: dict[str, Any] | None = None,
              files: Mapping[str, str] | None = None) -> EmbeddingTask:
    """Load task `name`: your own embedded files when `files` = {"pairs": ..., "test": ...} is given
    (from `lens embed`), else "synthetic" (with `world` overrides of `SyntheticWorldConfig` and data
    `seed`), a shipped SmolLM2 task ("instructions", "summaries") or the real HH-RLHF pairs
    ("hh-harmless", test = held-out pairs) at embedding `layer`. For a shipped task, a `layer` other
    than the shipped ones names a re-embedding of its texts by another model (`text.reembed`), e.g.
    "random_init" (a randomly initialised SmolLM2: the representation control)."""
    if files is not None:
        kinds = [k for k in ("test", "eval_pairs") if k in files]
        if "pairs" not in files or len(kinds) != 1 or set(files) - {"pairs", "test", "eval_pairs"}:
            raise LensInputError(f"task {name!r}: files needs 'pairs' and one of 'test' (Best-of-N set) or "
                                 f"'eval_pairs' (held-out pairs), got {sorted(files)}")
        check_same_embedding(files["pairs"], files[kinds[0]])
        train = PreferencePairs.load(files["pairs"])
        test = BestOfNSet.load(files["test"]) if kinds[0] == "test" else PreferencePairs.load(files["eval_pairs"])
        test_dim = test.dim if isinstance(test, PreferencePairs) else test.embeddings.shape[-1]
        if train.dim != test_dim:
            raise LensInputError(f"{files[kinds[0]]}: embedding dimension {test_dim} does not match {files['pairs']} "
                                 f"(d={train.dim}); embed both with the same model and layer")
        return EmbeddingTask(name, train, test, info={"files": {k: str(v) for k, v in files.items()}})
    if name == "synthetic":
        return make_synthetic_task(from_dict(SyntheticWorldConfig, world, "world"), seed=seed)
    if name in SHIPPED_TASKS and layer not in SHIPPED_LAYERS:
        from .text.reembed import load_reembedded_task

        return load_reembedded_task(name, layer)
    if name in SHIPPED_TASKS:
        from .text.shipped import load_shipped_task

        return load_shipped_task(name, layer=layer)
    if name in PAIR_DATASETS:
        from .text.hh_harmless import load_hh_harmless

        return load_hh_harmless(layer=layer)
    raise LensInputError(f"unknown task {name!r}; known: {['synthetic', *SHIPPED_TASKS, *PAIR_DATASETS]}")


EMBEDDING_KEYS = ("model_checksum", "model", "layer", "pooling")   # written by `lens embed`


def check_same_embedding(a: str | Path, b: str | Path) -> None:
    """Error unless files `a` and `b` were embedded the same way (model, layer, pooling in their metadata).

    The model is compared by weight checksum when both files record one, else by name; a file
    without such metadata (not from `lens embed`) is not checked.
    """
    ma, mb = read_metadata(a), read_metadata(b)
    keys = [k for k in EMBEDDING_KEYS if ma.get(k) and mb.get(k)]
    if "model_checksum" in keys:
        keys.remove("model")
    for k in keys:
        if ma[k] != mb[k]:
            what = "model weights" if k == "model_checksum" else k
            raise LensInputError(f"{b}: embedded with {what} {mb[k]!r} but {a} with {ma[k]!r} "
                                 f"(models {mb.get('model')!r} and {ma.get('model')!r}); embed both the same way")


def split_eval_pairs(name: str, path: str | Path, fraction: float, seed: int = 0) -> EmbeddingTask:
    """A task from one pairs file: a seeded random `fraction` of its pairs is held out as the test set.

    The split (fraction, seed, sizes, held-out row numbers) is in `task.info["eval_split"]`.
    """
    pairs = PreferencePairs.load(path)
    if not 0.0 < fraction < 1.0:
        raise LensInputError(f"eval fraction: must be in (0, 1), got {fraction}")
    n_eval = round(fraction * len(pairs))
    if not 1 <= n_eval <= len(pairs) - 4:
        raise LensInputError(f"{path}: eval fraction {fraction} of {len(pairs)} pairs leaves {n_eval} held-out and "
                             f"{len(pairs) - n_eval} seed pairs; need at least 1 and 4")
    perm = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    test_idx, train_idx = perm[:n_eval].sort().values, perm[n_eval:].sort().values
    split = {"file": str(path), "fraction": fraction, "seed": seed, "n_seed_pairs": len(train_idx),
             "n_eval_pairs": n_eval, "eval_rows": test_idx.tolist()}
    fresh = lambda idx: PreferencePairs(pairs.e_chosen[idx], pairs.e_rejected[idx])   # noqa: E731  seed i in row i
    return EmbeddingTask(name, fresh(train_idx), fresh(test_idx), info={"eval_split": split})

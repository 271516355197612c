"""Embedding-level datasets: seed preference pairs and Best-of-N candidate sets.

Vocabulary used everywhere: `e_chosen`/`e_rejected` are (N, d) embeddings of the preferred and
dispreferred response of each pair; a Best-of-N set holds `embeddings` (P, N, d) and the gold
reward `gold` (P, N) of N candidate responses for each of P prompts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from .io import LensInputError, check_embeddings, save_safetensors


@dataclass
class PreferencePairs:
    """N preference pairs in embedding space; `seed_index[i]` names the seed pair row i came from.

    `weight` and `label` say how much the reward model should trust each pair (`reward.bradley_terry_loss`):
    a loss weight, and the probability that `e_chosen` is preferred (1 = a hard Bradley-Terry label).
    Augmenters that trust synthetic pairs less set them; originals keep 1 and 1.
    """

    e_chosen: torch.Tensor                     # (N, d)
    e_rejected: torch.Tensor                   # (N, d)
    seed_index: torch.Tensor | None = None     # (N,) long; None means row i is seed pair i
    is_synthetic: torch.Tensor | None = None   # (N,) bool; None means all original
    weight: torch.Tensor | None = None         # (N,) float >= 0, loss weight; None means all 1
    label: torch.Tensor | None = None          # (N,) float in [0.5, 1], P(chosen preferred); None means all 1

    def __post_init__(self) -> None:
        check_embeddings(self.e_chosen, "e_chosen")
        check_embeddings(self.e_rejected, "e_rejected", dim=self.e_chosen.shape[1])
        if self.e_chosen.shape[0] != self.e_rejected.shape[0]:
            raise LensInputError(
                f"e_chosen has {self.e_chosen.shape[0]} rows but e_rejected has {self.e_rejected.shape[0]}"
            )
        n = len(self)
        if self.seed_index is None:
            self.seed_index = torch.arange(n)
        if self.is_synthetic is None:
            self.is_synthetic = torch.zeros(n, dtype=torch.bool)
        self.weight = torch.ones(n) if self.weight is None else self.weight.float()
        self.label = torch.ones(n) if self.label is None else self.label.float()
        for name, v, low, high in (("weight", self.weight, 0.0, float("inf")), ("label", self.label, 0.5, 1.0)):
            if v.shape != (n,):
                raise LensInputError(f"{name}: expected shape ({n},), got {tuple(v.shape)}")
            bad = ~((v >= low) & (v <= high))
            if bad.any():
                raise LensInputError(f"{name}: values must be in [{low}, {high}] (first bad at row {int(bad.nonzero()[0])})")

    def __len__(self) -> int:
        return self.e_chosen.shape[0]

    @property
    def dim(self) -> int:
        return self.e_chosen.shape[1]

    @property
    def trusted_fully(self) -> bool:
        """True when every pair has weight 1 and a hard label (plain Bradley-Terry training)."""
        return bool((self.weight == 1).all() and (self.label == 1).all())

    def subset(self, idx: torch.Tensor) -> "PreferencePairs":
        """Rows `idx`, keeping their seed indices, weights and labels."""
        return PreferencePairs(self.e_chosen[idx], self.e_rejected[idx], self.seed_index[idx], self.is_synthetic[idx],
                               self.weight[idx], self.label[idx])

    @staticmethod
    def cat(parts: "list[PreferencePairs]") -> "PreferencePairs":
        """Rows of `parts` one after the other, keeping seed indices, synthetic flags, weights and labels."""
        return PreferencePairs(*(torch.cat([getattr(p, f) for p in parts])
                                 for f in ("e_chosen", "e_rejected", "seed_index", "is_synthetic", "weight", "label")))

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Save as safetensors (atomic)."""
        tensors = {
            "e_chosen": self.e_chosen.contiguous(),
            "e_rejected": self.e_rejected.contiguous(),
            "seed_index": self.seed_index.contiguous(),
            "is_synthetic": self.is_synthetic.to(torch.uint8).contiguous(),
        }
        if not self.trusted_fully:   # files of fully trusted pairs stay as before
            tensors |= {"weight": self.weight.contiguous(), "label": self.label.contiguous()}
        save_safetensors(tensors, path, metadata)

    @classmethod
    def load(cls, path: str | Path) -> "PreferencePairs":
        """Load a pairs file written by `save` (or any safetensors with `e_chosen`, `e_rejected`)."""
        t = _load_safetensors(path, required=("e_chosen", "e_rejected"))
        try:
            return cls(
                t["e_chosen"].float(), t["e_rejected"].float(), t.get("seed_index"),
                t["is_synthetic"].bool() if "is_synthetic" in t else None, t.get("weight"), t.get("label"),
            )
        except LensInputError as err:
            raise LensInputError(f"{path}: {err}") from None


@dataclass
class BestOfNSet:
    """P prompts with N candidate responses each, embedded, with their gold rewards."""

    embeddings: torch.Tensor   # (P, N, d)
    gold: torch.Tensor         # (P, N)

    def __post_init__(self) -> None:
        if self.embeddings.ndim != 3:
            raise LensInputError(f"Best-of-N embeddings: expected shape (P, N, d), got {tuple(self.embeddings.shape)}")
        check_embeddings(self.embeddings.reshape(-1, self.embeddings.shape[-1]), "Best-of-N embeddings")
        if tuple(self.gold.shape) != tuple(self.embeddings.shape[:2]):
            raise LensInputError(
                f"Best-of-N gold has shape {tuple(self.gold.shape)}, expected {tuple(self.embeddings.shape[:2])}"
            )
        if not torch.isfinite(self.gold).all():
            raise LensInputError("Best-of-N gold rewards contain NaN or infinite values")

    @property
    def n_prompts(self) -> int:
        return self.embeddings.shape[0]

    @property
    def n_candidates(self) -> int:
        return self.embeddings.shape[1]

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        save_safetensors({"embeddings": self.embeddings, "gold": self.gold}, path, metadata)

    @classmethod
    def load(cls, path: str | Path) -> "BestOfNSet":
        t = _load_safetensors(path, required=("embeddings", "gold"))
        try:
            return cls(t["embeddings"].float(), t["gold"].float())
        except LensInputError as err:
            raise LensInputError(f"{path}: {err}") from None


@dataclass
class EmbeddingTask:
    """What every experiment consumes: seed pairs to learn from and a test set.

    `test` is a `BestOfNSet` (tasks with a gold reward: Best-of-N gold and pairwise accuracy) or a
    `PreferencePairs` of held-out pairs (real human labels, no gold reward: held-out pairwise
    accuracy only). `pool` optionally holds extra responses per training prompt (text-space
    augmentation draws from it): `pool_embeddings` (M, K, d) with `pool_gold` (M, K), row m
    belonging to seed pair m.
    """

    name: str
    train: PreferencePairs
    test: BestOfNSet | PreferencePairs
    pool_embeddings: torch.Tensor | None = None
    pool_gold: torch.Tensor | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        test_dim = self.test.dim if isinstance(self.test, PreferencePairs) else self.test.embeddings.shape[-1]
        if self.train.dim != test_dim:
            raise LensInputError(
                f"task {self.name!r}: train embeddings have d={self.train.dim} but test embeddings have d={test_dim}"
            )

    @property
    def dim(self) -> int:
        return self.train.dim

    @property
    def has_gold(self) -> bool:
        """True when the test set carries gold rewards (Best-of-N); False for held-out human pairs."""
        return isinstance(self.test, BestOfNSet)

    @property
    def primary_metric(self) -> str:
        """The metric the book reports first: "bon_gold" with a gold reward, else "pairwise_accuracy"."""
        return "bon_gold" if self.has_gold else "pairwise_accuracy"

    def with_seed_pairs(self, n: int) -> "EmbeddingTask":
        """The same task with only its first `n` seed pairs (nested subsets for the seed-size ablation)."""
        if not 2 <= n <= len(self.train):
            raise LensInputError(f"task {self.name!r}: n seed pairs must be in 2..{len(self.train)}, got {n}")
        keep = torch.arange(n)
        pool = None if self.pool_embeddings is None else self.pool_embeddings[:n]
        gold = None if self.pool_gold is None else self.pool_gold[:n]
        return EmbeddingTask(self.name, self.train.subset(keep), self.test, pool, gold,
                             {**self.info, "n_seed_pairs": n})


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (model, layer, ... written by `lens embed`); {} if none."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise LensInputError(f"{path}: file not found")
    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:  # safetensors raises several types for a bad header
        raise LensInputError(f"{path}: not a readable safetensors file ({err})") from None


def _load_safetensors(path: str | Path, required: tuple[str, ...]) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise LensInputError(f"{path}: file not found")
    try:
        tensors = load_file(str(path))
    except Exception as err:  # safetensors raises several types for a bad header
        raise LensInputError(f"{path}: not a readable safetensors file ({err})") from None
    missing = [k for k in required if k not in tensors]
    if missing:
        raise LensInputError(f"{path}: missing tensor(s) {missing}; found {sorted(tensors)}")
    return tensors

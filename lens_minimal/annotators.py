"""Who labels the extra response pairs of text-space augmentation (paper, Table 1, text rows).

The shipped tasks keep, for every training prompt, the seed pair's two responses and K pool
responses. We number them per prompt: 0 = the seed's chosen response, 1 = its rejected one,
2..K+1 = the pool. Every pair (i, j) with i < j other than the seed pair (0, 1) is a *candidate*
extra pair: 5 responses give 10 pairs, 9 of them candidates.

An annotator says, for each candidate, whether response i is preferred to response j:

- `SimulatedAnnotator(agreement=a)`: the gold order (a tie in gold: a fair coin), flipped with
  probability 1 - a, independently per pair, from its own seed. It needs no LLM and is the knob of
  the judge-quality sweep (a in {0.6, ..., 1.0}).
- `LabelTable`: labels decided elsewhere (the SmolLM2 judge of `lens_minimal.text.judge`),
  looked up by (prompt row, i, j); pairs it has no label for are not candidates.

`agreement_with_gold` is the share of labelled pairs with distinct gold rewards that an annotator
orders as gold does (gold ties are left out: both orders agree with them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .io import LensInputError


def candidate_pairs(n_responses: int) -> torch.Tensor:
    """All (i, j), i < j, of `n_responses` responses except the seed pair (0, 1). -> (C, 2) long"""
    if n_responses < 3:
        raise LensInputError(f"candidate_pairs: need at least 3 responses per prompt, got {n_responses}")
    i, j = torch.triu_indices(n_responses, n_responses, offset=1)
    keep = ~((i == 0) & (j == 1))
    return torch.stack([i[keep], j[keep]], dim=1)


def responses_gold(gold_chosen: torch.Tensor, gold_rejected: torch.Tensor, pool_gold: torch.Tensor) -> torch.Tensor:
    """Gold reward of every response in the per-prompt numbering. (N,), (N,), (N, K) -> (N, 2 + K)"""
    return torch.cat([gold_chosen.reshape(-1, 1), gold_rejected.reshape(-1, 1), pool_gold], dim=1)


@dataclass
class AnnotatorConfig:
    kind: str = "simulated"       # "simulated" (gold flipped at rate 1 - agreement) or "labels" (a label file)
    agreement: float = 1.0        # simulated: probability of agreeing with gold on a pair with distinct gold
    labels_path: str | None = None  # labels: JSON label file written by `lens_minimal.text.judge` (see LabelTable)

    def __post_init__(self) -> None:
        if self.kind not in ("simulated", "labels"):
            raise LensInputError(f"annotator.kind: unknown value {self.kind!r}; known: ['labels', 'simulated']")
        if not 0.0 <= self.agreement <= 1.0:
            raise LensInputError(f"annotator.agreement must be in [0, 1], got {self.agreement}")
        if self.kind == "labels" and not self.labels_path:
            raise LensInputError("annotator.labels_path: required when annotator.kind is 'labels'")


class SimulatedAnnotator:
    """Agrees with the gold order at rate `agreement`, flipping independently per pair (seeded)."""

    def __init__(self, agreement: float, seed: int = 0):
        if not 0.0 <= agreement <= 1.0:
            raise LensInputError(f"agreement must be in [0, 1], got {agreement}")
        self.agreement, self.seed = float(agreement), seed

    def label(self, gold_i: torch.Tensor, gold_j: torch.Tensor) -> torch.Tensor:
        """Whether response i is preferred to response j, per pair. (M,), (M,) -> (M,) bool"""
        gen = torch.Generator().manual_seed(20_000 + self.seed)
        coin = torch.rand(gold_i.shape, generator=gen) < 0.5             # drawn for every pair: stable streams
        flip = torch.rand(gold_i.shape, generator=gen) >= self.agreement
        gold_says = torch.where(gold_i == gold_j, coin, gold_i > gold_j)
        return gold_says ^ flip


class LabelTable:
    """Labels from a file: rows {"row": prompt row, "i": int, "j": int, "margin": float} (margin > 0: i preferred)."""

    def __init__(self, rows: list[dict], where: str = "labels"):
        self.labels: dict[tuple[int, int, int], bool] = {}
        for k, r in enumerate(rows):
            try:
                key, margin = (int(r["row"]), int(r["i"]), int(r["j"])), float(r["margin"])
            except (KeyError, TypeError, ValueError) as err:
                raise LensInputError(f"{where}: label {k}: needs integer row, i, j and a float margin ({err})") from None
            if key[1] >= key[2]:
                raise LensInputError(f"{where}: label {k}: expects i < j, got i={key[1]}, j={key[2]}")
            self.labels[key] = margin > 0

    @classmethod
    def from_file(cls, path: str, train_ids: list[str] | None = None) -> "LabelTable":
        """Read a label file (JSON with a "labels" list); with `train_ids`, each label's "id" must name its row."""
        import json
        from pathlib import Path

        p = Path(path)
        if not p.is_file():
            raise LensInputError(f"{p}: label file not found (annotator.labels_path)")
        try:
            data = json.loads(p.read_text())
            rows = data.get("payload", data)["labels"]   # a label file, or a cache entry holding one
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise LensInputError(f"{p}: not a label file with a 'labels' list ({err})") from None
        if train_ids is not None:
            for k, r in enumerate(rows):
                row = r.get("row")
                if "id" in r and (not isinstance(row, int) or not 0 <= row < len(train_ids) or train_ids[row] != r["id"]):
                    raise LensInputError(f"{p}: label {k}: id {r['id']!r} does not match training row {row!r} of the task")
        return cls(rows, where=str(p))

    def __len__(self) -> int:
        return len(self.labels)

    def has(self, rows: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """Which (row, i, j) have a label. (M,), (M, 2) -> (M,) bool"""
        return torch.tensor([(int(r), int(p[0]), int(p[1])) in self.labels for r, p in zip(rows, pairs)], dtype=torch.bool)

    def label(self, rows: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """Whether response i is preferred to j, for labelled (row, i, j). -> (M,) bool"""
        return torch.tensor([self.labels[(int(r), int(p[0]), int(p[1]))] for r, p in zip(rows, pairs)], dtype=torch.bool)


def agreement_with_gold(prefers_i: torch.Tensor, gold_i: torch.Tensor, gold_j: torch.Tensor) -> tuple[float, int]:
    """(share of pairs with distinct gold that the labels order as gold does, number of such pairs)."""
    distinct = gold_i != gold_j
    n = int(distinct.sum())
    if n == 0:
        return float("nan"), 0
    return float((prefers_i[distinct] == (gold_i > gold_j)[distinct]).float().mean()), n

"""The reward model: a small MLP on embeddings trained with the Bradley-Terry loss (paper, Method step 4).

    L_BT = -E log sigma(r(e+) - r(e-))

With label smoothing eps (the regularised pairwise ranking loss of GRAM, arXiv 2506.14175):
    L_eps = -E [(1 - eps) log sigma(r(e+) - r(e-)) + eps log sigma(r(e-) - r(e+))];  eps = 0 is L_BT.

Per-pair trust (`PreferencePairs.weight` w_i and `.label` y_i, set by augmenters that trust synthetic
pairs less): the target probability becomes p_i = (1 - eps) y_i + eps (1 - y_i) and the mean is
weighted,
    L = sum_i w_i l_i / sum_i w_i,   l_i = -[p_i log sigma(m_i) + (1 - p_i) log sigma(-m_i)].
With every w_i = y_i = 1 this is L_eps exactly.

Training: AdamW, mini-batches of pairs, early stopping on the Bradley-Terry loss of held-out seed
pairs (never synthetic ones), restoring the best epoch. With `early_stopping=False` it trains for
exactly `max_epochs` epochs and keeps the last one (the held-out loss is still recorded, never
used): the protocol of a paper that fixes the number of epochs.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from tqdm.auto import trange

from .config import from_dict
from .data import PreferencePairs
from .io import LensInputError, save_safetensors


@dataclass
class RewardConfig:
    hidden_dim: int = 256         # width of the single hidden layer; 0 = a linear reward (a linear probe)
    dropout: float = 0.1          # dropout after the hidden layer
    lr: float = 1e-3              # AdamW learning rate
    weight_decay: float = 0.01    # AdamW weight decay
    batch_size: int = 64          # pairs per step
    max_epochs: int = 30          # upper bound on epochs (over the augmented set)
    patience: int = 4             # epochs without validation improvement before stopping
    label_smoothing: float = 0.0  # eps of the regularised ranking loss; 0 = Bradley-Terry
    max_steps_per_epoch: int | None = None  # cap steps per epoch (keeps large augmented sets comparable); None = full pass
    early_stopping: bool = True   # False: train exactly max_epochs epochs and keep the last (no model selection)

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 0.5:
            raise LensInputError(f"RewardConfig.label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if not 0.0 <= self.dropout < 1.0:
            raise LensInputError(f"RewardConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.hidden_dim < 0:
            raise LensInputError(f"RewardConfig.hidden_dim must be >= 0 (0 = linear), got {self.hidden_dim}")
        for name in ("max_epochs", "patience", "batch_size"):
            if getattr(self, name) < 1:
                raise LensInputError(f"RewardConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise LensInputError(f"RewardConfig.max_steps_per_epoch must be >= 1 or None, got {self.max_steps_per_epoch}")


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor, label_smoothing: float = 0.0,
                       weight: torch.Tensor | None = None, label: torch.Tensor | None = None) -> torch.Tensor:
    """(Weighted) mean of the (label-smoothed, soft-labelled) Bradley-Terry loss over pairs. (n,), (n,) -> scalar

    `weight` (n,) and `label` (n,) are the per-pair trust of `PreferencePairs`; None = all 1.
    """
    margin = r_chosen - r_rejected
    if weight is None and label is None:
        if label_smoothing == 0.0:
            return -F.logsigmoid(margin).mean()
        return -((1 - label_smoothing) * F.logsigmoid(margin) + label_smoothing * F.logsigmoid(-margin)).mean()
    y = torch.ones_like(margin) if label is None else label
    p = (1 - label_smoothing) * y + label_smoothing * (1 - y)                 # (n,) target P(chosen preferred)
    per_pair = -(p * F.logsigmoid(margin) + (1 - p) * F.logsigmoid(-margin))  # (n,)
    if weight is None:
        return per_pair.mean()
    return (weight * per_pair).sum() / weight.sum().clamp_min(1e-12)


class RewardMLP(nn.Module):
    """r_o(e): standardise, Linear(d, h) -> GELU -> Dropout -> Linear(h, 1); with h = 0, Linear(d, 1)."""

    def __init__(self, dim: int, config: RewardConfig | None = None):
        super().__init__()
        self.config = config = config or RewardConfig()
        h = config.hidden_dim
        self.net = nn.Sequential(nn.Linear(dim, 1)) if h == 0 else nn.Sequential(
            nn.Linear(dim, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, 1),
        )
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def fit_standardizer(self, e: torch.Tensor) -> None:
        self.center.copy_(e.mean(0))
        self.scale.copy_(e.std(0).clamp_min(1e-6))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """Scalar reward per embedding. (..., d) -> (...)"""
        return self.net((e - self.center) / self.scale).squeeze(-1)

    @torch.no_grad()
    def score(self, e: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Rewards in eval mode, batched over the leading dimension of e (..., d)."""
        was_training = self.training
        self.eval()
        flat = e.reshape(-1, e.shape[-1])
        out = torch.cat([self(flat[i: i + batch_size]) for i in range(0, len(flat), batch_size)])
        self.train(was_training)
        return out.reshape(e.shape[:-1])


def train_reward_model(
    train: PreferencePairs, val: PreferencePairs, config: RewardConfig | None = None, seed: int = 0,
    standardize_on: torch.Tensor | None = None, progress: bool = False,
) -> tuple[RewardMLP, dict[str, list[float]]]:
    """Train `RewardMLP` on `train` pairs, early-stopped on `val` pairs' BT loss; returns (model, history).

    With `config.early_stopping=False`: exactly `max_epochs` epochs, the last one kept.
    `history`: per epoch `train_loss`, `val_loss`, `val_accuracy` and `steps` (optimiser steps so far);
    `kept_epoch` = [the 1-based epoch whose weights are returned].

    `standardize_on` (n, d): embeddings whose statistics set the input standardisation (default:
    the original, non-synthetic training embeddings), so every method sees the same input scaling.
    `progress` shows a bar over epochs (only on a terminal).
    """
    config = config or RewardConfig()
    if len(val) == 0:
        raise LensInputError("train_reward_model: the validation set is empty")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = RewardMLP(train.dim, config)
    if standardize_on is None:
        orig = ~train.is_synthetic
        standardize_on = torch.cat([train.e_chosen[orig], train.e_rejected[orig]])
    model.fit_standardizer(standardize_on)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": [], "steps": []}
    best_loss, best_state, bad_epochs, best_epoch, steps_done = float("inf"), copy.deepcopy(model.state_dict()), 0, 0, 0
    n = len(train)
    trust = not train.trusted_fully   # per-pair weights/labels in play (else the plain, faster loss)
    for _ in trange(config.max_epochs, desc="reward model", disable=None if progress else True, leave=False):
        model.train()
        perm = torch.randperm(n, generator=gen)
        steps = range(0, n, config.batch_size)
        if config.max_steps_per_epoch is not None:
            steps = list(steps)[: config.max_steps_per_epoch]
        total = 0.0
        for b in steps:
            idx = perm[b: b + config.batch_size]
            loss = bradley_terry_loss(model(train.e_chosen[idx]), model(train.e_rejected[idx]), config.label_smoothing,
                                      *((train.weight[idx], train.label[idx]) if trust else (None, None)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            steps_done += 1
        history["train_loss"].append(total / max(1, len(steps)))
        history["steps"].append(steps_done)
        val_loss, val_acc = evaluate_pairs(model, val)
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_acc)
        if not config.early_stopping:
            continue
        if val_loss < best_loss - 1e-5:
            best_loss, best_state, bad_epochs, best_epoch = val_loss, copy.deepcopy(model.state_dict()), 0, len(history["val_loss"])
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience:
                break
    if config.early_stopping:
        model.load_state_dict(best_state)
    history["kept_epoch"] = [best_epoch if config.early_stopping else len(history["val_loss"])]
    return model.eval(), history


@torch.no_grad()
def evaluate_pairs(model: RewardMLP, pairs: PreferencePairs) -> tuple[float, float]:
    """(Bradley-Terry loss, accuracy) of `model` on `pairs`; ties count as half right."""
    margin = model.score(pairs.e_chosen) - model.score(pairs.e_rejected)
    acc = ((margin > 0).float() + 0.5 * (margin == 0).float()).mean().item()
    return -F.logsigmoid(margin).mean().item(), acc


def save_reward_model(model: RewardMLP, path: str | Path, extra: dict | None = None) -> None:
    """Save weights and config as safetensors (atomic); the config travels in the metadata."""
    meta = {"config": json.dumps(asdict(model.config)), "dim": str(model.center.shape[0]), **(extra or {})}
    save_safetensors(dict(model.state_dict()), path, meta)


def load_reward_model(path: str | Path) -> RewardMLP:
    """Load a reward model written by `save_reward_model`."""
    path = Path(path)
    if not path.is_file():
        raise LensInputError(f"{path}: file not found")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
        model = RewardMLP(int(meta["dim"]), from_dict(RewardConfig, json.loads(meta["config"]), str(path)))
        model.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, OSError) as err:
        raise LensInputError(f"{path}: not a reward model written by `lens train-rm` ({err})") from None
    return model.eval()

"""Evaluation of a reward model (paper, Evaluation protocol).

- Best-of-N: for each prompt, the reward model picks the highest-scoring of N candidates; the metric
  is the mean gold reward of the picks. Beside it: `random` (expected gold of a uniform pick, i.e.
  the mean gold) and `oracle` (the gold-best candidate).
- Pairwise accuracy on held-out pairs: every pair of candidates of a test prompt whose gold rewards
  differ, counted right when the reward model orders it as the gold reward does (ties: half).
  On data without a gold reward (real human pairs, e.g. HH-RLHF) the test set is a set of
  held-out preference pairs and this is the only metric: the share of pairs where the chosen
  response scores higher (ties: half).
- Bootstrap 95% intervals over prompts or held-out pairs (scipy.stats.bootstrap, percentile method,
  fixed seed); `paired_gain_ci` compares two methods on the same items and seeds.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from .data import BestOfNSet, PreferencePairs
from .io import LensInputError


def best_of_n_picks(scores: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Gold reward of the top-scored candidate per prompt (first index on ties). (P, N), (P, N) -> (P,)"""
    if scores.shape != gold.shape:
        raise LensInputError(f"scores shape {tuple(scores.shape)} does not match gold shape {tuple(gold.shape)}")
    return gold.gather(1, scores.argmax(dim=1, keepdim=True)).squeeze(1)


def best_of_n(scores: torch.Tensor, gold: torch.Tensor, n: int | None = None) -> dict[str, float]:
    """Mean gold reward of the Best-of-n pick, with the random-pick and oracle-pick references.

    `n` < N uses the first n candidates of each prompt (candidates are i.i.d. samples).
    """
    if n is not None:
        scores, gold = scores[:, :n], gold[:, :n]
    return {
        "bon_gold": best_of_n_picks(scores, gold).mean().item(),
        "bon_random": gold.mean().item(),
        "bon_oracle": gold.max(dim=1).values.mean().item(),
    }


def pairwise_accuracy(scores: torch.Tensor, gold: torch.Tensor) -> float:
    """Accuracy over all within-prompt candidate pairs with distinct gold rewards (ties in score: half)."""
    i, j = torch.triu_indices(gold.shape[1], gold.shape[1], offset=1)
    dg = gold[:, i] - gold[:, j]                     # (P, C)
    ds = scores[:, i] - scores[:, j]
    valid = dg != 0
    if not valid.any():
        raise LensInputError("pairwise accuracy: no candidate pair has distinct gold rewards")
    right = (torch.sign(ds) == torch.sign(dg)).float() + 0.5 * (ds == 0).float()
    return right[valid].mean().item()


def bootstrap_ci(values: np.ndarray | torch.Tensor, other: np.ndarray | torch.Tensor | None = None,
                 n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """95% bootstrap interval of mean(values), or of mean(values - other) paired by prompt."""
    v = np.asarray(values, dtype=float)
    data = (v,) if other is None else (v, np.asarray(other, dtype=float))
    stat = (lambda x, axis: x.mean(axis=axis)) if other is None else (lambda x, y, axis: (x - y).mean(axis=axis))
    res = stats.bootstrap(data, stat, paired=other is not None, vectorized=True, n_resamples=n_resamples,
                          confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def t_halfwidth(values: np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the Student-t interval of mean(values) (over seeds); NaN for fewer than two values."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def held_out_pair_scores(model: torch.nn.Module, pairs: PreferencePairs) -> torch.Tensor:
    """Per held-out pair: 1 if the chosen response scores higher, 0 if lower, 0.5 on a tie. (N,)"""
    margin = model.score(pairs.e_chosen) - model.score(pairs.e_rejected)     # (N,)
    return (margin > 0).float() + 0.5 * (margin == 0).float()


def evaluate_reward_model(model: torch.nn.Module, test: BestOfNSet | PreferencePairs, n: int | None = None,
                          per_item: bool = False) -> dict:
    """Metrics of `model` on `test`, each with a 95% bootstrap interval over prompts (or pairs).

    Best-of-N set: `bon_gold` (+ `bon_random`, `bon_oracle`, interval) and `pairwise_accuracy`.
    Held-out pairs: `pairwise_accuracy` (+ interval); the Best-of-N keys are NaN.
    `per_item=True` adds `per_item`: the picked gold per prompt, or the 1/0.5/0 score per held-out
    pair, the unit that `paired_gain_ci` resamples.
    """
    if isinstance(test, PreferencePairs):
        right = held_out_pair_scores(model, test)
        low, high = bootstrap_ci(right)
        out = {"bon_gold": float("nan"), "bon_random": float("nan"), "bon_oracle": float("nan"),
               "bon_gold_ci_low": float("nan"), "bon_gold_ci_high": float("nan"),
               "pairwise_accuracy": right.mean().item(), "pairwise_accuracy_ci_low": low,
               "pairwise_accuracy_ci_high": high}
        return {**out, "per_item": right.tolist()} if per_item else out
    scores = model.score(test.embeddings)             # (P, N)
    out = best_of_n(scores, test.gold, n)
    picks = best_of_n_picks(scores if n is None else scores[:, :n], test.gold if n is None else test.gold[:, :n])
    out["bon_gold_ci_low"], out["bon_gold_ci_high"] = bootstrap_ci(picks)
    out["pairwise_accuracy"] = pairwise_accuracy(scores, test.gold)
    return {**out, "per_item": picks.tolist()} if per_item else out


def paired_gain_ci(a: np.ndarray, b: np.ndarray, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Gain of method A over method B on the same test items: per-item scores (S, P) for S seeds.

    The gain is mean over seeds and items of a - b; its interval resamples the P items (prompts or
    held-out pairs) of the seed-averaged differences (scipy.stats.bootstrap, paired), so it covers
    the test-set sampling error; the seeds' spread is reported beside it (`gain_sd_over_seeds`).
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape != b.shape:
        raise LensInputError(f"paired gain: per-item scores of shape {a.shape} and {b.shape} differ "
                             "(same seeds and test items needed)")
    low, high = bootstrap_ci(a.mean(axis=0), b.mean(axis=0), seed=seed, confidence=confidence)
    per_seed = (a - b).mean(axis=1)
    return {"gain": float(per_seed.mean()), "gain_ci_low": low, "gain_ci_high": high,
            "gain_sd_over_seeds": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan"),
            "n_seeds": int(a.shape[0]), "n_items": int(a.shape[1])}

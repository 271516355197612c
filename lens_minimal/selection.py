"""The pre-registered protocol of the "beyond latent synthesis" study, as code.

Fixed before any test number was looked at (and stated first in `notebooks/beyond_latent_synthesis.ipynb`):

1. Split every dataset's test items once (`split_test`): a random `dev_fraction` of the prompts
   (Best-of-N tasks) or held-out pairs (human-label tasks) is the *dev slice*; the rest is the
   *final slice*. Variants and their settings are compared on the dev slice only.
2. Validation: every candidate (variant x settings x ratio) and no augmentation are run with the
   validation seeds; the gain over no augmentation on the dev slice, with its paired bootstrap 95%
   interval over dev items (`experiment.paired_gains`), gives a standardised gain per dataset,
   z = gain / ((high - low) / (2 * 1.96)).
3. Choice (`choose`): the candidate whose `min_wins`-th largest z over the datasets is highest (the
   win rule below needs `min_wins` datasets, so this is the dataset that decides); ties go to the
   higher mean z, then to the earlier candidate in the pre-registered list.
4. Confirmation, once: the chosen candidate and no augmentation with the confirmation seeds (others
   than the validation seeds), on the final slice only; paired bootstrap 95% interval of the gain.
5. Verdict (`verdict`): the chosen candidate wins where the interval's lower end is above 0, and
   wins the study when that holds on at least `min_wins` datasets (2 of 3 by default).
"""
from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
import torch

from .data import BestOfNSet, EmbeddingTask, PreferencePairs
from .io import LensInputError

Z95 = 1.959963984540054   # standard normal quantile of a two-sided 95% interval


def dev_final_split(n_items: int, dev_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(dev, final) item indices, each sorted: a seeded permutation's first round(dev_fraction * n) items are dev."""
    if not 0.0 < dev_fraction < 1.0:
        raise LensInputError(f"dev_fraction must be in (0, 1), got {dev_fraction}")
    n_dev = round(dev_fraction * n_items)
    if not 1 <= n_dev < n_items:
        raise LensInputError(f"dev_fraction {dev_fraction} of {n_items} test items leaves an empty slice")
    perm = torch.randperm(n_items, generator=torch.Generator().manual_seed(30_000 + seed))
    return perm[:n_dev].sort().values, perm[n_dev:].sort().values


def split_test(task: EmbeddingTask, dev_fraction: float = 0.25, seed: int = 0) -> tuple[EmbeddingTask, EmbeddingTask]:
    """The task twice, with the dev slice and with the final slice of its test items (same seed pairs)."""
    test = task.test
    n = test.n_prompts if isinstance(test, BestOfNSet) else len(test)
    out = []
    for name, idx in zip(("dev", "final"), dev_final_split(n, dev_fraction, seed)):
        part = BestOfNSet(test.embeddings[idx], test.gold[idx]) if isinstance(test, BestOfNSet) else \
            PreferencePairs(test.e_chosen[idx], test.e_rejected[idx])
        out.append(EmbeddingTask(task.name, task.train, part, task.pool_embeddings, task.pool_gold,
                                 {**task.info, "test_slice": name}))
    return out[0], out[1]


def standardized_gain(gain: float, low: float, high: float) -> float:
    """gain / its standard error read off a 95% interval; 0 for a zero gain with a zero-width interval."""
    se = (high - low) / (2 * Z95)
    if se > 0:
        return gain / se
    return 0.0 if gain == 0 else math.copysign(math.inf, gain)


def score_candidates(gains: pd.DataFrame, order: Sequence[str], min_wins: int = 2) -> pd.DataFrame:
    """One row per candidate: its z on each dataset, the `min_wins`-th largest z (`score`), the mean z, its rank.

    `gains`: rows (task, candidate, gain, gain_ci_low, gain_ci_high), one per candidate and dataset,
    e.g. `experiment.paired_gains` on the dev slice with the candidate in column `candidate`.
    `order`: the pre-registered candidate list (tie-break); every candidate must have every dataset.
    """
    missing_cols = {"task", "candidate", "gain", "gain_ci_low", "gain_ci_high"} - set(gains.columns)
    if missing_cols:
        raise LensInputError(f"score_candidates: columns {sorted(missing_cols)} missing")
    tasks = list(dict.fromkeys(gains.task))
    if not 1 <= min_wins <= len(tasks):
        raise LensInputError(f"min_wins must be in 1..{len(tasks)} (datasets: {tasks}), got {min_wins}")
    unknown = sorted(set(gains.candidate) - set(order))
    if unknown:
        raise LensInputError(f"score_candidates: candidates {unknown} are not in the pre-registered list")
    rows = []
    for rank_in_list, cand in enumerate(order):
        g = gains[gains.candidate == cand].set_index("task")
        if sorted(g.index) != sorted(tasks) or g.index.has_duplicates:
            raise LensInputError(f"candidate {cand!r}: needs exactly one validation result per dataset {tasks}, "
                                 f"got {list(g.index)}")
        z = {t: standardized_gain(g.at[t, "gain"], g.at[t, "gain_ci_low"], g.at[t, "gain_ci_high"]) for t in tasks}
        zs = sorted(z.values(), reverse=True)
        rows.append({"candidate": cand, "order": rank_in_list, **{f"z[{t}]": z[t] for t in tasks},
                     "score": zs[min_wins - 1], "mean_z": sum(zs) / len(zs)})
    out = pd.DataFrame(rows).sort_values(["score", "mean_z", "order"], ascending=[False, False, True], kind="stable")
    out["rank"] = range(1, len(out) + 1)
    return out.reset_index(drop=True)


def choose(gains: pd.DataFrame, order: Sequence[str], min_wins: int = 2) -> str:
    """The pre-registered choice: the top candidate of `score_candidates`."""
    return str(score_candidates(gains, order, min_wins).candidate.iloc[0])


def verdict(confirmation: pd.DataFrame, min_wins: int = 2) -> dict:
    """Win rule on the confirmation gains (rows: task, gain, gain_ci_low, gain_ci_high; one per dataset).

    Returns per-dataset outcomes ("gain": interval above 0, "loss": below 0, "no difference"), the
    number of gains and `wins` (at least `min_wins` gains).
    """
    if confirmation.task.duplicated().any():
        raise LensInputError("verdict: one confirmation row per dataset expected")
    outcome = {}
    for row in confirmation.itertuples():
        outcome[row.task] = "gain" if row.gain_ci_low > 0 else "loss" if row.gain_ci_high < 0 else "no difference"
    n_gains = sum(v == "gain" for v in outcome.values())
    return {"outcome": outcome, "n_gains": n_gains, "min_wins": min_wins, "wins": n_gains >= min_wins}

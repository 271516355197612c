"""The paper's numbers as data, and the claims ledger that sets our numbers beside them.

`data/paper/table1.csv`, `table2.csv` and `claims.yml` transcribe the LENS paper (arXiv 2509.26074,
Tables 1-2 and the text). A claim names the notebook that tests it and a rule (`test`) that turns
that notebook's result file into a verdict: reproduced, partly, not reproduced, or not tested yet.

Differences between two Table 1 cells are paired by seed (same seed, same data split and
initialisation) and get a Student-t interval over seeds: with 3 to 5 seeds a bootstrap over seeds
has too few points to resample.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import paths
from ..evaluation import t_halfwidth
from ..io import LensInputError, read_yaml

# Our stand-in for each of the paper's datasets (see the book's introduction for how they differ).
# Our tasks standing in for each paper dataset; a claim about a dataset with several tasks is judged
# on each (HH-RLHF: the real human pairs first, then the gold-program task).
DATASET_TASK = {"hh": ["hh-harmless", "instructions"], "tldr": ["summaries"]}
DATASET_LABEL = {"hh": "HH-RLHF", "tldr": "TL;DR"}

VERDICTS = ("reproduced", "partly", "not reproduced", "not tested yet")
NOT_TESTED = "not tested yet"
CONFIDENCE = 0.95   # level of every interval in the book

_TABLE1_COLUMNS = ["method", "label", "space", "dataset", "ratio", "bon_gold"]
_TABLE2_COLUMNS = ["quantity", "label", "text_synthesis", "latent_synthesis", "ratio", "unit"]
_ABLATION_COLUMNS = ["ablation", "value", "method", "bon_gold", "note"]
_TEST_FIELDS = {
    "difference": {"type", "dataset", "metric", "a", "b", "expect"},
    "every": {"type", "dataset", "metric", "a", "b", "ratios", "expect"},   # method a against each of b, at each ratio
    "factor": {"type", "quantity", "paper_value"},
    "value": {"type", "key", "paper_value", "rtol"},
    "interval": {"type", "key", "expect", "than"},
    # ablation notebooks (a parameter sweep; see `judge_sweep`): paired gains over test items
    "sweep_best": {"type", "method", "value"},
    "sweep_difference": {"type", "a", "b", "expect"},
    "sweep_every": {"type", "a", "b", "values"},
}
_EXPECT = ("greater", "less", "no_gain")
# which row of the paper's Table 1 (data/paper/table1.csv) each of our cells stands for, where the names differ
PAPER_METHOD = {"none": "lens", "reward_lm_full": "text_full_ft", "reward_lm_lora": "text_lora", "smollm2_judge": "self_rewarding"}


# --- the paper's tables ---------------------------------------------------------------------------

def load_table1(path: str | Path | None = None) -> pd.DataFrame:
    """Paper Table 1 in long form: one row per (method, dataset, ratio) with its Best-of-16 gold reward."""
    path = Path(path or paths.PAPER_DIR / "table1.csv")
    df = _read_csv(path, _TABLE1_COLUMNS)
    bad = df[~df["dataset"].isin(list(DATASET_TASK)) | ~df["ratio"].isin([1, 4, 8])]
    if len(bad):
        raise LensInputError(f"{path}: line {bad.index[0] + 2}: dataset must be hh/tldr and ratio 1/4/8")
    dup = df.duplicated(["method", "dataset", "ratio"])
    if dup.any():
        raise LensInputError(f"{path}: line {int(np.flatnonzero(dup)[0]) + 2}: duplicate (method, dataset, ratio)")
    return df


def load_table2(path: str | Path | None = None) -> pd.DataFrame:
    """Paper Table 2: text vs latent synthesis cost (8x augmentation, HH-RLHF), indexed by quantity."""
    path = Path(path or paths.PAPER_DIR / "table2.csv")
    return _read_csv(path, _TABLE2_COLUMNS).set_index("quantity")


def load_ablations(ablation: str, path: str | Path | None = None) -> pd.DataFrame:
    """The paper's numbers for one ablation (`data/paper/ablations.csv`): value, method, bon_gold, note.

    `value` is written as `value_key` writes it (e.g. "0.01", "100"). The paper gives numbers for
    sigma2 and seed size only; an ablation without numbers gives an empty frame.
    """
    path = Path(path or paths.PAPER_DIR / "ablations.csv")
    df = _read_csv(path, _ABLATION_COLUMNS)
    df["value"] = [value_key(v) for v in df["value"]]
    return df[df["ablation"] == ablation].drop(columns="ablation").reset_index(drop=True)


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise LensInputError(f"{path}: file not found")
    df = pd.read_csv(path)
    if list(df.columns) != columns:
        raise LensInputError(f"{path}: line 1: expected columns {columns}, got {list(df.columns)}")
    return df


# --- the Table 1 contract: per-seed values of every cell ------------------------------------------

TABLE1_METRICS = ("bon_gold", "pairwise_accuracy")


def per_seed_cells(runs: pd.DataFrame, metrics: Sequence[str] = TABLE1_METRICS) -> dict[str, Any]:
    """Per-seed values of every Table 1 cell: what the Table 1 notebook stores and the ledger reads.

    `runs` is `experiment.run_grid` output (one row per task, method, ratio and seed). Returns
    `{task: {method: {str(ratio): {metric: [value of seed s0, s1, ...]}}}}`, seeds in increasing
    order in every cell, so that two cells are paired by position (same seed, same split and
    initialisation). Ratio 1 is method "none".
    """
    cells: dict[str, Any] = {}
    for (t, m, r), g in runs.sort_values("seed").groupby(["task", "method", "ratio"], sort=False):
        cells.setdefault(t, {}).setdefault(m, {})[str(r)] = {k: g[k].tolist() for k in metrics}
    return cells


def cell_values(cells: Mapping[str, Any], task: str, method: str, ratio: int, metric: str) -> list[float]:
    """Per-seed values of one cell of `per_seed_cells` output (KeyError if it was not run)."""
    return cells[task][method][str(ratio)][metric]


def paired_cells(cells: Mapping[str, Any], task: str, a: Mapping[str, Any], b: Mapping[str, Any], metric: str,
                 seeds: Sequence[int] | None = None) -> tuple[list[float], list[float]]:
    """Values of cells `a` and `b` ({method, ratio}) on the seeds both hold, paired by seed. A cell lists
    one value per seed of `seeds` (the result's seeds; None: paired by position), or carries its own
    `seeds` when it was run on fewer (the fine-tuned reward models). KeyError when a cell was not run."""
    def by_seed(cell: Mapping[str, Any]) -> dict[int, float]:
        return dict(zip(cell.get("seeds", range(len(cell[metric])) if seeds is None else seeds), cell[metric]))

    va = by_seed(cells[task][a["method"]][str(a["ratio"])])
    vb = by_seed(cells[task][b["method"]][str(b["ratio"])])
    common = [s for s in va if s in vb]
    return [va[s] for s in common], [vb[s] for s in common]


# --- claims ---------------------------------------------------------------------------------------

@dataclass
class Claim:
    """One claim of the paper (see the header of `data/paper/claims.yml`)."""

    id: str
    section: str
    kind: str                      # "claim" or "scope"
    text: str
    paper: str                     # the paper's number(s), for display
    tested_by: str                 # notebook name or "not tested yet"
    test: dict = field(default_factory=dict)
    headline: str = ""             # short label: the claim is shown in the introduction's headline


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """Read and check `claims.yml`: every field present, ids unique, tests well formed."""
    path = Path(path or paths.PAPER_DIR / "claims.yml")
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise LensInputError(f"{path}: expected a top-level `claims:` list")
    claims, seen = [], set()
    for i, raw in enumerate(doc["claims"], start=1):
        where = f"{path}: claim {i} ({raw.get('id', '?') if isinstance(raw, dict) else '?'})"
        if not isinstance(raw, dict):
            raise LensInputError(f"{where}: expected a mapping")
        required = {"id", "section", "kind", "text", "paper", "tested_by"}
        missing, unknown = required - set(raw), set(raw) - required - {"test", "headline"}
        if missing or unknown:
            raise LensInputError(f"{where}: missing field(s) {sorted(missing)}, unknown field(s) {sorted(unknown)}")
        if not isinstance(raw.get("headline", ""), str):
            raise LensInputError(f"{where}: headline must be a short label (text), got {raw['headline']!r}")
        claim = Claim(**{k: (str(v) if k != "test" else v) for k, v in raw.items()})
        if claim.id in seen:
            raise LensInputError(f"{where}: duplicate id")
        seen.add(claim.id)
        if claim.kind not in ("claim", "scope"):
            raise LensInputError(f"{where}: kind must be 'claim' or 'scope', got {claim.kind!r}")
        _check_test(claim, where)
        claims.append(claim)
    return claims


def _check_test(claim: Claim, where: str) -> None:
    if claim.tested_by == NOT_TESTED:
        if claim.test:
            raise LensInputError(f"{where}: has a `test` but tested_by is {NOT_TESTED!r}")
        return
    if not (paths.NOTEBOOKS_DIR / f"{claim.tested_by}.ipynb").exists():
        raise LensInputError(f"{where}: tested_by names no notebook: notebooks/{claim.tested_by}.ipynb not found")
    kind = claim.test.get("type") if isinstance(claim.test, dict) else None
    if kind not in _TEST_FIELDS:
        raise LensInputError(f"{where}: test.type must be one of {sorted(_TEST_FIELDS)}, got {kind!r}")
    if set(claim.test) != _TEST_FIELDS[kind]:
        raise LensInputError(f"{where}: a {kind} test needs exactly the fields {sorted(_TEST_FIELDS[kind])}")
    if kind == "interval" and claim.test["expect"] not in ("greater", "less"):
        raise LensInputError(f"{where}: an interval test expects 'greater' or 'less', got {claim.test['expect']!r}")
    if kind == "sweep_difference":
        for side in ("a", "b"):
            cell = claim.test[side]
            if not isinstance(cell, dict) or set(cell) != {"value", "method"}:
                raise LensInputError(f"{where}: test.{side} must be {{value: ..., method: ...}}")
        if claim.test["expect"] not in _EXPECT:
            raise LensInputError(f"{where}: test.expect must be in {_EXPECT}")
    if kind == "sweep_every" and not (isinstance(claim.test["values"], list) and claim.test["values"]):
        raise LensInputError(f"{where}: test.values must be a non-empty list of the swept values")
    if kind in ("difference", "every"):
        if claim.test["dataset"] not in DATASET_TASK or claim.test["expect"] not in _EXPECT:
            raise LensInputError(f"{where}: test.dataset must be in {sorted(DATASET_TASK)}, expect in {_EXPECT}")
    if kind == "difference":
        for side in ("a", "b"):
            cell = claim.test[side]
            if not isinstance(cell, dict) or set(cell) != {"method", "ratio"}:
                raise LensInputError(f"{where}: test.{side} must be {{method: ..., ratio: ...}}")
    if kind == "every":
        t = claim.test
        if not (isinstance(t["a"], str) and isinstance(t["b"], list) and t["b"] and isinstance(t["ratios"], list) and t["ratios"]):
            raise LensInputError(f"{where}: an every test needs a: one method, b: a non-empty list of methods, "
                                 "ratios: a non-empty list")


# --- statistics -----------------------------------------------------------------------------------

def paired_difference(a: list[float], b: list[float], confidence: float = CONFIDENCE) -> dict[str, float]:
    """Mean of a[s] - b[s] over seeds s, with a Student-t interval (NaN bounds for a single seed)."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or len(a_arr) == 0:
        raise LensInputError(f"paired_difference: need two equal-length, non-empty lists, got {len(a)} and {len(b)}")
    d = a_arr - b_arr
    mean, half = float(d.mean()), t_halfwidth(d, confidence)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(d)}


def difference_verdict(diff: Mapping[str, float], expect: str) -> str:
    """Verdict for a paired difference `a - b`.

    greater: interval above 0 -> reproduced; mean above 0 -> partly; else not reproduced.
    less:    the mirror image.
    no_gain: mean at or below 0 -> reproduced; above 0 but interval covers 0 -> partly;
             interval above 0 (a clear gain) -> not reproduced.
    """
    mean, lo, hi = diff["mean"], diff["lo"], diff["hi"]
    if expect == "greater":
        return "reproduced" if lo > 0 else "partly" if mean > 0 else "not reproduced"
    if expect == "less":
        return "reproduced" if hi < 0 else "partly" if mean < 0 else "not reproduced"
    if expect == "no_gain":
        return "reproduced" if mean <= 0 else "not reproduced" if lo > 0 else "partly"
    raise LensInputError(f"unknown expectation {expect!r}; known: {_EXPECT}")


def factor_verdict(ours: float, paper: float) -> str:
    """Cost factor (text / latent): reproduced when at least half the paper's, partly when above 1."""
    return "reproduced" if ours >= paper / 2 else "partly" if ours > 1 else "not reproduced"


# --- judging claims -------------------------------------------------------------------------------

@dataclass
class Judgement:
    claim: Claim
    ours: str          # our number(s), as text
    verdict: str       # one of VERDICTS
    detail: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The claim id, with '@task' when the claim is judged on each of several tasks."""
        return f"{self.claim.id}@{self.detail['task']}" if self.detail.get("per_task") else self.claim.id


def judge(claim: Claim, results: Mapping[str, Mapping[str, Any]], task_for: Mapping[str, str] | None = None) -> Judgement:
    """Verdict on `claim` from the result files `results` (notebook name -> record).

    `task_for` maps the paper's datasets to the tasks we ran (default `DATASET_TASK`).
    """
    if claim.kind == "scope" or claim.tested_by == NOT_TESTED:
        return Judgement(claim, "-", NOT_TESTED)
    if claim.tested_by not in results:
        raise LensInputError(f"claim {claim.id}: no results of notebook {claim.tested_by!r} were given")
    record, test = results[claim.tested_by], claim.test
    if test["type"] == "difference":
        return _judge_difference(claim, record, dict(task_for or DATASET_TASK))
    if test["type"] == "every":
        return _judge_every(claim, record, dict(task_for or DATASET_TASK))
    if test["type"].startswith("sweep_"):
        return judge_sweep(claim, record)
    if test["type"] == "factor":
        ours, section = _lookup(record, ("factors", test["quantity"]), claim)
        return Judgement(claim, f"{ours:,.0f}x" if ours >= 100 else f"{ours:.1f}x",
                         factor_verdict(ours, float(test["paper_value"])),
                         {"factor": ours, "from_timings": section == "timings"})
    if test["type"] == "interval":
        return _judge_interval(claim, record)
    ours, section = _lookup(record, (test["key"],), claim)              # type: value
    close = abs(ours - float(test["paper_value"])) <= float(test["rtol"]) * abs(float(test["paper_value"]))
    return Judgement(claim, f"{ours:,.0f}", "reproduced" if close else "not reproduced",
                     {"value": ours, "from_timings": section == "timings"})


def tasks_for(task_for: Mapping[str, str | Sequence[str]] | None) -> dict[str, list[str]]:
    """`task_for` with every value as a list of task names (a single name is a list of one)."""
    return {k: [v] if isinstance(v, str) else list(v) for k, v in (task_for or DATASET_TASK).items()}


def judge_all(claims: Sequence[Claim], results: Mapping[str, Mapping[str, Any]],
              task_for: Mapping[str, str | Sequence[str]] | None = None) -> list[Judgement]:
    """`judge` every claim of kind "claim" (scope notes are listed, not judged), in file order.

    A difference claim about a dataset with several stand-in tasks gives one judgement per task
    (its `detail["task"]` names it), so the ledger shows every verdict side by side."""
    mapping, out = tasks_for(task_for), []
    for c in claims:
        if c.kind != "claim":
            continue
        names = mapping.get(c.test.get("dataset"), []) if c.test and c.test.get("type") in ("difference", "every") else []
        if len(names) > 1:
            for name in names:
                j = judge(c, results, {c.test["dataset"]: name})
                j.detail.update(task=name, per_task=True)
                out.append(j)
        else:
            out.append(judge(c, results, {k: v[0] for k, v in mapping.items() if v}))
    return out


def needed_results(claims: Sequence[Claim]) -> list[str]:
    """Names of the notebooks whose result files the claims are judged from."""
    return sorted({c.tested_by for c in claims if c.tested_by != NOT_TESTED})


def verdict_counts(judgements: Sequence[Judgement]) -> dict[str, int]:
    """Number of claims per verdict, for every verdict in `VERDICTS` (zeros included)."""
    counts = Counter(j.verdict for j in judgements)
    return {v: counts.get(v, 0) for v in VERDICTS}


def _stand_in(task_for: Mapping[str, Any], dataset: str) -> str | None:
    """The task standing in for `dataset` (the first, where `task_for` lists several)."""
    task = task_for.get(dataset)
    return task[0] if isinstance(task, (list, tuple)) and task else task


def _metric_label(task: str, metric: str) -> str:
    return f"{task} ({'held-out accuracy' if metric == 'pairwise_accuracy' else 'gold'})"


def _judge_difference(claim: Claim, record: Mapping[str, Any], task_for: Mapping[str, Any]) -> Judgement:
    test = claim.test
    task = _stand_in(task_for, test["dataset"])
    cells = record["numbers"].get("cells", {})
    if task is None:
        return Judgement(claim, f"no task stands in for {DATASET_LABEL[test['dataset']]} here", NOT_TESTED)
    if task not in cells:
        return Judgement(claim, f"task {task!r} not run in this profile", NOT_TESTED, {"task": task})
    try:
        metric = _task_metric(cells, task, test["metric"])
        a, b = paired_cells(cells, task, test["a"], test["b"], metric, record.get("seeds"))
    except KeyError:
        return Judgement(claim, f"{task}: cell not run in this profile", NOT_TESTED, {"task": task})
    if not a:
        return Judgement(claim, f"{task}: the two cells share no seed", NOT_TESTED, {"task": task})
    diff = paired_difference(a, b)
    named = f"{_metric_label(task, metric)}: "
    ours = f"{named}{np.mean(a):.3f} vs {np.mean(b):.3f} (diff {diff['mean']:+.3f}"
    ours += f", {CONFIDENCE:.0%} CI [{diff['lo']:+.3f}, {diff['hi']:+.3f}], n={diff['n']})" if diff["n"] > 1 else ")"
    return Judgement(claim, ours, difference_verdict(diff, test["expect"]), {"task": task, "metric": metric, **diff})


def _task_metric(cells: Mapping[str, Any], task: str, metric: str) -> str:
    """`metric`, or held-out pairwise accuracy on a task of real human pairs (no gold: NaN Best-of-N)."""
    if not np.isfinite(cell_values(cells, task, "none", 1, metric)).all():
        return "pairwise_accuracy"
    return metric


def _judge_every(claim: Claim, record: Mapping[str, Any], task_for: Mapping[str, Any]) -> Judgement:
    """Method `a` against each method of `b`, each at each of `ratios` (a at the same ratio), paired by seed.
    Comparisons whose cells were not run are named; the verdict joins those run (`combine_verdicts`), and a
    claim about every comparison is at most "partly" while some were not run."""
    test = claim.test
    task = _stand_in(task_for, test["dataset"])
    cells = record["numbers"].get("cells", {})
    if task is None or task not in cells or "none" not in cells[task]:
        return Judgement(claim, f"{task or DATASET_LABEL[test['dataset']]}: not run in this chapter", NOT_TESTED, {"task": task})
    metric = _task_metric(cells, task, test["metric"])
    done, missing = [], []
    for r in test["ratios"]:
        for m in test["b"]:
            try:
                a, b = paired_cells(cells, task, {"method": test["a"], "ratio": r}, {"method": m, "ratio": r}, metric, record.get("seeds"))
            except KeyError:
                a = b = []
            if not a:
                missing.append(f"{m} {r}x")
                continue
            diff = paired_difference(a, b)
            done.append((f"{m} {r}x", diff, difference_verdict(diff, test["expect"])))
    if not done:
        return Judgement(claim, f"{task}: none of the {len(missing)} comparisons run", NOT_TESTED, {"task": task})
    verdict = combine_verdicts([v for _, _, v in done])
    if missing and verdict == "reproduced":
        verdict = "partly"
    named = f"{_metric_label(task, metric)}, {test['a']} minus: "
    ours = named + "; ".join(f"{name} {format_difference(d)}" for name, d, _ in done)
    ours += f"; not run: {', '.join(missing)}" if missing else ""
    return Judgement(claim, ours, verdict, {"task": task, "metric": metric, "comparisons": {n: d for n, d, _ in done},
                                            "not_run": missing})


def _judge_interval(claim: Claim, record: Mapping[str, Any]) -> Judgement:
    """A number with its interval over seeds, {mean, lo, hi, n} at the dotted `key` under `numbers`,
    against the threshold `than`: reproduced when the interval lies beyond it in the `expect`ed
    direction, partly when only the mean does, else not reproduced."""
    test, node = claim.test, record.get("numbers", {})
    for k in str(test["key"]).split("."):
        node = node.get(k) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not {"mean", "lo", "hi", "n"} <= set(node):
        raise LensInputError(f"claim {claim.id}: result of {claim.tested_by} has no interval {{mean, lo, hi, n}} at {test['key']}")
    than = float(test["than"])
    shifted = {k: float(node[k]) - than for k in ("mean", "lo", "hi")}
    ours = f"{node['mean']:.3f} (95% CI {node['lo']:.3f} to {node['hi']:.3f}, n={node['n']}; threshold {than:g})"
    return Judgement(claim, ours, difference_verdict(shifted, test["expect"]), dict(node))


# --- ablations: verdicts from a parameter sweep --------------------------------------------------
#
# An ablation notebook's `numbers` hold, per task, `metric` (the task's primary metric), `cells`
# ({value: {method: {metric: [per seed]}}}) and `comparisons`: paired gains of one cell `a` over
# another `b` ({value, method} each; value null = the shared no-augmentation baseline), with their
# paired bootstrap 95% interval over test items (`experiment.paired_gains`), as the chapters state
# them. Each task is judged on its own; `combine_verdicts` joins the tasks (mixed verdicts: partly).

def value_key(value: Any) -> str:
    """How a swept value is written in result files and claims: 0.1 -> "0.1", 1.0 -> "1", 100 -> "100"."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def combine_verdicts(verdicts: list[str]) -> str:
    """One verdict from several (tasks, or the values of a sweep): unanimous ones stand, mixed ones are
    "partly"; "not tested yet" parts are left out."""
    tested = [v for v in verdicts if v != NOT_TESTED]
    if not tested:
        return NOT_TESTED
    return tested[0] if len(set(tested)) == 1 else "partly"


def _comparison(task_numbers: Mapping[str, Any], a: Mapping[str, Any], b: Mapping[str, Any]) -> dict | None:
    key = lambda c: (None if c["value"] is None else value_key(c["value"]), c["method"])  # noqa: E731
    for c in task_numbers.get("comparisons", []):
        if key(c["a"]) == key(a) and key(c["b"]) == key(b):
            return {"mean": c["gain"], "lo": c["lo"], "hi": c["hi"], "n": c["n_seeds"]}
    return None


def _cell_mean(task_numbers: Mapping[str, Any], value: str, method: str) -> float:
    return float(np.mean(task_numbers["cells"][value][method][task_numbers["metric"]]))


def judge_sweep(claim: Claim, record: Mapping[str, Any]) -> Judgement:
    """Verdict of a `sweep_*` test on every task of an ablation notebook's results, combined.

    sweep_best:       `value` beats every other value of `method`: reproduced when every other
                      value's gain over it has its interval below 0, partly when every such gain's
                      mean is below 0 (the highest mean), else not reproduced.
    sweep_difference: cell `a` minus cell `b`, read as `difference_verdict` reads it (`expect`).
    sweep_every:      method `a` beats method `b` at every one of `values` that was run:
                      reproduced when every interval is above 0, partly when every mean is, else
                      not reproduced (a value where `a` is not ahead refutes "at every value").
    """
    test, verdicts, words, detail = claim.test, [], [], {}
    tasks = record["numbers"].get("tasks", {})
    for task, tn in tasks.items():
        metric = tn["metric"]
        if test["type"] == "sweep_best":
            best, method = value_key(test["value"]), test["method"]
            if best not in tn["cells"]:
                verdicts.append(NOT_TESTED)
                continue
            others = [v for v in tn["cells"] if v != best and method in tn["cells"][v]]
            diffs = [d for v in others if (d := _comparison(tn, {"value": v, "method": method},
                                                            {"value": best, "method": method})) is not None]
            ahead, clear = sum(d["mean"] < 0 for d in diffs), sum(d["hi"] < 0 for d in diffs)
            parts = [] if not diffs else ["reproduced" if clear == len(diffs) else
                                          "partly" if ahead == len(diffs) else "not reproduced"]
            top = max(others + [best], key=lambda v: _cell_mean(tn, v, method))
            words.append(f"{task} ({metric}): highest mean at {top}; {best} ahead of {ahead} of {len(others)} "
                         f"other values, clearly of {clear}")
        elif test["type"] == "sweep_difference":
            d = _comparison(tn, test["a"], test["b"])
            parts = [] if d is None else [difference_verdict(d, test["expect"])]
            if d is not None:
                words.append(f"{task} ({metric}): {d['mean']:+.3f} (95% CI {d['lo']:+.3f} to {d['hi']:+.3f})")
        else:                                                               # sweep_every
            run = [value_key(v) for v in test["values"] if value_key(v) in tn["cells"]]
            diffs = {v: d for v in run if (d := _comparison(tn, {"value": v, "method": test["a"]},
                                                            {"value": v, "method": test["b"]})) is not None}
            parts = [] if not diffs else ["reproduced" if all(d["lo"] > 0 for d in diffs.values()) else
                                          "partly" if all(d["mean"] > 0 for d in diffs.values()) else "not reproduced"]
            if diffs:
                words.append(f"{task} ({metric}): " + ", ".join(
                    f"{v}: {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]" for v, d in diffs.items() if d))
        verdicts.append(combine_verdicts(parts) if parts else NOT_TESTED)
        detail[task] = verdicts[-1]
    if not words:
        return Judgement(claim, "not run in this profile", NOT_TESTED, detail)
    return Judgement(claim, "; ".join(words), combine_verdicts(verdicts), detail)


def _lookup(record: Mapping[str, Any], keys: tuple[str, ...], claim: Claim) -> tuple[float, str]:
    """(value, section) of `keys` under `numbers`, else under `timings` (machine-dependent numbers)."""
    for section in ("numbers", "timings"):
        node: Any = record.get(section, {})
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is not None:
            return float(node), section
    raise LensInputError(f"claim {claim.id}: result of {claim.tested_by} has no {'.'.join(keys)}")


# --- words for the book ---------------------------------------------------------------------------

def format_difference(diff: Mapping[str, float], digits: int = 3) -> str:
    """'+0.123 (95% CI +0.010 to +0.236, 3 seeds)'; just the mean for a single seed."""
    text = f"{diff['mean']:+.{digits}f}"
    if diff["n"] > 1:
        text += f" ({CONFIDENCE:.0%} CI {diff['lo']:+.{digits}f} to {diff['hi']:+.{digits}f}, {diff['n']} seeds)"
    return text


def compare_words(diff: Mapping[str, float]) -> str:
    """How a paired difference reads: clearly higher, clearly lower, or not clearly different."""
    if diff["lo"] > 0:
        return "higher (the interval excludes 0)"
    if diff["hi"] < 0:
        return "lower (the interval excludes 0)"
    return "not clearly different (the interval includes 0)"


def ledger_markdown(judgements: list[Judgement], link: bool = True) -> str:
    """The claims ledger as a MyST table; the notebook column links to the chapter that measured it."""
    lines = ["| Claim | Paper | Ours | Verdict | Measured in |", "|---|---|---|---|---|"]
    for j in judgements:
        c = j.claim
        where = c.tested_by if c.tested_by == NOT_TESTED or not link else f"[{c.tested_by}]({c.tested_by}.ipynb)"
        cells = [f"**{c.id}**: {c.text}", c.paper, j.ours, f"**{j.verdict}**", where]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def scope_markdown(claims: Sequence[Claim]) -> str:
    """The limits the authors state (claims of kind "scope"), as a bullet list."""
    return "\n".join(f"- {c.text}" for c in claims if c.kind == "scope")


def task_map_words(task_for: Mapping[str, str | Sequence[str]]) -> str:
    """'HH-RLHF → hh-harmless and instructions, TL;DR → summaries'."""
    return ", ".join(f"{DATASET_LABEL[k]} → {' and '.join(v)}" for k, v in tasks_for(task_for).items())

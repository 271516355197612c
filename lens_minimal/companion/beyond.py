"""Beyond the paper: the pre-registered search for a latent synthesis that beats no augmentation.

The protocol is `lens_minimal.selection` (dev/final split of the test items, choice rule, win rule);
this module runs it and keeps its results:

    python -m lens_minimal.companion.beyond                    # every stage of the pre-registered study
    python -m lens_minimal.companion.beyond --stage validation # stop after choosing (commit, then confirm)
    python -m lens_minimal.companion.beyond --stage diagnostics  # what each candidate's synthetic pairs are

Validation runs every candidate of `StudyConfig.candidates` at every ratio, and no augmentation, with
the validation seeds on each dataset's dev slice; the protocol's rule chooses one (candidate, ratio);
confirmation runs that one and no augmentation with the confirmation seeds on the final slice.
Every run's per-item scores are kept, so the notebook recomputes every interval from them.

The study takes tens of CPU-minutes, more than the book's budget, so its result is a committed file
(`data/beyond/latent_synthesis.json`) with provenance per stage (commit, date, versions, wall time),
which `notebooks/beyond_latent_synthesis.ipynb` reads. `load_study` refuses a file computed for other
parameters. The run is resumable: finished runs go to `<out>.partial.jsonl`, each keyed by a hash
of what determines its numbers (`run_key`), and are not redone.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from .. import paths
from ..baselines import METHODS, VARIANTS
from ..config import from_dict
from ..data import EmbeddingTask
from ..datasets import load_task
from ..diagnostics import describe_synthetic
from ..experiment import ExperimentConfig, fit_on_training_split, paired_gains, run_ratios
from ..reward import train_reward_model
from ..io import LensInputError, write_json
from ..selection import choose, score_candidates, split_test, verdict
from . import results
from .figures import METRIC_LABEL, fmt_gain

DEFAULT_PATH = paths.DATA_DIR / "beyond" / "latent_synthesis.json"
STAGES = ("validation", "confirmation", "diagnostics", "all")   # "all": the three, in this order

# The pre-registered candidates: variant x settings (each run at every ratio of the study). The residual
# decode (synthesis.decode = "residual", e + g(z + eta) - g(z)) is the option of `synthesis`.
RESIDUAL = {"decode": "residual"}
CANDIDATES: list[dict[str, Any]] = [
    {"label": "lens", "method": "lens", "config": {}},
    {"label": "orthogonal", "method": "lens_orthogonal", "config": {}},
    {"label": "orthogonal s2=0.1", "method": "lens_orthogonal", "config": {"synthesis": {"sigma2": 0.1}}},
    {"label": "along", "method": "lens_along", "config": {}},
    {"label": "along s2=0.1", "method": "lens_along", "config": {"synthesis": {"sigma2": 0.1}}},
    {"label": "codes", "method": "latent_codes", "config": {}},
    {"label": "ot filter", "method": "lens_ot_filter", "config": {}},
    {"label": "agree filter", "method": "lens_agree_filter", "config": {}},
    {"label": "downweight 0.5", "method": "lens_downweight", "config": {"trust": {"synthetic_weight": 0.5}}},
    {"label": "soft label 0.9", "method": "lens_soft_label", "config": {"trust": {"synthetic_label": 0.9}}},
    {"label": "residual", "method": "lens", "config": {"synthesis": RESIDUAL}},
    {"label": "residual s2=0.1", "method": "lens", "config": {"synthesis": {**RESIDUAL, "sigma2": 0.1}}},
    {"label": "residual s2=1", "method": "lens", "config": {"synthesis": {**RESIDUAL, "sigma2": 1.0}}},
    {"label": "residual orthogonal s2=0.1", "method": "lens_orthogonal", "config": {"synthesis": {**RESIDUAL, "sigma2": 0.1}}},
    {"label": "residual downweight 0.5", "method": "lens_downweight",
     "config": {"synthesis": RESIDUAL, "trust": {"synthetic_weight": 0.5}}},
]


@dataclass
class StudyConfig:
    datasets: list = field(default_factory=lambda: ["instructions", "summaries", "hh-harmless"])
    world: dict = field(default_factory=dict)          # SyntheticWorldConfig overrides (dataset "synthetic")
    candidates: list = field(default_factory=lambda: [dict(c) for c in CANDIDATES])
    ratios: list = field(default_factory=lambda: [4, 8])
    validation_seeds: list = field(default_factory=lambda: [0, 1, 2, 3, 4])
    confirmation_seeds: list = field(default_factory=lambda: list(range(100, 110)))
    dev_fraction: float = 0.25     # share of each dataset's test items in the dev slice
    split_seed: int = 0            # seed of the dev/final split
    config: dict = field(default_factory=dict)          # ExperimentConfig overrides of every run
    min_wins: int = 2              # datasets on which the chosen candidate must gain

    def __post_init__(self) -> None:
        labels = [c.get("label") for c in self.candidates]
        if not labels or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
            raise LensInputError(f"study.candidates: need unique non-empty labels, got {labels}")
        for c in self.candidates:
            if set(c) != {"label", "method", "config"}:
                raise LensInputError(f"study.candidates[{c.get('label')!r}]: keys must be label, method, config; got {sorted(c)}")
            if c["method"] not in METHODS | VARIANTS or c["method"] == "none":
                raise LensInputError(f"study.candidates[{c['label']!r}]: unknown method {c['method']!r}")
            experiment_config(self, c)   # bad settings fail now, not an hour later
        if not self.ratios or any(int(r) != r or r < 2 for r in self.ratios):
            raise LensInputError(f"study.ratios: augmentation ratios >= 2 needed, got {self.ratios}")
        if set(self.validation_seeds) & set(self.confirmation_seeds):
            raise LensInputError("study: validation and confirmation seeds must differ "
                                 f"(shared: {sorted(set(self.validation_seeds) & set(self.confirmation_seeds))})")
        if not self.validation_seeds or not self.confirmation_seeds:
            raise LensInputError("study: validation_seeds and confirmation_seeds must not be empty")
        if not 1 <= self.min_wins <= len(self.datasets):
            raise LensInputError(f"study.min_wins must be in 1..{len(self.datasets)}, got {self.min_wins}")

    def key(self) -> str:
        """sha256 of the parameters: what a partial or cached result must match."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()


def resolve_study(overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """The pre-registered study with `overrides` (an unknown key is an error naming it)."""
    return from_dict(StudyConfig, overrides, "study")


def _merge(a: Mapping, b: Mapping) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def experiment_config(study: StudyConfig, candidate: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """The study's shared settings with the candidate's own on top."""
    where = f"study.candidates[{candidate['label']!r}].config" if candidate else "study.config"
    return from_dict(ExperimentConfig, _merge(study.config, candidate["config"] if candidate else {}), where)


def candidate_name(label: str, ratio: int) -> str:
    """How a (candidate, ratio) cell is named in tables: 'label @4x'."""
    return f"{label} @{ratio}x"


def load_slice(study: StudyConfig, name: str, which: str) -> EmbeddingTask:
    """Dataset `name` with only its `which` ("dev" or "final") slice of test items."""
    dev, final = split_test(load_task(name, world=study.world or None), study.dev_fraction, study.split_seed)
    return dev if which == "dev" else final


def load_slices(study: StudyConfig, which: str) -> dict[str, EmbeddingTask]:
    """Each dataset with only its `which` ("dev" or "final") slice of test items."""
    return {name: load_slice(study, name, which) for name in study.datasets}


NONE = {"label": "none", "method": "none", "config": {}}


def run_key(study: StudyConfig, stage: str, task: str, candidate: Mapping[str, Any], ratios: list, seed: int) -> str:
    """What determines one run's numbers, hashed: a finished run is reused by any study that needs it."""
    what = {"stage": stage, "task": task, "candidate": dict(candidate), "ratios": list(ratios), "seed": seed,
            "config": study.config, "world": study.world, "dev_fraction": study.dev_fraction, "split_seed": study.split_seed}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]


def run_stage(study: StudyConfig, stage: str, candidates: list[Mapping[str, Any]], ratios_of: Callable[[Mapping], list],
              done: dict[str, dict], save_run: Callable[[str, dict], None], progress: bool = True,
              commit: str | None = None) -> list[dict]:
    """Rows of no augmentation and `candidates` on every dataset and seed of `stage`.

    A run = (dataset, candidate, seed) at the candidate's ratios; runs in `done` (by `run_key`) are not
    redone; each new run goes to `save_run(key, {"rows", "seconds", "git_commit"})` as it ends.
    """
    tasks = load_slices(study, "dev" if stage == "validation" else "final")
    seeds = study.validation_seeds if stage == "validation" else study.confirmation_seeds
    out = []
    for name, task in tasks.items():
        vae_cache: dict = {}
        for seed in seeds:
            for cand, ratios in [(NONE, [1])] + [(c, ratios_of(c)) for c in candidates]:
                key = run_key(study, stage, name, cand, ratios, seed)
                if key not in done:
                    t0 = time.perf_counter()
                    cfg = experiment_config(study, cand if cand is not NONE else None)
                    rows = run_ratios(task, cand["method"], ratios, seed, cfg, per_item=True, vae_cache=vae_cache)
                    seconds = time.perf_counter() - t0
                    if progress:
                        print(f"[{stage}] {name} {cand['label']} seed {seed}: {seconds:.1f} s", flush=True)
                    save_run(key, {"rows": [_row(stage, cand, r) for r in rows], "seconds": seconds,
                                   "git_commit": commit or results.git_commit()})
                out += done[key]["rows"]
    return out


def diagnose(study: StudyConfig, progress: bool = True) -> list[dict]:
    """What each candidate's synthetic pairs are (`diagnostics.describe_synthetic`), from seed pairs only.

    Per dataset: the first validation seed and the largest ratio; the candidate fitted on that seed's
    training split exactly as in validation; the reference real pairs are the held-out (early-stopping)
    seed pairs, and the real-data model is that seed's no-augmentation reward model. No test item is used.
    """
    seed, ratio, rows = study.validation_seeds[0], max(study.ratios), []
    for name in study.datasets:
        task, base = load_task(name, world=study.world or None), experiment_config(study)
        _, seeds, val = fit_on_training_split(task, "none", seed, base)
        real_model, _ = train_reward_model(seeds, val, base.reward, seed=seed)   # the 'none' run's model
        vae_cache: dict = {}
        for c in study.candidates:
            t0 = time.perf_counter()
            augmenter, seeds, val = fit_on_training_split(task, c["method"], seed, experiment_config(study, c),
                                                          vae_cache=vae_cache)
            d = describe_synthetic(augmenter.augment(seeds, ratio), val, real_model, seed=seed)
            rows.append({"task": name, "candidate": c["label"], "ratio": ratio, "seed": seed, **d})
            if progress:
                print(f"[diagnostics] {name} {c['label']}: {time.perf_counter() - t0:.1f} s", flush=True)
    return rows


def _row(stage: str, candidate: Mapping[str, Any], r: Mapping[str, Any]) -> dict:
    keep = ("task", "ratio", "seed", "per_item", "bon_gold", "pairwise_accuracy", "n_train_pairs",
            "n_synthetic_pairs", "epochs", "seconds_fit", "seconds_augment", "seconds_train")
    return {"stage": stage, "candidate": candidate["label"], "method": candidate["method"], **{k: r[k] for k in keep}}


def stage_gains(rows: pd.DataFrame) -> pd.DataFrame:
    """Paired gain of every (candidate, ratio) over no augmentation per dataset (`experiment.paired_gains`),
    with the cell's name in `candidate`."""
    df = rows.assign(method=rows.candidate)     # paired_gains groups by (method, ratio); baseline ("none", 1)
    gains = paired_gains(df)
    gains["label"] = gains["method"]
    gains["candidate"] = [candidate_name(m, r) for m, r in zip(gains.method, gains.ratio)]
    return gains.drop(columns="method")


def cell_order(study: StudyConfig) -> list[str]:
    """The pre-registered list of cells (candidate order, then ratio): the choice's tie-break."""
    return [candidate_name(c["label"], r) for c in study.candidates for r in sorted(study.ratios)]


def analyse(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validation gains, candidate scores, the choice, and (when run) confirmation gains and verdict."""
    study = resolve_study(record["study"])
    val = pd.DataFrame(record["validation"]["rows"])
    val_gains = stage_gains(val)
    scores = score_candidates(val_gains, cell_order(study), study.min_wins)
    chosen = choose(val_gains, cell_order(study), study.min_wins)
    metric_of = {t: "pairwise_accuracy" if pd.isna(g.bon_gold).all() else "bon_gold" for t, g in val.groupby("task")}
    out = {"study": study, "validation_gains": val_gains, "scores": scores, "chosen": chosen, "metric_of": metric_of,
           "confirmation_gains": None, "verdict": None,
           "diagnostics": pd.DataFrame(record["diagnostics"]["rows"]) if record.get("diagnostics") else None}
    if record.get("confirmation"):
        conf_gains = stage_gains(pd.DataFrame(record["confirmation"]["rows"]))
        out["confirmation_gains"] = conf_gains
        out["verdict"] = verdict(conf_gains, study.min_wins)
    return out


def statement(analysis: Mapping[str, Any]) -> str:
    """What works, in plain words, written from the numbers (markdown bullets)."""
    study, scores, val = analysis["study"], analysis["scores"], analysis["validation_gains"]
    tasks = list(study.datasets)
    above = val[val.gain_ci_low > 0].groupby("candidate").task.nunique()
    below = val[val.gain_ci_high < 0].groupby("candidate").task.nunique()
    n_cells = len(scores)
    lines = [f"- **Validation** ({len(study.validation_seeds)} seeds, dev slices): of {n_cells} candidate cells, "
             f"{int((above >= study.min_wins).sum())} gained over no augmentation (interval above 0) on at least "
             f"{study.min_wins} of {len(tasks)} datasets, {int((above >= 1).sum())} on at least one; "
             f"{int((below >= 1).sum())} lost (interval below 0) on at least one."]
    lines.append(f"- **Chosen by the pre-registered rule**: `{analysis['chosen']}` "
                 f"(score {scores.iloc[0]['score']:+.2f}: its {_ordinal(study.min_wins)} standardised dev gain over the datasets).")
    v = analysis["verdict"]
    if v is None:
        lines.append("- **Confirmation**: not run yet.")
        return "\n".join(lines)
    conf = analysis["confirmation_gains"].set_index("task")
    parts = [f"{t}: {v['outcome'][t]} ({conf.at[t, 'gain']:+.4f}, 95% CI {conf.at[t, 'gain_ci_low']:+.4f} to "
             f"{conf.at[t, 'gain_ci_high']:+.4f})" for t in tasks]
    lines.append(f"- **Confirmation** ({len(study.confirmation_seeds)} seeds, final slices): " + "; ".join(parts) + ".")
    if v["wins"]:
        lines.append(f"- **Verdict: it wins** - the interval excludes 0 upwards on {v['n_gains']} of {len(tasks)} "
                     f"datasets (the rule needs {study.min_wins}).")
    else:
        lines.append(f"- **Verdict: no winner.** The chosen cell gains clearly on {v['n_gains']} of {len(tasks)} datasets "
                     f"(the rule needs {study.min_wins}), so by the pre-registered rule none of the latent syntheses "
                     "tried here is shown to beat no augmentation.")
    return "\n".join(lines)


def candidates_frame(study: StudyConfig) -> pd.DataFrame:
    """The registered candidates: label, method, settings, and the idea (first line of the method's docstring)."""
    rows = []
    for c in study.candidates:
        doc = " ".join((VARIANTS[c["method"]].__doc__ or "").split("\n\n")[0].split()).rstrip(".") if c["method"] in VARIANTS \
            else f"`{c['method']}` as in the paper's Table 1" + (" (reference)" if not c["config"] else "")
        if c["config"].get("synthesis", {}).get("decode") == "residual":
            doc += "; residual decode e + g(z + eta) - g(z) (`synthesis.decode`, from the open-questions chapter)"
        rows.append({"candidate": c["label"], "method": c["method"], "settings": json.dumps(c["config"]) if c["config"]
                     else "defaults", "idea": doc})
    return pd.DataFrame(rows).set_index("candidate")


DIAGNOSTIC_KEYS = ("nn_distance_ratio", "two_sample_accuracy", "label_agreement_synthetic", "label_agreement_heldout")


def result_numbers(analysis: Mapping[str, Any]) -> dict:
    """The chapter's numbers for its result file: every validation gain, the scores, the choice, the confirmation."""
    val, conf = analysis["validation_gains"], analysis["confirmation_gains"]
    interval = lambda r: {"gain": r.gain, "low": r.gain_ci_low, "high": r.gain_ci_high, "n_seeds": r.n_seeds}  # noqa: E731
    return {
        "study_key": analysis["study"].key(),   # the resolved parameters, hashed
        "validation": {t: {r.candidate: interval(r) for r in val[val.task == t].itertuples()} for t in analysis["study"].datasets},
        "scores": {r.candidate: {"score": r.score, "rank": r.rank} for r in analysis["scores"].itertuples()},
        "chosen": analysis["chosen"],
        "confirmation": None if conf is None else {r.task: interval(r) for r in conf.itertuples()},
        "verdict": analysis["verdict"],
        "diagnostics": None if analysis["diagnostics"] is None else {
            t: {r.candidate: {k: getattr(r, k) for k in DIAGNOSTIC_KEYS} for r in g.itertuples()}
            for t, g in analysis["diagnostics"].groupby("task", sort=False)},
    }


def protocol_text(record: Mapping[str, Any]) -> dict[str, str]:
    """The protocol's parameters and each stage's provenance as short strings, for the chapter's text."""
    s = resolve_study(record["study"])
    out = {"datasets": ", ".join(f"`{t}`" for t in s.datasets), "dev_percent": f"{s.dev_fraction:.0%}",
           "validation_seeds": ", ".join(map(str, s.validation_seeds)),
           "confirmation_seeds": f"{min(s.confirmation_seeds)} to {max(s.confirmation_seeds)} ({len(s.confirmation_seeds)} seeds)",
           "ratios": ", ".join(f"{r}x" for r in s.ratios), "n_cells": str(len(cell_order(s))),
           "min_wins": str(s.min_wins), "n_datasets": str(len(s.datasets)), "chosen": str(record["chosen"])}
    for stage in ("validation", "confirmation"):
        p = record[stage]["provenance"]
        out |= {f"{stage}_commit": p["git_commit"][:12], f"{stage}_date": p["date"][:10],
                f"{stage}_minutes": f"{p['seconds'] / 60:.0f}"}
    return out


def confirmation_frame(analysis: Mapping[str, Any]) -> pd.DataFrame:
    """The chosen cell against no augmentation on each final slice: gain [95% CI], metric, spread, counts, outcome."""
    conf = analysis["confirmation_gains"].set_index("task").loc[list(analysis["study"].datasets)]
    return pd.DataFrame({
        "gain over no augmentation [95% CI]": [fmt_gain(r.gain, r.gain_ci_low, r.gain_ci_high, 4) for r in conf.itertuples()],
        "metric": [METRIC_LABEL[analysis["metric_of"][t]] for t in conf.index],
        "sd over seeds": conf.gain_sd_over_seeds.round(4), "seeds": conf.n_seeds, "final items": conf.n_items,
        "outcome": [analysis["verdict"]["outcome"][t] for t in conf.index]}, index=conf.index)


def _ordinal(n: int) -> str:
    return {1: "largest", 2: "second-largest", 3: "third-largest"}.get(n, f"{n}th-largest")


def chosen_candidate(study: StudyConfig, chosen: str) -> tuple[dict, int]:
    """The candidate dict and ratio behind a cell name."""
    for c in study.candidates:
        for r in study.ratios:
            if candidate_name(c["label"], r) == chosen:
                return dict(c), int(r)
    raise LensInputError(f"chosen cell {chosen!r} is not in the study")


def run_study(study: StudyConfig, stage: str = "all", out: str | Path | None = None, progress: bool = True) -> dict:
    """Run the study's stages and return the record (resumable through `<out>.partial.jsonl` when `out` is given).

    With `out`, the record is written there after each stage (validation alone leaves `confirmation` null).
    """
    if stage not in STAGES:
        raise LensInputError(f"stage must be one of {STAGES}, got {stage!r}")
    commit = results.git_commit()   # at the start: the record this call writes must not make its own runs "dirty"
    partial = Path(f"{out}.partial.jsonl") if out is not None else None
    done = _read_partial(partial)
    record: dict[str, Any] = {"study": dataclasses.asdict(study), "study_key": study.key(), "validation": None,
                              "chosen": None, "confirmation": None}
    if out is not None and Path(out).exists():
        old = json.loads(Path(out).read_text())
        if old.get("study_key") == study.key():
            record = old

    def save_run(key: str, run: dict) -> None:
        done[key] = run
        if partial is not None:
            partial.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "a") as f:
                f.write(json.dumps({"run_key": key, **run}) + "\n")

    def finish(name: str, rows: list[dict], keys: list[str]) -> None:
        record[name] = {"rows": rows, "provenance": _provenance([done[k] for k in keys], commit)}
        if out is not None:
            write_json(out, record)

    def stage_keys(name: str, candidates: list, ratios_of: Callable) -> list[str]:
        seeds = study.validation_seeds if name == "validation" else study.confirmation_seeds
        return [run_key(study, name, t, c, r, s) for t in study.datasets for s in seeds
                for c, r in [(NONE, [1])] + [(c, ratios_of(c)) for c in candidates]]

    every_ratio = lambda c: sorted(study.ratios)   # noqa: E731
    if stage in ("validation", "all") and record["validation"] is None:
        rows = run_stage(study, "validation", study.candidates, every_ratio, done, save_run, progress, commit)
        finish("validation", rows, stage_keys("validation", study.candidates, every_ratio))
    if record["validation"] is None and stage == "confirmation":
        raise LensInputError("the confirmation needs the validation stage first: run with --stage validation")
    if record["validation"] is not None:
        record["chosen"] = analyse(record)["chosen"]
    if stage in ("confirmation", "all") and record["confirmation"] is None:
        cand, ratio = chosen_candidate(study, record["chosen"])
        rows = run_stage(study, "confirmation", [cand], lambda c: [ratio], done, save_run, progress, commit)
        finish("confirmation", rows, stage_keys("confirmation", [cand], lambda c: [ratio]))
    if stage in ("diagnostics", "all") and not record.get("diagnostics"):
        t0 = time.perf_counter()
        rows = diagnose(study, progress)
        record["diagnostics"] = {"rows": rows, "provenance": _provenance(
            [{"seconds": time.perf_counter() - t0, "git_commit": commit}], commit)}
    if out is not None:
        write_json(out, record)
    return record


def _read_partial(path: Path | None) -> dict[str, dict]:
    """Finished runs of a partial file, by run key (a line cut short by an interruption is skipped)."""
    if path is None or not path.exists():
        return {}
    runs = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            print(f"{path}: line {i} is incomplete (an interrupted write); ignored", file=sys.stderr)
            continue
        runs[r.pop("run_key")] = r
    return runs


def _provenance(runs: list[dict], commit: str) -> dict:
    """Commit and date the stage was completed at, the commits its runs were computed at, versions, CPU seconds."""
    return {"git_commit": commit, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "run_commits": sorted({r["git_commit"] for r in runs}), "versions": results.package_versions(),
            "seconds": sum(r["seconds"] for r in runs)}


def spot_check(record: Mapping[str, Any], atol: float = 1e-4) -> str:
    """Recompute two runs of the record (first dataset, first confirmation seed: no augmentation and the
    chosen cell) and compare their mean scores with the stored ones; a stale file raises `LensInputError`."""
    study = resolve_study(record["study"])
    cand, ratio = chosen_candidate(study, record["chosen"])
    name, seed = study.datasets[0], study.confirmation_seeds[0]
    task = load_slice(study, name, "final")
    stored = {(r["candidate"], r["ratio"]): r for r in record["confirmation"]["rows"] if r["task"] == name and r["seed"] == seed}
    for c, ratios in ((NONE, [1]), (cand, [ratio])):
        got = run_ratios(task, c["method"], ratios, seed, experiment_config(study, c if c is not NONE else None), per_item=True)[0]
        want = stored[(c["label"], ratios[0])]
        a, b = sum(got["per_item"]) / len(got["per_item"]), sum(want["per_item"]) / len(want["per_item"])
        if abs(a - b) > atol:
            raise LensInputError(f"spot check: {name} {c['label']} seed {seed} gives {a:.6f} now but {b:.6f} in the "
                                 "result file; the file is stale: rerun `python -m lens_minimal.companion.beyond`")
    return f"{name}, seed {seed}: no augmentation and {record['chosen']} recomputed, both equal to the file"


def load_study(study: StudyConfig, path: str | Path | None = None) -> dict:
    """The cached record at `path` (default `data/beyond/latent_synthesis.json`), refused unless it was
    computed for exactly `study` and holds both stages."""
    path = Path(path or DEFAULT_PATH)
    if not path.exists():
        raise LensInputError(f"{path}: no cached study; run `python -m lens_minimal.companion.beyond --out {path}` "
                             "(tens of CPU-minutes) or set recompute = True")
    record = json.loads(path.read_text())
    if record.get("study_key") != study.key():
        cached = record.get("study", {})
        asked = dataclasses.asdict(study)
        differ = sorted(k for k in set(cached) | set(asked) if cached.get(k) != asked.get(k))
        raise LensInputError(f"{path}: cached for other study parameters (differ in {differ}); "
                             "rerun `python -m lens_minimal.companion.beyond` with these parameters or set recompute = True")
    if not record.get("validation") or not record.get("confirmation"):
        raise LensInputError(f"{path}: the study is incomplete (validation and confirmation needed); "
                             "finish it with `python -m lens_minimal.companion.beyond`")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lens_minimal.companion.beyond", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=STAGES, default="all")
    p.add_argument("--study", type=Path, help="JSON file of StudyConfig overrides (default: the pre-registered study)")
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help="result file (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        study = resolve_study(json.loads(args.study.read_text()) if args.study else None)
        record = run_study(study, args.stage, args.out)
    except LensInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"chosen: {record['chosen']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`hh-harmless`: the HH-RLHF harmless-base test split as a shipped dataset with real human labels.

Source: Anthropic HH-RLHF (Bai et al. 2022, arXiv 2204.05862), harmless-base tranche, test split,
2,312 human-labelled pairs, MIT licence; shipped byte-identical in `data/hh-harmless/`. The
dialogues are red-teaming conversations and contain offensive text by design.

Embedding (same rules as the other shipped tasks): the HH-RLHF loader splits each dialogue into
the prompt (every turn through the last "Assistant:", as chat messages) and the response (the
final turn); `format_chat` renders them with SmolLM2's chat template; the float32 model is read at
the last real token; layers `last`, 10 and 20; stored float16 as (P, 2, d) = chosen, rejected.
Truncation: a text longer than `max_length` tokens keeps its END (the response and the final
token), so the start of a long dialogue is what gets cut; the count is in the manifest.

Split (fixed, documented, stored in `split.json` and checked by the manifest): a permutation of
the rows seeded by `split_seed`; its first `n_train` rows are the seed pairs (in that order, so
the first n of them are a nested subset for the seed-size ablation), the rest are held out.

Layout: `data/hh-harmless/pairs/shard-XXX.{jsonl.gz,safetensors}` in file order, `split.json`,
`manifest.json`, the source file and its licence, and the data card `README.md`.
Build: `lens build-data --tasks hh-harmless` (resumable shard by shard, like the other tasks).
Load: `lens_minimal.datasets.load_task("hh-harmless", layer=...)`: train = the seed pairs, test =
the held-out pairs (`PreferencePairs`; the metric is held-out pairwise accuracy, no gold reward).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import platform
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .. import paths
from ..data import EmbeddingTask, PreferencePairs
from ..io import LensInputError, atomic_path, sha256_file, write_json
from .shards import gzip_jsonl, layer_name, read_jsonl_gz, shard_complete, shard_paths
from .shipped import read_manifest, verify_files

NAME = "hh-harmless"
SOURCE_FILE = "hh-rlhf-harmless-base-test.jsonl.gz"
SOURCE_SHA256 = "ebfaaed21162a4de120ae85366075b34425e2a6303fac59b99555002f7016f03"
LICENSE_FILE = "LICENSE-hh-rlhf.txt"
SPLIT = "pairs"


@dataclass
class HHBuildConfig:
    model: str = "smollm2-135m-instruct"   # registry name / folder / hub id (lens_minimal.models)
    shard_size: int = 100                  # rows per shard (the unit of resumption)
    max_length: int = 1024                 # tokens per text; longer texts keep their end
    embed_batch_size: int = 8              # texts per forward pass (sorted by length inside a shard)
    layers: list = field(default_factory=lambda: [-1, 10, 20])   # -1 = last (after final norm)
    n_train: int = 1000                    # seed pairs; the other rows are held out
    split_seed: int = 0                    # seed of the row permutation that defines the split

    def key(self) -> str:
        """sha256 identifying what a shard holds (the split does not change shards)."""
        keep = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("n_train", "split_seed")}
        return hashlib.sha256(json.dumps({"task": NAME, **keep}, sort_keys=True).encode()).hexdigest()


def source_path(data_dir: str | Path | None = None) -> Path:
    """The shipped HH-RLHF file; its sha256 is checked before use."""
    path = Path(data_dir or paths.DATA_DIR) / NAME / SOURCE_FILE
    if not path.is_file():
        raise LensInputError(f"{path}: the HH-RLHF source file is missing (it ships with the repository)")
    if sha256_file(path) != SOURCE_SHA256:
        raise LensInputError(f"{path}: sha256 differs from the shipped HH-RLHF file (damaged or replaced)")
    return path


def read_rows(path: Path) -> list[dict]:
    """Every row of the source as {id (0-based line), prompt (messages), chosen, rejected}."""
    from .loaders import load_preferences

    with warnings.catch_warnings(record=True):   # the 5 repaired rows are counted in the manifest instead
        warnings.simplefilter("always")
        records = load_preferences(path, "hh-rlhf")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        n_lines = sum(1 for line in f if line.strip())
    if len(records) != n_lines:
        raise LensInputError(f"{path}: {n_lines} rows but {len(records)} usable pairs; expected every row to load")
    return [{"id": i, "prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for i, r in enumerate(records)]


def make_split(n_rows: int, n_train: int, seed: int) -> dict:
    """{"train": row ids in seed-pair order (nested prefixes), "test": sorted held-out row ids}."""
    if not 0 < n_train < n_rows:
        raise LensInputError(f"n_train must be in 1..{n_rows - 1}, got {n_train}")
    perm = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed)).tolist()
    return {"seed": seed, "n_rows": n_rows, "train": perm[:n_train], "test": sorted(perm[n_train:])}


def _build_shard(model, tok, cfg: HHBuildConfig, rows: list[dict], s: int, out: Path) -> None:
    from .embeddings import extract_embeddings, format_chat

    texts = [format_chat(tok, r["prompt"], y) for r in rows for y in (r["chosen"], r["rejected"])]
    n_tok = [len(x) for x in tok(texts, add_special_tokens=False)["input_ids"]]
    e = extract_embeddings(model, tok, texts, layers=tuple(cfg.layers), pooling="last", max_length=cfg.max_length,
                           batch_size=cfg.embed_batch_size, progress=False)
    done = [{**r, "n_tokens": [n_tok[2 * i], n_tok[2 * i + 1]]} for i, r in enumerate(rows)]
    tensors = {layer_name(layer): x.reshape(len(rows), 2, -1).half().contiguous() for layer, x in e.items()}  # (P, 2, d)
    blob = gzip_jsonl(done)
    jpath, tpath = shard_paths(out, NAME, SPLIT, s)
    with atomic_path(jpath) as tmp:
        tmp.write_bytes(blob)
    meta = {"config_key": cfg.key(), "jsonl_sha256": hashlib.sha256(blob).hexdigest(), "n_prompts": str(len(rows)),
            "task": NAME, "split": SPLIT, "shard": str(s)}
    with atomic_path(tpath) as tmp:   # written last: its presence with a matching sha means complete
        save_file(tensors, str(tmp), metadata=meta)


def build_hh_harmless(out: str | Path = paths.DATA_DIR, config: HHBuildConfig | None = None, *,
                      source: str | Path | None = None, progress: bool = True) -> dict:
    """Embed (or resume) every pair of the shipped HH-RLHF file under `out/hh-harmless/`, then write
    `split.json`, `manifest.json` and the data card; returns the manifest.

    `source` copies a byte-identical HH-RLHF file into place first (only needed once).
    """
    cfg = config or HHBuildConfig()
    folder = Path(out) / NAME
    if source is not None and not (folder / SOURCE_FILE).is_file():
        if sha256_file(Path(source)) != SOURCE_SHA256:
            raise LensInputError(f"{source}: not the HH-RLHF harmless-base test file this dataset ships (sha256 differs)")
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / SOURCE_FILE) as tmp:
            shutil.copyfile(source, tmp)
    rows = read_rows(source_path(out))
    n_shards = -(-len(rows) // cfg.shard_size)
    todo = [s for s in range(n_shards) if not shard_complete(Path(out), NAME, SPLIT, s, cfg.key())]
    write_json(folder / "build.json", {"task": NAME, "config": dataclasses.asdict(cfg), "config_key": cfg.key(),
                                       "shards": {SPLIT: n_shards}})
    if todo:
        from .models import load_model

        model, tok = load_model(cfg.model, dtype=torch.float32)
        print(f"build-data {NAME}: {len(todo)} of {n_shards} shards to embed on {torch.get_num_threads()} thread(s)",
              flush=True)
        t0 = time.perf_counter()
        for done, s in enumerate(tqdm(todo, desc=f"{NAME} shards", unit="shard", disable=not progress), start=1):
            _build_shard(model, tok, cfg, rows[s * cfg.shard_size:(s + 1) * cfg.shard_size], s, Path(out))
            if not progress:
                rate = (time.perf_counter() - t0) / done
                print(f"  shard {s}: done; about {rate * (len(todo) - done) / 60:.0f} min left", flush=True)
    split = make_split(len(rows), cfg.n_train, cfg.split_seed)
    write_json(folder / "split.json", split)
    manifest = write_hh_manifest(Path(out), cfg, n_shards)
    write_hh_data_card(out)
    return manifest


def write_hh_manifest(out: Path, cfg: HHBuildConfig, n_shards: int) -> dict:
    """`manifest.json`: counts (rows, truncated texts), sha256 of every file, model, settings, versions."""
    import numpy
    import safetensors
    import transformers

    from .models import model_checksum

    folder = out / NAME
    files = {SOURCE_FILE: sha256_file(folder / SOURCE_FILE), "split.json": sha256_file(folder / "split.json")}
    n_rows = n_truncated_texts = n_truncated_rows = 0
    for s in range(n_shards):
        for p in shard_paths(out, NAME, SPLIT, s):
            if not p.is_file():
                raise LensInputError(f"{p}: missing; rerun `lens build-data --tasks {NAME}` to finish the build")
            files[str(p.relative_to(folder))] = sha256_file(p)
        for r in read_jsonl_gz(shard_paths(out, NAME, SPLIT, s)[0]):
            n_rows += 1
            cut = [n > cfg.max_length for n in r["n_tokens"]]
            n_truncated_texts += sum(cut)
            n_truncated_rows += any(cut)
    manifest = {
        "task": NAME, "config": dataclasses.asdict(cfg), "config_key": cfg.key(), "shards": {SPLIT: n_shards},
        "counts": {"rows": n_rows, "train_pairs": cfg.n_train, "test_pairs": n_rows - cfg.n_train,
                   "truncated_texts": n_truncated_texts, "truncated_rows": n_truncated_rows},
        "files": files,
        "source": {"file": SOURCE_FILE, "sha256": SOURCE_SHA256, "licence": LICENSE_FILE,
                   "citation": "Bai et al. 2022, arXiv 2204.05862 (Anthropic HH-RLHF, harmless-base, test split)"},
        "model": {"name": cfg.model, "weights_checksum": model_checksum(cfg.model)},
        "embeddings": {"pooling": "last token of format_chat(prompt messages, response)", "computed_dtype": "float32",
                       "stored_dtype": "float16", "layers": {layer_name(x): x for x in cfg.layers},
                       "tensors": "every layer (P, 2, d) = chosen, rejected",
                       "truncation": f"texts over {cfg.max_length} tokens keep their last {cfg.max_length}"},
        "packages": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "safetensors": safetensors.__version__,
                     "numpy": numpy.__version__},
        "threads": torch.get_num_threads(),
    }
    write_json(folder / "manifest.json", manifest)
    return manifest


def load_hh_harmless(layer: str = "last", *, data_dir: str | Path | None = None, verify: bool = True) -> EmbeddingTask:
    """`hh-harmless` at embedding `layer` ("last", "layer10", "layer20"): seed pairs in split order
    (the first n are the nested subset of size n) and the held-out pairs as the test set."""
    manifest = read_manifest(NAME, data_dir)
    folder = Path(data_dir or paths.DATA_DIR) / NAME
    layers = sorted(manifest["embeddings"]["layers"])
    if layer not in layers:
        raise LensInputError(f"layer: unknown value {layer!r} for dataset {NAME!r}; known: {layers}")
    if verify:
        verify_files(folder, manifest)
    rows, chunks = [], []
    for s in range(manifest["shards"][SPLIT]):
        jpath, tpath = shard_paths(folder.parent, NAME, SPLIT, s)
        shard_rows = read_jsonl_gz(jpath)
        with safe_open(str(tpath), "pt") as f:
            x = f.get_tensor(layer)                                               # (P, 2, d) float16
        if x.shape[0] != len(shard_rows):
            raise LensInputError(f"{tpath}: {x.shape[0]} embedding rows but {jpath} has {len(shard_rows)} rows")
        rows += shard_rows
        chunks.append(x.float())
    e = torch.cat(chunks)                                                         # (R, 2, d)
    split = json.loads((folder / "split.json").read_text())
    if split["n_rows"] != len(rows):
        raise LensInputError(f"{folder / 'split.json'}: made for {split['n_rows']} rows, the shards hold {len(rows)}")
    train, test = torch.tensor(split["train"]), torch.tensor(split["test"])
    info = {"source": f"HH-RLHF harmless-base test split ({folder})", "layer": layer, "counts": manifest["counts"],
            "manifest": manifest, "train_ids": split["train"], "test_ids": split["test"],
            "n_tokens": [rows[i]["n_tokens"] for i in range(len(rows))]}
    return EmbeddingTask(NAME, PreferencePairs(e[train, 0].contiguous(), e[train, 1].contiguous()),
                         PreferencePairs(e[test, 0].contiguous(), e[test, 1].contiguous()), info=info)


def load_hh_text(data_dir: str | Path | None = None) -> list[dict]:
    """Every embedded row (id, prompt messages, chosen, rejected, n_tokens) in file order."""
    manifest = read_manifest(NAME, data_dir)
    folder = Path(data_dir or paths.DATA_DIR) / NAME
    return [r for s in range(manifest["shards"][SPLIT]) for r in read_jsonl_gz(shard_paths(folder.parent, NAME, SPLIT, s)[0])]


def load_hh_split_text(data_dir: str | Path | None = None) -> tuple[list[dict], list[dict]]:
    """(seed pairs, held-out pairs) as text rows, in the order of `load_hh_harmless`'s train and test
    (the split of `split.json`): what a reward model that reads text trains and is tested on."""
    rows = load_hh_text(data_dir)
    split = json.loads((Path(data_dir or paths.DATA_DIR) / NAME / "split.json").read_text())
    if split["n_rows"] != len(rows):
        raise LensInputError(f"{Path(data_dir or paths.DATA_DIR) / NAME / 'split.json'}: made for {split['n_rows']} rows, "
                             f"the shards hold {len(rows)}")
    return [rows[i] for i in split["train"]], [rows[i] for i in split["test"]]


# ----------------------------------------------------------------------------- the data card

def length_baselines(rows: list[dict], ids: list[int]) -> dict[str, float]:
    """Label statistics of rows `ids` from text alone: how often the chosen response is the longer
    one, and the held-out accuracy of "the shorter wins" and "the longer wins" (equal length: half)."""
    right_short = right_long = longer = 0.0
    for i in ids:
        c, r = len(rows[i]["chosen"]), len(rows[i]["rejected"])
        right_short += 1.0 if c < r else 0.5 if c == r else 0.0
        right_long += 1.0 if c > r else 0.5 if c == r else 0.0
        longer += c > r
    n = len(ids)
    return {"shorter_wins_accuracy": right_short / n, "longer_wins_accuracy": right_long / n,
            "frac_chosen_longer": longer / n}


def near_duplicate_share(rows: list[dict], threshold: float = 0.9) -> dict[str, float]:
    """Share of pairs whose two responses are identical, or similar at `threshold` or more
    (`difflib.SequenceMatcher.ratio` on the raw strings)."""
    import difflib

    same = sum(r["chosen"] == r["rejected"] for r in rows)
    near = sum(difflib.SequenceMatcher(None, r["chosen"], r["rejected"], autojunk=False).ratio() >= threshold
               for r in rows)
    return {"frac_identical": same / len(rows), "frac_near_identical": near / len(rows), "threshold": threshold}


def count_repaired_rows(path: Path) -> int:
    """Rows whose chosen and rejected dialogues split at different `Assistant:` turns (a response that
    contains a turn of its own); the loader splits them at the common prefix instead."""
    from .loaders import iter_jsonl, split_hh_dialogue

    return sum(split_hh_dialogue(o["chosen"])[0] != split_hh_dialogue(o["rejected"])[0] for _, o in iter_jsonl(path))


def sanity_runs(task: EmbeddingTask, seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> dict[str, dict[str, float]]:
    """No-augmentation reward models on the seed pairs, held-out accuracy over `seeds`: the
    embedding MLP (the book's baseline) and a linear probe (the same trainer with hidden_dim = 0)."""
    from ..config import from_dict
    from ..experiment import ExperimentConfig, run_grid, summarize

    out = {}
    for label, cfg in (("mlp", {}), ("linear_probe", {"reward": {"hidden_dim": 0, "dropout": 0.0}})):
        df = run_grid(task, [], [1], list(seeds), from_dict(ExperimentConfig, cfg), progress=False)
        row = summarize(df, metrics=("pairwise_accuracy",)).iloc[0]
        out[label] = {"mean": float(row.pairwise_accuracy_mean), "sd": float(row.pairwise_accuracy_std),
                      "ci95": float(row.pairwise_accuracy_ci), "n_seeds": int(row.n_seeds)}
    return out


def write_hh_data_card(out: str | Path = paths.DATA_DIR) -> Path:
    """`data/hh-harmless/README.md`: source, licence, content warning, split, truncation, label statistics
    (lengths, length heuristics, near-duplicates) and the no-augmentation sanity runs."""
    folder = Path(out) / NAME
    manifest = read_manifest(NAME, out)
    rows = load_hh_text(out)
    split = json.loads((folder / "split.json").read_text())
    task = load_hh_harmless(data_dir=out)
    c, cfg = manifest["counts"], manifest["config"]
    n_tok = torch.tensor([r["n_tokens"] for r in rows], dtype=torch.float32)          # (R, 2): chosen, rejected
    lens_chars = torch.tensor([[len(r["chosen"]), len(r["rejected"])] for r in rows], dtype=torch.float32)
    held, every = length_baselines(rows, split["test"]), length_baselines(rows, list(range(len(rows))))
    dup = near_duplicate_share(rows)
    runs = sanity_runs(task)

    def pm(d):
        return f"{d['mean']:.3f} ± {d['sd']:.3f} (95% interval ± {d['ci95']:.3f}, {d['n_seeds']} seeds)"

    lines = [
        f"# Data card: `{NAME}`", "",
        "> **Content warning.** These are red-teaming dialogues: people try to get the assistant to say or do "
        "harmful things. Many contain offensive, violent, sexual or hateful text, by design. This card shows "
        "no example dialogue.", "",
        "## Source and licence", "",
        f"* `{SOURCE_FILE}`: Anthropic HH-RLHF, harmless-base tranche, test split (Bai et al. 2022, *Training a "
        "Helpful and Harmless Assistant with Reinforcement Learning from Human Feedback*, arXiv 2204.05862), "
        f"shipped byte-identical (sha256 `{SOURCE_SHA256}`).",
        f"* Licence: MIT, in `{LICENSE_FILE}` beside this card.",
        "* Labels are human: a crowdworker chose the less harmful of two assistant replies. There is no gold "
        "reward, so the metric is held-out pairwise accuracy (with a paired bootstrap interval between methods).", "",
        "## Contents and embedding", "",
        f"* {c['rows']} pairs. Prompt = the dialogue through the last `Assistant:` turn (as chat messages), "
        f"response = the final turn (`lens_minimal.text.loaders`, format `hh-rlhf`). {count_repaired_rows(folder / SOURCE_FILE)} "
        "rows whose response itself contains an `Assistant:` turn are split at the chosen/rejected common prefix instead.",
        f"* Embedded with `{cfg['model']}` (weights sha256 `{manifest['model']['weights_checksum']}`) through its "
        "chat template, float32 model, last real token, stored float16; layers `last`, 10 and 20, each "
        f"(P, 2, d) = chosen, rejected. Build: `lens build-data --tasks {NAME}` (module "
        "`lens_minimal.text.hh_harmless`, resumable shard by shard).",
        f"* Truncation: texts over {cfg['max_length']} tokens keep their last {cfg['max_length']} tokens (the start of "
        f"the dialogue is cut, the response and final token stay). {c['truncated_texts']} of {2 * c['rows']} texts "
        f"(in {c['truncated_rows']} of {c['rows']} rows) were cut.",
        f"* Tokens per text (chat-formatted): chosen mean {n_tok[:, 0].mean():.0f}, rejected mean "
        f"{n_tok[:, 1].mean():.0f}, longest {n_tok.max():.0f}.", "",
        "## Split", "",
        f"A permutation of the rows seeded by {split['seed']} (`make_split`, stored in `split.json`): its first "
        f"{len(split['train'])} rows are the seed pairs, in that order, so the first n of them are the nested "
        f"subset of size n used by the seed-size ablation; the other {len(split['test'])} rows are held out. "
        "Load with `lens_minimal.datasets.load_task(\"hh-harmless\", layer=...)`.", "",
        "## Can the labels be learned? What a reader needs to judge them", "",
        f"* Response length (characters): chosen mean {lens_chars[:, 0].mean():.0f}, rejected mean "
        f"{lens_chars[:, 1].mean():.0f}; the chosen reply is the longer one in {every['frac_chosen_longer']:.3f} of "
        "all pairs.",
        f"* Identical responses: {dup['frac_identical']:.4f} of pairs; near-identical (difflib ratio >= "
        f"{dup['threshold']}): {dup['frac_near_identical']:.4f}.", "",
        "| predictor | held-out pairwise accuracy |", "|---|---|",
        "| random | 0.500 |",
        f"| the shorter response wins | {held['shorter_wins_accuracy']:.3f} |",
        f"| the longer response wins | {held['longer_wins_accuracy']:.3f} |",
        f"| linear probe on the embeddings (Bradley-Terry, no hidden layer) | {pm(runs['linear_probe'])} |",
        f"| no-augmentation embedding MLP (the book's baseline) | {pm(runs['mlp'])} |", "",
        "Both reward models: `lens_minimal.experiment.run_grid(task, [], [1], seeds=[0, 1, 2, 3, 4])` "
        "on the seed pairs (10% held out for early stopping), scored on the held-out pairs; the probe sets "
        "`reward.hidden_dim = 0`. Computed by `lens_minimal.text.hh_harmless.write_hh_data_card`.",
    ]
    path = folder / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path

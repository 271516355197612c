"""A shipped task's texts embedded by another model: the representation ablation.

The shipped tasks carry SmolLM2-135M-Instruct embeddings (layers last, 10, 20). This module embeds
the same texts with any other causal LM (paper, Method step 1; the paper's cross-model ablation
uses Gemma-2B, Llama-3.2-3B, Mistral-7B and Qwen-2.5-7B), or with a *randomly initialised* model of
SmolLM2's architecture: the control that asks whether LENS still helps when the embedding carries
no learned meaning. Texts are the seed pairs' chosen and rejected responses and every test
response, formatted with `format_chat` and read at the last real token after the final norm
(`extract_embeddings`), as the shipped `last` layer is.

    python -m lens_minimal.text.reembed --task instructions --random-init --seed 0     # the control
    python -m lens_minimal.text.reembed --task instructions --model meta-llama/Llama-3.2-3B-Instruct \\
        --device cuda --dtype bfloat16                                                # a cross-model row

Resumable: chunks of texts are kept under `cache_dir()/reembed/<task>-<weights checksum>/` and a
rerun (or a prefix subset, `--n-test-prompts`) reuses them. Output: `data/reembedded/<task>/<label>`
`.safetensors` (float16 `train` (N, 2, d) = chosen, rejected; `test` (P, k, d); float32 gold
rewards `train_gold` (N, 2), `test_gold` (P, k)), then `<label>.manifest.json` (its sha256, the
model or seed and config, a checksum of the weights, the shipped files the texts came from,
packages; written last: its presence means complete). `load_task(task, layer=<label>)` loads it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
from pathlib import Path
from typing import Sequence

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .. import paths
from ..data import BestOfNSet, EmbeddingTask, PreferencePairs
from ..io import LensInputError, atomic_path, sha256_file, write_json

RANDOM_INIT = "random_init"                # label of the random-init control
DEFAULT_BASE = "smollm2-135m-instruct"     # the architecture (config) and tokenizer of the control
EMBED_BATCH_SIZE = 16                      # as the shipped build (manifest config.embed_batch_size)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def out_paths(task: str, label: str, data_dir: str | Path | None = None) -> tuple[Path, Path]:
    """(embeddings file, manifest) of task `task` re-embedded under `label`."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", label):
        raise LensInputError(f"label: {label!r} is not a plain name (letters, digits, '_', '.', '-')")
    folder = Path(data_dir or paths.DATA_DIR) / "reembedded" / task
    return folder / f"{label}.safetensors", folder / f"{label}.manifest.json"


def available_labels(task: str, data_dir: str | Path | None = None) -> list[str]:
    """Labels of the complete re-embeddings of `task` on this machine."""
    folder = Path(data_dir or paths.DATA_DIR) / "reembedded" / task
    return sorted(p.name[: -len(".manifest.json")] for p in folder.glob("*.manifest.json"))


def weights_checksum(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (name, shape, float32 bytes), in name order."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def random_model(base: str = DEFAULT_BASE, seed: int = 0, dtype: torch.dtype = torch.float32):
    """`(model, tokenizer)`: `base`'s architecture with every weight drawn afresh (seeded), and its tokenizer."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from .models import resolve_model

    where = resolve_model(base)
    config = AutoConfig.from_pretrained(where)
    tokenizer = AutoTokenizer.from_pretrained(where)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype).eval()
    if tokenizer.pad_token is None:   # padding is masked out everywhere we read embeddings
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def task_texts(tokenizer, train_rows: list[dict], test_rows: list[dict]) -> list[str]:
    """Model inputs in storage order: chosen, rejected of each seed pair, then every test response."""
    from .embeddings import format_chat

    texts = [format_chat(tokenizer, r["prompt"], r["responses"][r[side]])
             for r in train_rows for side in ("chosen", "rejected")]
    return texts + [format_chat(tokenizer, r["prompt"], y) for r in test_rows for y in r["responses"]]


def embed_resumable(model, tokenizer, texts: Sequence[str], work_dir: str | Path, chunk_size: int = 80,
                    progress: bool = True) -> torch.Tensor:
    """Last-layer embeddings (n, d) of `texts`, chunk by chunk; a finished chunk is kept in
    `work_dir` with the sha256 of its texts and reused by a rerun whose chunk holds the same texts,
    so an interrupted build resumes where it stopped (and a prefix subset reuses a full build's chunks)."""
    from tqdm.auto import tqdm

    from .embeddings import extract_embeddings

    work_dir = Path(work_dir)
    chunks = []
    for start in tqdm(range(0, len(texts), chunk_size), desc="re-embedding chunks", disable=None if progress else True):
        part = list(texts[start:start + chunk_size])
        digest = hashlib.sha256(json.dumps(part).encode()).hexdigest()
        path = work_dir / f"chunk-{start:06d}.safetensors"
        if path.is_file():
            with safe_open(str(path), "pt") as f:
                if (f.metadata() or {}).get("texts_sha256") == digest:
                    chunks.append(f.get_tensor("last"))
                    continue
        e = extract_embeddings(model, tokenizer, part, layers=(-1,), batch_size=EMBED_BATCH_SIZE, progress=False)[-1]
        with atomic_path(path) as tmp:
            save_file({"last": e.contiguous()}, str(tmp), metadata={"texts_sha256": digest})
        chunks.append(e)
    return torch.cat(chunks)


def build_reembedded(task: str = "instructions", model: str = DEFAULT_BASE, *, random_init: bool = False,
                     seed: int = 0, label: str | None = None, n_test_prompts: int | None = None,
                     device: str | None = None, dtype: str = "float32", data_dir: str | Path | None = None,
                     work_dir: str | Path | None = None, chunk_size: int = 80, progress: bool = True) -> Path:
    """Embed shipped task `task` with `model` (with `random_init`: a seeded random init of its
    architecture); write the data file, then its manifest. Returns the manifest path.

    `label` names the result (default: "random_init", or the model's last path part, lower case).
    `n_test_prompts` keeps only the first test prompts (a documented subset); None keeps all.
    """
    import transformers

    from .models import load_model
    from .shipped import load_shipped_text, read_manifest

    if dtype not in DTYPES:
        raise LensInputError(f"dtype: unknown value {dtype!r}; known: {sorted(DTYPES)}")
    label = label or (RANDOM_INIT if random_init else Path(str(model)).name.lower())
    data_path, manifest_path = out_paths(task, label, data_dir)
    shipped = read_manifest(task, data_dir)
    train_rows = load_shipped_text(task, "train", data_dir)
    test_rows = load_shipped_text(task, "test", data_dir)
    if n_test_prompts is not None:
        if not 1 <= n_test_prompts <= len(test_rows):
            raise LensInputError(f"n_test_prompts: must be in 1..{len(test_rows)}, got {n_test_prompts}")
        test_rows = test_rows[:n_test_prompts]
    if random_init:
        lm, tokenizer = random_model(model, seed, DTYPES[dtype])
        lm = lm.to(device) if device else lm
    else:
        lm, tokenizer = load_model(model, dtype=DTYPES[dtype], device=device)
    texts = task_texts(tokenizer, train_rows, test_rows)
    checksum = weights_checksum(lm)
    work_dir = work_dir or paths.cache_dir() / "reembed" / f"{task}-{checksum[:16]}"
    e = embed_resumable(lm, tokenizer, texts, work_dir, chunk_size, progress)
    n, k, d = len(train_rows), len(test_rows[0]["responses"]), e.shape[1]
    tensors = {
        "train": e[: 2 * n].reshape(n, 2, d).half(),                                     # (N, 2, d)
        "test": e[2 * n:].reshape(len(test_rows), k, d).half(),                          # (P, k, d)
        "train_gold": torch.tensor([[r["gold"][r["chosen"]], r["gold"][r["rejected"]]] for r in train_rows]),
        "test_gold": torch.tensor([r["gold"] for r in test_rows], dtype=torch.float32),  # (P, k)
    }
    with atomic_path(data_path) as tmp:   # no metadata: its key order is not stable, and the manifest holds it
        save_file({name: t.contiguous() for name, t in tensors.items()}, str(tmp))
    manifest = {
        "task": task, "label": label, "model": str(model), "random_init": random_init,
        "seed": seed if random_init else None, "dtype": dtype,
        "model_config": {k: v for k, v in lm.config.to_dict().items() if k != "_name_or_path"},   # no local paths
        "weights_checksum": checksum,
        "init": ("transformers AutoModelForCausalLM.from_config after torch.manual_seed(seed)" if random_init
                 else "pretrained weights"),
        "embedding": "last token of format_chat(prompt, response), last hidden state after the final norm",
        "counts": {"train_pairs": n, "test_prompts": len(test_rows), "test_responses": len(test_rows) * k,
                   "shipped_test_prompts": shipped["counts"]["test_prompts"]},
        "subset": None if n_test_prompts is None else f"first {n_test_prompts} of {shipped['counts']['test_prompts']} test prompts",
        "source": {"shipped_config_key": shipped["config_key"],
                   "files": {f: s for f, s in shipped["files"].items() if f.endswith(".jsonl.gz")}},
        "files": {data_path.name: sha256_file(data_path)},
        "packages": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__},
        "threads": torch.get_num_threads(),
    }
    write_json(manifest_path, manifest)
    return manifest_path


def load_reembedded_task(task: str, label: str, *, data_dir: str | Path | None = None, verify: bool = True) -> EmbeddingTask:
    """Task `task` re-embedded under `label` as an `EmbeddingTask` (its Best-of-N test set, gold included)."""
    data_path, manifest_path = out_paths(task, label, data_dir)
    if not manifest_path.is_file():
        how = "--random-init" if label == RANDOM_INIT else "--model <model> --label " + label
        raise LensInputError(f"{manifest_path}: not found; {task!r} has no re-embedding {label!r} (found: "
                             f"{available_labels(task, data_dir)}). Build it with "
                             f"`python -m lens_minimal.text.reembed --task {task} {how}`")
    manifest = json.loads(manifest_path.read_text())
    if not data_path.is_file():
        raise LensInputError(f"{data_path}: listed in {manifest_path} but missing")
    if verify and sha256_file(data_path) != manifest["files"][data_path.name]:
        raise LensInputError(f"{data_path}: sha256 differs from {manifest_path} (damaged or rebuilt file)")
    t = load_file(str(data_path))
    train = t["train"].float()                                                            # (N, 2, d)
    info = {"source": f"{task} re-embedded as {label!r} ({data_path})", "layer": label,
            "counts": manifest["counts"], "subset": manifest["subset"], "manifest": manifest,
            "gold_chosen": t["train_gold"][:, 0].tolist(), "gold_rejected": t["train_gold"][:, 1].tolist()}
    return EmbeddingTask(task, PreferencePairs(train[:, 0].contiguous(), train[:, 1].contiguous()),
                         BestOfNSet(t["test"].float(), t["test_gold"]), info=info)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lens_minimal.text.reembed",
                                description="Embed a shipped task's texts with another model (or a random init).")
    p.add_argument("--task", default="instructions", help="shipped task whose texts are embedded")
    p.add_argument("--model", default=DEFAULT_BASE, help="registry name, local folder or Hugging Face id")
    p.add_argument("--random-init", action="store_true", help="draw the model's weights at random (seeded)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--label", default=None, help="name of the result (default: random_init, or the model name)")
    p.add_argument("--n-test-prompts", type=int, default=None, help="embed only the first test prompts (subset)")
    p.add_argument("--device", default=None, help="e.g. cuda (default: cpu)")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="model weights dtype")
    p.add_argument("--chunk-size", type=int, default=80, help="texts per resumable chunk")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = build_reembedded(args.task, args.model, random_init=args.random_init, seed=args.seed, label=args.label,
                            n_test_prompts=args.n_test_prompts, device=args.device, dtype=args.dtype,
                            chunk_size=args.chunk_size)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

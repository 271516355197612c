"""Embedding extraction reads the right token, the right layer, and caches by content."""
from __future__ import annotations

import pytest
import torch

from lens_minimal.text import embeddings as emb
from lens_minimal.text.embeddings import cached_extract, extract_embeddings, format_chat
from lens_minimal.io import LensInputError

ATOL = 1e-5
PROMPTS = ["hello , what is a cat ?", "write a short poem", "why", "please help me with this story , thanks"]
RESPONSES = ["a cat is good", "no", "the dog is not bad . the cat is great !", "yes"]


def _texts(tokenizer):
    return [format_chat(tokenizer, p, r) for p, r in zip(PROMPTS, RESPONSES)]


def test_format_chat_template_and_messages(tiny_lm):
    _, tok = tiny_lm
    assert format_chat(tok, "hi", "yes") == "<|im_start|> user hi <|im_end|> <|im_start|> assistant yes <|im_end|> "
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "why"}]
    text = format_chat(tok, conv, "yes")
    assert text.count("<|im_start|>") == 4 and text.endswith("assistant yes <|im_end|> ")
    assert conv[-1]["content"] == "why" and len(conv) == 3   # the caller's list is not modified
    with pytest.raises(LensInputError, match="prompt"):
        format_chat(tok, 3, "yes")


def test_format_chat_without_template(tiny_lm):
    _, tok = tiny_lm
    tok.chat_template = None
    assert format_chat(tok, "hi", "yes") == "<|im_start|>hi\n\nyes"


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padded_batch_equals_each_alone(tiny_lm, side, pooling):
    model, tok = tiny_lm
    tok.padding_side = side
    texts = _texts(tok)
    lengths = {len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts}
    assert len(lengths) == len(texts)   # every batch really is padded
    batched = extract_embeddings(model, tok, texts, pooling=pooling, batch_size=4, progress=False)[-1]
    for i, t in enumerate(texts):
        alone = extract_embeddings(model, tok, [t], pooling=pooling, progress=False)[-1]
        torch.testing.assert_close(batched[i], alone[0], atol=ATOL, rtol=0)


def test_last_token_is_final_eos_not_pad_or_prompt_eos(tiny_lm):
    """pad == eos == <|im_end|>, which also closes the user turn: read the final real token."""
    model, tok = tiny_lm
    assert tok.pad_token_id == tok.eos_token_id
    text = format_chat(tok, "hi", "yes")
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert (ids == tok.eos_token_id).sum() == 2
    expected = model.base_model(ids).last_hidden_state[0, -1]
    for side in ("left", "right"):
        tok.padding_side = side
        got = extract_embeddings(model, tok, [text, _texts(tok)[3]], batch_size=2, progress=False)[-1][0]
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
        # and not the first eos (end of the prompt)
        first_eos = int((ids[0] == tok.eos_token_id).nonzero()[0])
        assert not torch.allclose(got, model.base_model(ids).last_hidden_state[0, first_eos], atol=1e-3)


def test_layers_hidden_states_and_last_hidden_state(tiny_lm):
    model, tok = tiny_lm
    texts = _texts(tok)
    n = model.config.num_hidden_layers
    out = extract_embeddings(model, tok, texts, layers=(-1, 0, 1, n), progress=False)
    assert set(out) == {-1, 0, 1, n}
    for e in out.values():
        assert e.shape == (len(texts), model.config.hidden_size) and e.dtype == torch.float32
    # Pinned: for Llama, hidden_states[-1] (= hidden_states[n]) is after the final norm, same as last_hidden_state.
    torch.testing.assert_close(out[n], out[-1], atol=ATOL, rtol=0)
    # Layer 0 is the token embedding of the last token.
    last_ids = [tok(t, add_special_tokens=False)["input_ids"][-1] for t in texts]
    torch.testing.assert_close(out[0], model.get_input_embeddings().weight[last_ids].detach(), atol=ATOL, rtol=0)
    assert not torch.allclose(out[1], out[-1], atol=1e-3)


def test_mean_pooling_is_mean_over_real_tokens(tiny_lm):
    model, tok = tiny_lm
    text = _texts(tok)[0]
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    expected = model.base_model(ids).last_hidden_state[0].mean(dim=0)
    tok.padding_side = "left"
    got = extract_embeddings(model, tok, [text, _texts(tok)[3]], pooling="mean", batch_size=2, progress=False)[-1][0]
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_truncation_keeps_the_end(tiny_lm):
    model, tok = tiny_lm
    text = _texts(tok)[2]
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    k = 5
    expected = model.base_model(ids[:, -k:]).last_hidden_state[0, -1]
    got = extract_embeddings(model, tok, [text], max_length=k, progress=False)[-1][0]
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    full = extract_embeddings(model, tok, [text], progress=False)[-1][0]
    assert not torch.allclose(got, full, atol=1e-3)   # truncation changed something


def test_order_is_restored_and_deterministic(tiny_lm):
    model, tok = tiny_lm
    texts = _texts(tok)
    a = extract_embeddings(model, tok, texts, batch_size=3, progress=False)[-1]
    b = extract_embeddings(model, tok, texts, batch_size=3, progress=False)[-1]
    assert torch.equal(a, b)
    rev = extract_embeddings(model, tok, texts[::-1], batch_size=1, progress=False)[-1]
    torch.testing.assert_close(rev.flip(0), a, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(texts=[]), "texts"),
        (dict(texts="just a string"), "texts"),
        (dict(texts=["ok", 3]), r"texts\[1\]"),
        (dict(pooling="max"), "pooling"),
        (dict(layers=(7,)), "layers"),
        (dict(layers=(-2,)), "layers"),
        (dict(batch_size=0), "batch_size"),
        (dict(max_length=0), "max_length"),
        (dict(texts=["ok", ""]), r"texts\[1\]"),
    ],
)
def test_invalid_input_names_the_parameter(tiny_lm, kwargs, param):
    model, tok = tiny_lm
    kwargs = {"texts": ["hello"], **kwargs}
    with pytest.raises(LensInputError, match=param):
        extract_embeddings(model, tok, progress=False, **kwargs)


def test_cache_hit_does_not_recompute(tiny_model_dir, lens_cache, monkeypatch):
    from lens_minimal.text.models import load_model

    _, tok = load_model(tiny_model_dir)
    texts = _texts(tok)
    first = cached_extract(str(tiny_model_dir), texts, layers=(-1, 1), progress=False)
    files = list((lens_cache / "embeddings").glob("*.safetensors"))
    assert len(files) == 1

    def boom(*a, **k):
        raise AssertionError("recomputed despite a cache hit")

    monkeypatch.setattr(emb, "extract_embeddings", boom)
    second = cached_extract(str(tiny_model_dir), texts, layers=(-1, 1), progress=False)
    for layer in (-1, 1):
        assert torch.equal(first[layer], second[layer])
    # a different setting is a different key
    with pytest.raises(AssertionError, match="recomputed"):
        cached_extract(str(tiny_model_dir), texts, layers=(-1, 1), pooling="mean", progress=False)
    with pytest.raises(AssertionError, match="recomputed"):
        cached_extract(str(tiny_model_dir), texts[:-1], layers=(-1, 1), progress=False)


def test_cache_key_separates_text_boundaries():
    assert emb.cache_key("m", ["ab", "c"]) != emb.cache_key("m", ["a", "bc"])
    assert emb.cache_key("m", ["a"], pooling="last") != emb.cache_key("m", ["a"], pooling="mean")


def test_length_batches_respect_both_caps():
    from lens_minimal.text.embeddings import length_batches

    lengths = [1000, 900, 500, 300, 300, 100, 90, 80, 70, 60]   # sorted longest first
    fixed = length_batches(lengths, batch_size=4)
    assert [(b.start, b.stop) for b in fixed] == [(0, 4), (4, 8), (8, 10)]
    budget = length_batches(lengths, batch_size=4, batch_tokens=1000)
    assert [(b.start, b.stop) for b in budget] == [(0, 1), (1, 2), (2, 4), (4, 7), (7, 10)]
    for b in budget:
        assert (b.stop - b.start) * lengths[b.start] <= 1000 or b.stop - b.start == 1
    assert length_batches([5000], batch_size=4, batch_tokens=10) == [slice(0, 1)]   # never less than one text


def test_token_budget_changes_batches_not_embeddings(tiny_lm):
    model, tok = tiny_lm
    texts = _texts(tok) * 3
    a = extract_embeddings(model, tok, texts, batch_size=16, progress=False)[-1]
    b = extract_embeddings(model, tok, texts, batch_size=16, batch_tokens=20, progress=False)[-1]
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    with pytest.raises(LensInputError, match="batch_tokens"):
        extract_embeddings(model, tok, texts, batch_tokens=0, progress=False)


def test_right_padding_runs_without_a_mask_left_padding_with_one(tiny_lm, monkeypatch):
    """Under causal attention trailing pads are invisible to real tokens: no mask, the fast kernel."""
    model, tok = tiny_lm
    seen = []
    real = model.base_model.forward
    monkeypatch.setattr(model.base_model, "forward", lambda **k: (seen.append(k.get("attention_mask")), real(**k))[1])
    for side in ("right", "left"):
        tok.padding_side = side
        extract_embeddings(model, tok, _texts(tok), batch_size=4, progress=False)
    assert seen[0] is None and seen[1] is not None


def test_throughput_texts_have_the_asked_lengths(tiny_lm):
    from lens_minimal.text import throughput

    _, tok = tiny_lm
    mixed = throughput.mixed_length_texts(tok, n=12, hi=200)
    lengths = [len(x) for x in tok(mixed, add_special_tokens=False)["input_ids"]]
    assert max(lengths) > 150 and min(lengths) >= 30 and len(set(lengths)) > 6
    assert mixed == throughput.mixed_length_texts(tok, n=12, hi=200)
    assert throughput.padded_fraction(tok, mixed, 16, 300) < throughput.padded_fraction(tok, mixed, 16, None)

"""The LLM judge (label format, both orders) and reward models that fine-tune the LLM (head, loss, LoRA wiring),
on the tiny random Llama of conftest.py (seconds, no download)."""
from __future__ import annotations

import json

import pytest
import torch

from lens_minimal.annotators import LabelTable
from lens_minimal.io import LensInputError
from lens_minimal.text.judge import JudgeConfig, answer_logprobs, judge_pairs, judge_pool, judge_text
from lens_minimal.text.reward_lm import (RewardLMConfig, encode, evaluate_reward_lm, load_reward_lm,
                                         load_trained_reward_lm, pair_dataset, save_reward_lm, score_ids,
                                         train_reward_lm)

JUDGE = JudgeConfig(labels=("yes", "no"), batch_size=3)   # the tiny vocabulary has no "A" / "B"
PROMPTS = ["write a short poem", "what is a cat ?", "write a long story on the dog please"]
GOOD = ["a great poem . thanks", "a cat is a good cat .", "this is a great story of a good dog"]
BAD = ["bad", "no", "a bad poor story"]


def test_judge_margin_is_antisymmetric_and_averages_both_orders(tiny_lm):
    model, tok = tiny_lm
    fwd = judge_pairs(model, tok, PROMPTS, GOOD, BAD, JUDGE)
    rev = judge_pairs(model, tok, PROMPTS, BAD, GOOD, JUDGE)
    assert torch.allclose(fwd["margin"], -rev["margin"], atol=1e-5)      # swapping i and j flips the label
    assert torch.allclose(fwd["margin"], (fwd["margin_ab"] + fwd["margin_ba"]) / 2)
    assert torch.allclose(fwd["margin_ab"], -rev["margin_ba"], atol=1e-5)  # the same input, read from the other side


def test_judge_reads_the_next_token_after_left_padding(tiny_lm):
    model, tok = tiny_lm
    texts = [judge_text(tok, p, a, b, JUDGE) for p, a, b in zip(PROMPTS, GOOD, BAD)]
    batched = answer_logprobs(model, tok, texts, JUDGE)
    alone = torch.cat([answer_logprobs(model, tok, [t], JUDGE) for t in texts])
    assert batched.shape == (3, 2) and torch.allclose(batched, alone, atol=1e-5)
    with pytest.raises(LensInputError, match="one token"):
        answer_logprobs(model, tok, texts, JudgeConfig(labels=("yes please", "no")))


def test_judge_pool_label_format_is_read_by_label_table(tiny_lm):
    model, tok = tiny_lm
    rows = [{"id": f"t{k}", "prompt": p, "responses": [g, b, "hello", "hi you", "thanks"], "chosen": 0, "rejected": 1,
             "pool": [2, 3, 4]} for k, (p, g, b) in enumerate(zip(PROMPTS, GOOD, BAD))]
    labels, seconds = judge_pool(model, tok, rows, [0, 2], torch.tensor([[0, 2], [3, 4]]), JUDGE)
    assert seconds > 0 and [sorted(x) for x in labels] == [sorted(["row", "id", "i", "j", "margin", "margin_ab", "margin_ba"])] * 2
    assert (labels[1]["row"], labels[1]["id"], labels[1]["i"], labels[1]["j"]) == (2, "t2", 3, 4)
    table = LabelTable(labels)
    assert table.label(torch.tensor([2]), torch.tensor([[3, 4]])).item() == (labels[1]["margin"] > 0)


@pytest.fixture()
def reward_lm(tiny_model_dir):
    return load_reward_lm(str(tiny_model_dir), RewardLMConfig(), seed=0)


def test_pad_is_not_eos_and_padded_batch_scores_like_each_alone(reward_lm):
    model, tok = reward_lm
    assert tok.pad_token == "<unk>" and tok.pad_token_id != tok.eos_token_id
    ids = encode(tok, PROMPTS, GOOD)                     # chat template: <|im_end|> inside every text
    assert all(tok.eos_token_id in x[:-1] for x in ids)
    batched, alone = score_ids(model, ids, tok.pad_token_id, batch_size=3), score_ids(model, ids, tok.pad_token_id, batch_size=1)
    assert torch.allclose(batched, alone, atol=1e-5)
    with pytest.raises(LensInputError, match="contains the pad token"):
        encode(tok, ["write a zebra"], ["ok"])           # unknown word -> <unk> == pad


def test_reward_trainer_loss_is_bradley_terry_on_the_head(reward_lm):
    from trl import RewardConfig, RewardTrainer

    model, tok = reward_lm
    ds = pair_dataset(tok, PROMPTS, GOOD, BAD)
    trainer = RewardTrainer(model=model, args=RewardConfig(output_dir="/tmp/unused-rt", report_to="none", use_cpu=True, bf16=False),
                            train_dataset=ds, processing_class=tok)
    batch = trainer.data_collator([ds[k] for k in range(3)])
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
    r_c, r_r = score_ids(model, ds["chosen_ids"], tok.pad_token_id), score_ids(model, ds["rejected_ids"], tok.pad_token_id)
    assert torch.allclose(loss, -torch.nn.functional.logsigmoid(r_c - r_r).mean(), atol=1e-5)


def test_lora_trains_and_saves_only_adapters_and_head(tiny_model_dir, tmp_path):
    cfg = RewardLMConfig(lora=True, lora_r=4, lora_alpha=8, lr=1e-2, batch_size=3, max_steps=3, save_steps=100)
    model, tok = load_reward_lm(str(tiny_model_dir), cfg, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_reward_lm(model, tok, pair_dataset(tok, PROMPTS, GOOD, BAD), tmp_path / "run", cfg)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all("lora_" in k or "score" in k for k in changed)
    assert any("lora_" in k for k in changed) and any("score" in k for k in changed)
    save_reward_lm(model, tok, tmp_path / "saved")
    again, tok2 = load_trained_reward_lm(tmp_path / "saved", base=str(tiny_model_dir))
    ids = encode(tok2, PROMPTS, GOOD)
    assert torch.allclose(score_ids(model, ids, tok.pad_token_id), score_ids(again, ids, tok2.pad_token_id), atol=1e-5)
    with pytest.raises(LensInputError, match="base model"):
        load_trained_reward_lm(tmp_path / "saved")


def test_full_fine_tuning_end_to_end_learns_and_evaluates(tiny_model_dir, tmp_path):
    cfg = RewardLMConfig(lr=3e-3, batch_size=4, epochs=8, save_steps=5)
    model, tok = load_reward_lm(str(tiny_model_dir), cfg, seed=0)
    prompts, good, bad = PROMPTS * 4, GOOD * 4, BAD * 4
    ds = pair_dataset(tok, prompts, good, bad)
    margin = lambda: (score_ids(model, ds["chosen_ids"], tok.pad_token_id)  # noqa: E731
                      - score_ids(model, ds["rejected_ids"], tok.pad_token_id))
    m0 = margin()
    info = train_reward_lm(model, tok, ds, tmp_path / "run", cfg, seed=0)
    assert info["steps"] == 24 and not info["resumed"]
    assert (margin() > 0).all() and margin().mean() > m0.mean()
    test_rows = [{"prompt": p, "responses": [g, b, "hi"], "gold": [1.0, 0.0, 0.5]} for p, g, b in zip(PROMPTS, GOOD, BAD)]
    out = evaluate_reward_lm(model, tok, test_rows)
    assert out["bon_gold"] == pytest.approx(1.0) and out["pairwise_accuracy"] > 0.5 and out["bon_oracle"] == 1.0


def test_resumed_training_reports_the_seconds_of_every_session(tiny_model_dir, tmp_path):

    from lens_minimal.text.reward_lm import ELAPSED_FILE

    ds_args = (PROMPTS * 2, GOOD * 2, BAD * 2)
    first_cfg = RewardLMConfig(lr=1e-3, batch_size=2, max_steps=2, save_steps=2)
    model, tok = load_reward_lm(str(tiny_model_dir), first_cfg, seed=0)
    info1 = train_reward_lm(model, tok, pair_dataset(tok, *ds_args), tmp_path / "run", first_cfg)
    record = json.loads((tmp_path / "run" / "checkpoint-2" / ELAPSED_FILE).read_text())
    assert record["step"] == 2 and 0 < record["seconds"] <= info1["seconds"]
    (tmp_path / "run" / "checkpoint-2" / ELAPSED_FILE).write_text(json.dumps({"seconds": 1000.0, "step": 2}))  # a long first session
    cfg = RewardLMConfig(lr=1e-3, batch_size=2, max_steps=4, save_steps=2)
    model, tok = load_reward_lm(str(tiny_model_dir), cfg, seed=0)
    info2 = train_reward_lm(model, tok, pair_dataset(tok, *ds_args), tmp_path / "run", cfg)
    assert info2["resumed"] and info2["steps"] == 4
    assert 1000.0 < info2["seconds"] < 1000.0 + 120


def test_judge_labels_resume_judges_only_missing_chunks(tmp_path, monkeypatch):
    """A judge run is kept in chunks; a rerun after an interruption judges only the chunks not on disk and
    returns the same labels, with the seconds of every chunk summed."""
    import lens_minimal.text.judge as judge
    from lens_minimal.companion import text_rows

    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_pool(model, tok, train, rows, pairs, config, progress=False):   # deterministic stand-in for the LLM
        calls.append(len(rows))
        return [{"row": r, "id": train[r]["id"], "i": int(p[0]), "j": int(p[1]), "margin": float(p[1] - p[0] - 2.5),
                 "margin_ab": 1.0, "margin_ba": -1.0} for r, p in zip(rows, pairs)], 2.0

    monkeypatch.setattr(judge, "judge_pool", fake_pool)
    first = text_rows.judge_labels("instructions", 5, 2, loaded=(None, None), progress=False, chunk=4)
    assert calls == [4, 4, 2] and first["n_pairs"] == 10 and first["seconds"] == 6.0
    parts = text_rows.judge_parts_dir(text_rows.judge_params("instructions", 5, 2))
    (parts / "part-0001.json").unlink()                  # as if interrupted before the second chunk was written
    calls.clear()
    again = text_rows.judge_labels("instructions", 5, 2, loaded=(None, None), progress=False, chunk=4)
    assert calls == [4] and again == first
    other = text_rows.judge_parts_dir(text_rows.judge_params("instructions", 5, 3))
    assert other != parts                                # other parameters never reuse these chunks


def test_pair_task_rows_train_on_seed_pairs_and_report_held_out_pair_accuracy(tiny_model_dir, tmp_path, monkeypatch):
    """hh-harmless has human labels and no pool or gold: only 1x applies, and the row is the held-out pairwise
    accuracy (as the embedding MLP is scored there), over the same seed split as the MLP."""
    import math

    from lens_minimal.companion import text_rows
    from lens_minimal.experiment import split_seed_pairs
    from lens_minimal.text.reward_lm import evaluate_reward_lm_pairs

    rows = [{"prompt": [{"role": "user", "content": p}], "chosen": g, "rejected": b} for p, g, b in zip(PROMPTS, GOOD, BAD)] * 4
    monkeypatch.setattr(text_rows, "_train_test_text", lambda task: (rows[:10], rows[10:]))
    with pytest.raises(LensInputError, match="ratio: hh-harmless has no response pool"):
        text_rows.reward_lm_rows("hh-harmless", False, 4, [0], model=str(tiny_model_dir), workdir=tmp_path)
    idx, prompts, chosen, _ = text_rows.seed_pair_texts("hh-harmless", 1)
    assert idx == split_seed_pairs(10, 0.1, 1)[0].tolist() and chosen == [rows[i]["chosen"] for i in idx]
    out = text_rows.reward_lm_rows("hh-harmless", False, 1, [0], lm_config={"lr": 3e-3, "batch_size": 3, "epochs": 4},
                                   model=str(tiny_model_dir), workdir=tmp_path, progress=False)["rows"]
    assert len(out) == 1 and out[0]["n_train_pairs"] == 9 and math.isnan(out[0]["bon_gold"])
    assert out[0]["pairwise_accuracy"] > 0.5 and out[0]["pairwise_accuracy_ci_low"] <= out[0]["pairwise_accuracy"]
    model, tok = load_reward_lm(str(tiny_model_dir), RewardLMConfig(), seed=0)
    test = rows[10:]
    direct = evaluate_reward_lm_pairs(model, tok, [r["prompt"] for r in test], [r["chosen"] for r in test], [r["rejected"] for r in test])
    margin = (score_ids(model, encode(tok, [r["prompt"] for r in test], [r["chosen"] for r in test]), tok.pad_token_id)
              - score_ids(model, encode(tok, [r["prompt"] for r in test], [r["rejected"] for r in test]), tok.pad_token_id))
    assert direct["pairwise_accuracy"] == pytest.approx(((margin > 0).float() + 0.5 * (margin == 0).float()).mean().item())


def test_judge_run_with_more_pairs_per_prompt_copies_the_base_run_and_judges_only_new_pairs(tmp_path, monkeypatch):
    import lens_minimal.text.judge as judge
    from lens_minimal.companion import text_rows

    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path))
    judged = []

    def fake_pool(model, tok, train, rows, pairs, config, progress=False):
        judged.extend((r, int(p[0]), int(p[1])) for r, p in zip(rows, pairs))
        return [{"row": r, "id": train[r]["id"], "i": int(p[0]), "j": int(p[1]), "margin": float(len(judged)),
                 "margin_ab": 1.0, "margin_ba": -1.0} for r, p in zip(rows, pairs)], 1.0

    monkeypatch.setattr(judge, "judge_pool", fake_pool)
    base = text_rows.judge_labels("instructions", 4, 3, loaded=(None, None), progress=False, chunk=5)
    judged.clear()
    more = text_rows.judge_labels("instructions", 4, 7, loaded=(None, None), progress=False, chunk=5, reuse=base["labels"])
    base_keys = {(x["row"], x["i"], x["j"]) for x in base["labels"]}
    assert len(judged) == 16 and not base_keys & set(judged)            # only the 4 new pairs of each of 4 prompts
    assert more["n_pairs"] == 28 and more["n_reused"] == 12 and more["pairs_per_second"] == 16 / 4.0
    assert [x for x in more["labels"] if (x["row"], x["i"], x["j"]) in base_keys] == base["labels"]   # copied as they were
    assert [text_rows.labels_per_prompt(r) for r in (2, 4, 8)] == [3, 3, 7]
    assert (text_rows.judge_entry("summaries", 3), text_rows.judge_entry("summaries", 7, "mlp_judge")) == \
        ("judge_labels_summaries", "mlp_judge_summaries_k7")


def test_gradient_checkpointing_is_set_by_the_config_and_leaves_the_trained_weights_unchanged(tiny_model_dir, tmp_path):
    states = []
    for checkpointing in (True, False):
        cfg = RewardLMConfig(lr=1e-3, batch_size=3, max_steps=3, save_steps=100, gradient_checkpointing=checkpointing)
        model, tok = load_reward_lm(str(tiny_model_dir), cfg, seed=0)
        train_reward_lm(model, tok, pair_dataset(tok, PROMPTS * 2, GOOD * 2, BAD * 2), tmp_path / f"run-{checkpointing}", cfg)
        assert model.is_gradient_checkpointing == checkpointing
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_reward_lm_estimate_scales_measured_step_times_by_threads_and_checkpointing(tmp_path):
    from lens_minimal.companion import text_rows

    rows = [{"ratio": 1, "steps": 10, "seconds_train": 100.0, "seconds_score": 60.0},   # stored before threads were
            {"ratio": 4, "steps": 10, "seconds_train": 50.0, "seconds_score": 120.0,     # recorded: one thread
             "gradient_checkpointing": False, "row_provenance": {"torch_threads": 2}}]
    (tmp_path / "reward_lm_summaries_full_r1.json").write_text(json.dumps({"payload": {"rows": rows}}))
    text = text_rows.reward_lm_estimate("summaries", False, 8, root=tmp_path)
    n_pairs = len(text_rows.seed_pair_texts("summaries", 0)[0]) * 8
    steps = -(-n_pairs // 8)
    assert f"{n_pairs} pairs, {steps} steps of 8 pairs" in text
    assert f"1x, 1 thread(s), checkpointing on: 10.0 s/step over 1 run(s) -> about {10 * steps / 3600:.1f} h" in text
    assert f"4x, 2 thread(s), checkpointing off: 5.0 s/step over 1 run(s) -> about {5 * steps / 3600:.1f} h" in text
    assert "no summaries lora run cached yet" in text_rows.reward_lm_estimate("summaries", True, 1, root=tmp_path)

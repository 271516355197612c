"""Reward models that train the LLM itself (Table 1's fully fine-tuned and LoRA rows).

r(x, y) = w^T h_T(x, y): a scalar head (`score`, no bias) on the last-layer hidden state of the
causal LM at the last real token T of the chat-formatted (x, y), trained with the Bradley-Terry
loss -log sigma(r(x, y+) - r(x, y-)) (paper, Eq. for L_BT), all weights (full fine-tuning) or
LoRA adapters on the attention projections plus the head (`peft`, head in `modules_to_save`, so
it is trained and saved with the adapter).

Which head: transformers' `AutoModelForSequenceClassification` with num_labels=1 (for Llama:
`LlamaForSequenceClassification`, the `score` layer TRL's `RewardTrainer` expects). It finds the
last token as the rightmost token that is not the pad token. SmolLM2 ships pad == eos ==
<|im_end|>, which also ends every chat turn, so with that pad the head would skip real tokens:
`prepare_tokenizer` makes the pad token the unknown token (<|endoftext|> for SmolLM2), and
`pair_dataset` refuses any text that contains it, so rightmost-non-pad == last real token.
A test checks that a padded batch scores like each example alone.

Training is TRL's `RewardTrainer` (pinned in requirements.txt), on pre-tokenised `chosen_ids` /
`rejected_ids` built with the same chat formatting as the embeddings (`embeddings.format_chat`),
checkpointing every `save_steps` so an interrupted run resumes. TRL's configs default to bfloat16
autocast (`bf16=True`) even on CPU, which leaves the trained model's `forward` patched, so that it
scores differently from the same weights reloaded; we train in float32 (`bf16=False`, tested).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from ..evaluation import best_of_n, best_of_n_picks, bootstrap_ci, pairwise_accuracy
from ..io import LensInputError
from .embeddings import format_chat

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class RewardLMConfig:
    lora: bool = False             # False: every weight trains; True: LoRA adapters + the head
    lora_r: int = 16               # LoRA rank
    lora_alpha: int = 32           # LoRA scale numerator (scale = alpha / r)
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))  # modules that get adapters
    lr: float | None = None        # AdamW learning rate; None: 1e-5 (full) or 2e-4 (LoRA)
    epochs: float = 1.0            # passes over the training pairs
    batch_size: int = 8            # pairs per step (2 x batch_size sequences)
    max_length: int = 512          # longer texts keep their end (the response)
    max_steps: int = -1            # > 0: stop after this many steps (for timing and smoke runs)
    save_steps: int = 25           # checkpoint every this many steps (resume after an interruption)
    gradient_checkpointing: bool = True  # recompute activations in backward: less memory, about a third more
                                         # time; the trained weights are the same either way (tested)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (2e-4 if self.lora else 1e-5)


def prepare_tokenizer(tokenizer):
    """Set a pad token that never occurs in real text (the unknown token) and right padding."""
    pad = tokenizer.unk_token
    if pad is None or pad == tokenizer.eos_token:
        raise LensInputError("reward LM: the tokenizer needs an unknown token distinct from eos to pad with "
                             "(pad == eos would be read as the end of a chat turn)")
    tokenizer.pad_token = pad
    tokenizer.padding_side = "right"
    return tokenizer


def load_reward_lm(name_or_path: str, config: RewardLMConfig | None = None, seed: int = 0):
    """(model, tokenizer): the causal LM with a fresh scalar head (seeded), LoRA-wrapped if config.lora."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import resolve_model

    config = config or RewardLMConfig()
    where = resolve_model(name_or_path)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(where))
    torch.manual_seed(seed)   # the head is initialised at random
    model = AutoModelForSequenceClassification.from_pretrained(where, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0, target_modules=list(config.lora_targets),
            modules_to_save=["score"], task_type="SEQ_CLS"))
    return model, tokenizer


def encode(tokenizer, prompts: Sequence[str], responses: Sequence[str], max_length: int = 512) -> list[list[int]]:
    """Token ids of the chat-formatted (prompt, response); an error names a text that holds the pad token."""
    texts = [format_chat(tokenizer, p, r) for p, r in zip(prompts, responses)]
    ids = [x[-max_length:] for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    for k, x in enumerate(ids):
        if tokenizer.pad_token_id in x:
            raise LensInputError(f"text {k} contains the pad token {tokenizer.pad_token!r}: its last token would be misread")
        if not x:
            raise LensInputError(f"text {k} has no tokens")
    return ids


def pair_dataset(tokenizer, prompts: Sequence[str], chosen: Sequence[str], rejected: Sequence[str], max_length: int = 512):
    """A `datasets.Dataset` of pre-tokenised pairs (`chosen_ids`, `rejected_ids`) for `RewardTrainer`."""
    from datasets import Dataset

    if not len(prompts) == len(chosen) == len(rejected):
        raise LensInputError(f"pair_dataset: {len(prompts)} prompts, {len(chosen)} chosen, {len(rejected)} rejected")
    return Dataset.from_dict({"chosen_ids": encode(tokenizer, prompts, chosen, max_length),
                              "rejected_ids": encode(tokenizer, prompts, rejected, max_length)})


ELAPSED_FILE = "lens_elapsed.json"   # in each checkpoint: training seconds up to that checkpoint, over all sessions


def _elapsed_callback(start: float, before: float):
    """A `TrainerCallback` that writes, into each checkpoint it follows, the training seconds so far
    (`before`, from the checkpoint resumed, plus this session's), so a resumed run reports its whole cost."""
    import json

    from transformers import TrainerCallback

    class RecordElapsed(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / ELAPSED_FILE).write_text(json.dumps({"seconds": before + time.perf_counter() - start,
                                                               "step": state.global_step}))

    return RecordElapsed()


def _elapsed_before(output_dir: Path) -> float:
    """Training seconds recorded in the newest checkpoint of `output_dir` (0 when none, or none recorded)."""
    import json

    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    record = checkpoints[-1] / ELAPSED_FILE if checkpoints else None
    return float(json.loads(record.read_text())["seconds"]) if record is not None and record.is_file() else 0.0


def train_reward_lm(model, tokenizer, train, output_dir: str | Path, config: RewardLMConfig | None = None,
                    seed: int = 0, progress: bool = False) -> dict:
    """Train with TRL's `RewardTrainer` on CPU; resumes from the newest checkpoint in `output_dir`.

    Returns {"seconds", "steps", "train_loss", "resumed"}: "seconds" is the whole training time, the
    sessions before a resume included (as recorded in the checkpoint resumed; work after the last
    checkpoint of an interrupted session is lost and not counted). Save the model with `save_reward_lm`.
    """
    from trl import RewardConfig, RewardTrainer

    config = config or RewardLMConfig()
    output_dir = Path(output_dir)
    args = RewardConfig(
        output_dir=str(output_dir), per_device_train_batch_size=config.batch_size, num_train_epochs=config.epochs,
        max_steps=config.max_steps, learning_rate=config.learning_rate, lr_scheduler_type="linear", warmup_steps=0,
        weight_decay=0.0, logging_steps=10, save_strategy="steps", save_steps=config.save_steps, save_total_limit=1,
        report_to="none", use_cpu=True, seed=seed, data_seed=seed, max_length=None, disable_dropout=True,
        dataloader_num_workers=0, disable_tqdm=not progress, center_rewards_coefficient=None,
        bf16=False,   # TRL defaults to bf16 autocast, on CPU too; we train and score in float32
        gradient_checkpointing=config.gradient_checkpointing,
    )
    resume = any(output_dir.glob("checkpoint-*"))
    before = _elapsed_before(output_dir) if resume else 0.0
    t0 = time.perf_counter()
    trainer = RewardTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                            callbacks=[_elapsed_callback(t0, before)])
    out = trainer.train(resume_from_checkpoint=True if resume else None)
    return {"seconds": before + time.perf_counter() - t0, "steps": int(out.global_step),
            "train_loss": float(out.training_loss), "resumed": resume}


def save_reward_lm(model, tokenizer, path: str | Path) -> None:
    """Save the trained model (full: all weights; LoRA: adapter + the `score` head) and the tokenizer."""
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))


def load_trained_reward_lm(path: str | Path, base: str | None = None):
    """Load what `save_reward_lm` wrote: a full model folder, or a LoRA adapter folder on `base`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import resolve_model

    path = Path(path)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(str(path)))
    if (path / "adapter_config.json").is_file():
        from peft import PeftModel

        if base is None:
            raise LensInputError(f"{path}: a LoRA adapter; pass the base model it was trained on")
        model = AutoModelForSequenceClassification.from_pretrained(resolve_model(base), num_labels=1, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        model = PeftModel.from_pretrained(model, str(path))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def pad_batch(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask), each (len(ids), longest), of token-id lists."""
    input_ids = torch.full((len(ids), max(map(len, ids))), pad_id, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)], mask[row, : len(x)] = torch.tensor(x), 1
    return input_ids, mask


@torch.inference_mode()
def score_ids(model, ids: list[list[int]], pad_id: int, batch_size: int = 16) -> torch.Tensor:
    """Reward of each token-id list (batched by length, right padding). -> (n,)"""
    model.eval()
    order = sorted(range(len(ids)), key=lambda k: len(ids[k]))
    out = torch.empty(len(ids))
    for b in range(0, len(order), batch_size):
        chunk = order[b: b + batch_size]
        input_ids, mask = pad_batch([ids[k] for k in chunk], pad_id)
        out[torch.tensor(chunk)] = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits[:, 0].float()
    return out


def evaluate_reward_lm(model, tokenizer, test_rows: list[dict], n_prompts: int | None = None,
                       batch_size: int = 16, max_length: int = 512) -> dict[str, float]:
    """Best-of-N gold (with random, oracle and a 95% interval) and pairwise accuracy on shipped test rows
    ({"prompt", "responses", "gold"}), the first `n_prompts` of them when given."""
    rows = test_rows[:n_prompts] if n_prompts else test_rows
    n = len(rows[0]["responses"])
    if any(len(r["responses"]) != n for r in rows):
        raise LensInputError("evaluate_reward_lm: every test prompt needs the same number of responses")
    ids = encode(tokenizer, [r["prompt"] for r in rows for _ in r["responses"]],
                 [y for r in rows for y in r["responses"]], max_length)
    t0 = time.perf_counter()
    scores = score_ids(model, ids, tokenizer.pad_token_id, batch_size).reshape(len(rows), n)   # (P, N)
    gold = torch.tensor([r["gold"] for r in rows], dtype=torch.float32)
    out = best_of_n(scores, gold)
    out["bon_gold_ci_low"], out["bon_gold_ci_high"] = bootstrap_ci(best_of_n_picks(scores, gold))
    out["pairwise_accuracy"] = pairwise_accuracy(scores, gold)
    out["seconds_score"] = time.perf_counter() - t0
    return out


def evaluate_reward_lm_pairs(model, tokenizer, prompts: Sequence, chosen: Sequence[str], rejected: Sequence[str],
                             batch_size: int = 16, max_length: int = 512) -> dict[str, float]:
    """Held-out pairwise accuracy on labelled pairs (tasks with human labels and no gold reward, such as
    hh-harmless), as `evaluation.evaluate_reward_model` scores the embedding MLP there: 1 per pair whose
    chosen response scores higher, 0.5 on a tie; mean and 95% bootstrap interval over pairs."""
    if not len(prompts) == len(chosen) == len(rejected) or not prompts:
        raise LensInputError(f"evaluate_reward_lm_pairs: {len(prompts)} prompts, {len(chosen)} chosen, {len(rejected)} rejected")
    ids = encode(tokenizer, list(prompts) * 2, list(chosen) + list(rejected), max_length)
    t0 = time.perf_counter()
    scores = score_ids(model, ids, tokenizer.pad_token_id, batch_size)
    margin = scores[: len(prompts)] - scores[len(prompts):]                  # (n,) chosen minus rejected
    right = (margin > 0).float() + 0.5 * (margin == 0).float()
    low, high = bootstrap_ci(right)
    return {"bon_gold": float("nan"), "pairwise_accuracy": right.mean().item(), "pairwise_accuracy_ci_low": low,
            "pairwise_accuracy_ci_high": high, "seconds_score": time.perf_counter() - t0}

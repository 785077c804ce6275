"""LoRA supervised fine-tuning with completion-only labels and a per-example weighted loss.

Every training run of the project (weak supervisor, naive W2S, ceiling, UF, RW) goes through `train_lora`; the
unweighted runs simply give every example weight 1.0.
"""
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from .errors import UserError

IGNORE_INDEX = -100
LOSS_NORMALISATIONS = ("answer_tokens", "all_positions")


@dataclass
class TrainConfig:
    """Hyper-parameters of one LoRA SFT run; the defaults are the original's (SPEC B §3.2)."""
    lr: float = 5e-5
    epochs: float = 3.0
    micro_batch_size: int = 4
    effective_batch_size: int = 24        # micro batch x gradient accumulation
    max_length: int | None = None         # tokens, prompt + answer, cut at the end; None: the dataset's (512)
    loss_normalisation: str = "answer_tokens"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 42
    logging_steps: int = 10
    group_by_length: bool = False         # batch examples of similar length together (less padding)
    save_steps: int = 500                 # optimiser steps between checkpoints (the original's default)
    resume: bool = False                  # continue from the last checkpoint in the run's checkpoint folder


def tokenize_completion(tokenizer, prompt: str, completion: str, max_length: int) -> dict | None:
    """Token ids and labels for one SFT example: only the completion and its EOS are trained.

    The prompt is tokenised with the tokenizer's special tokens (BOS), the completion without, and EOS is
    appended as a token id (not as text), so the model learns to stop. Prompt positions get label -100. The
    sequence is cut to `max_length` at the end; None is returned if no completion token survives the cut.
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + completion_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + completion_ids)[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return {"input_ids": input_ids, "labels": labels}


class CompletionCollator:
    """Right-pads a list of tokenised examples to the longest in the batch; padding gets label -100, mask 0."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        batch = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            pad = width - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * pad)
            batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
        out = {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
        out["weights"] = torch.tensor([float(f.get("weight", 1.0)) for f in features], dtype=torch.float32)
        return out


def trained_positions(labels: torch.Tensor) -> torch.Tensor:
    """Indices t (0 .. L-2) of the positions whose next token is trained in at least one row of the batch.

    Only these positions need logits; with a 256k-token vocabulary the LM head over every position would
    dominate the cost of a training step.
    """
    return (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)


def weighted_causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                            normalisation: str = "answer_tokens", positions: torch.Tensor | None = None
                            ) -> torch.Tensor:
    """Next-token cross-entropy, each example's token losses multiplied by its weight w_b.

    logits: B x L x V for every position, or B x P x V at `positions` only (see `trained_positions`; the result
    is the same). labels: B x L, -100 where nothing is trained. With ℓ_{b,t} = CE(logits[b, t], labels[b, t+1])
    over the trained positions:
    - "answer_tokens" (default): Σ_b w_b Σ_t ℓ_{b,t} / (number of trained tokens in the batch), the usual mean
      over answer tokens; with all weights 1 it equals the standard causal-LM loss.
    - "all_positions": Σ_b w_b Σ_t ℓ_{b,t} / (B·(L−1)), the original's torch.mean over every position of the
      padded batch, prompt and padding included (SPEC B §1.6, quirk Q1): the scale shrinks with prompt length.
    """
    if normalisation not in LOSS_NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {LOSS_NORMALISATIONS}, got {normalisation!r}")
    shift_labels = labels[:, 1:]
    if positions is None:
        logits, targets = logits[:, :-1, :], shift_labels
    else:
        targets = shift_labels[:, positions]
    trained = targets != IGNORE_INDEX
    token_loss = F.cross_entropy(logits[trained].float(), targets[trained], reduction="none")
    token_weight = weights.to(token_loss.dtype)[:, None].expand_as(targets)[trained]
    total = (token_loss * token_weight).sum()
    if normalisation == "answer_tokens":
        return total / trained.sum().clamp(min=1)
    return total / shift_labels.numel()


class WeightedLossTrainer(Trainer):
    """A Trainer whose loss is `weighted_causal_lm_loss` with the batch's per-example `weights`.

    The loss is normalised per micro-batch; the Trainer divides it by the gradient-accumulation steps, so an
    optimiser step averages its micro-batch losses. Logits are computed only where a token is trained.
    """

    loss_is_scaled_for_ga = False

    def __init__(self, *args, loss_normalisation: str = "answer_tokens", **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_normalisation = loss_normalisation

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs.pop("weights")
        labels = inputs.pop("labels")
        positions = trained_positions(labels)
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                        logits_to_keep=positions)
        loss = weighted_causal_lm_loss(outputs.logits, labels, weights, self.loss_normalisation, positions)
        return (loss, outputs) if return_outputs else loss


def train_lora(model, tokenizer, prompts: Sequence[str], completions: Sequence[str], cfg: TrainConfig,
               work_dir: Path, weights: Sequence[float] | None = None, collator=None):
    """Wrap `model` with a fresh LoRA adapter (peft's default target modules) and fine-tune it in place.

    Checkpoints (adapter, optimiser, scheduler, RNG states) go to `work_dir` every `cfg.save_steps` steps; with
    `cfg.resume` training continues from the last one, otherwise stale checkpoints are cleared first. The
    folder is removed once training has finished.

    Returns the PEFT model; save the adapter with `.save_pretrained(dir)`. Examples whose completion does not fit
    in `cfg.max_length` are dropped with a message. `collator` defaults to padding each batch to its longest.
    """
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model

    weights = [1.0] * len(prompts) if weights is None else list(weights)
    if not (len(prompts) == len(completions) == len(weights)):
        raise ValueError("prompts, completions and weights must have the same length")
    rows = []
    for prompt, completion, weight in zip(prompts, completions, weights):
        example = tokenize_completion(tokenizer, prompt, completion, cfg.max_length)
        if example is not None:
            rows.append({**example, "weight": float(weight), "length": len(example["input_ids"])})
    if len(rows) < len(prompts):
        print(f"dropped {len(prompts) - len(rows)} of {len(prompts)} examples: no answer token within "
              f"max_length={cfg.max_length}")
    if not rows:
        raise UserError(f"no training example has an answer token within max_length={cfg.max_length}")

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, bias="none",
                      task_type="CAUSAL_LM")
    set_seed(cfg.seed)  # the adapter's random init, so equal seeds give equal runs
    model = get_peft_model(model, lora)
    micro = micro_batch_size(cfg.micro_batch_size, cfg.effective_batch_size)
    args = TrainingArguments(
        output_dir=str(work_dir), learning_rate=cfg.lr, num_train_epochs=cfg.epochs,
        per_device_train_batch_size=micro, gradient_accumulation_steps=cfg.effective_batch_size // micro,
        lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=2,
        report_to="none", seed=cfg.seed, data_seed=cfg.seed,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(), remove_unused_columns=False,
        disable_tqdm=None, dataloader_pin_memory=torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
    )
    trainer = WeightedLossTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                  data_collator=collator or CompletionCollator(tokenizer.pad_token_id),
                                  loss_normalisation=cfg.loss_normalisation)
    last = get_last_checkpoint(str(work_dir)) if Path(work_dir).is_dir() else None
    if last and cfg.resume:
        print(f"resuming training from {last}")
    elif Path(work_dir).exists():
        if last:
            print(f"found checkpoint {last} of an interrupted run; starting over (pass --resume to continue it)")
        shutil.rmtree(work_dir)
    trainer.train(resume_from_checkpoint=last if cfg.resume else None)
    shutil.rmtree(work_dir, ignore_errors=True)
    model.eval()
    return model


def micro_batch_size(requested: int, effective: int) -> int:
    """The largest micro-batch <= `requested` that divides `effective`, so that micro-batch x accumulation steps
    is exactly the effective batch (24 with 4 -> 4 x 6; 20 with 8 -> 5 x 4)."""
    return max(d for d in range(1, min(requested, effective) + 1) if effective % d == 0)


def save_adapter(model, target: Path) -> None:
    """Save the LoRA adapter under a temporary name, then rename: a crash never leaves a half-written adapter
    that a later stage would load."""
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)

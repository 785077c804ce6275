"""LoRA supervised fine-tuning: completion-only labels, per-example weights, and a per-token loss from the registry.

Every training run of every method goes through `train_lora`; the unweighted runs give every example weight 1.0.
What each answer token costs is the method's loss (common/losses.py); what is generic stays here: which positions
are trained, the row weights, the normalisation, accumulation and several-process scaling. docs/method.md §6
states the loss and how it relates to the original's.
"""
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_utils import get_last_checkpoint

from . import distributed
from .config import RunArgs, TrainConfig
from .data import Example
from .errors import UserError
from .losses import LOSSES, TokenBatch, TokenLoss, get_loss

# peft calls a transformers method that transformers 5 deprecates; the message would print on every training run
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

IGNORE_INDEX = -100
NORMALISATIONS = ("answer_tokens", "all_positions")


@dataclass(frozen=True)
class TrainPlan:
    """The concrete settings of one training run: the user's TrainConfig with every default resolved
    (common.pipelines.train_plan). The defaults here are the config's, for tests and benchmarks."""
    lr: float
    epochs: float
    micro_batch_size: int
    accumulation_steps: int
    max_length: int
    normalisation: str = "answer_tokens"   # "answer_tokens" or "all_positions" (see weighted_causal_lm_loss)
    step_token_mean: bool = True           # answer_tokens: divide by the tokens of the whole optimiser step
    train_eos: bool = True                 # append EOS to every completion and train it
    precision: str = "fp32"                # fp32 / bf16-mixed / bf16-pure (resolved, never "auto")
    lora_r: int = TrainConfig.lora_r
    lora_alpha: int = TrainConfig.lora_alpha
    lora_dropout: float = TrainConfig.lora_dropout
    lora_target_modules: tuple[str, ...] | None = None
    seed: int = RunArgs.seed
    save_steps: int = TrainConfig.save_steps
    resume: bool = False
    group_by_length: bool = False
    logging_steps: int = TrainConfig.logging_steps
    loss: str = "likelihood"               # a key of common.losses.LOSSES


# ---------------------------------------------------------------------------------------------- tokenisation

def joint_token_ids(tokenizer, prompt: str, completion: str, add_special_tokens: bool = True) -> tuple[list[int], int]:
    """The token ids of prompt + completion tokenised as one text, and the index of the first completion token.

    Tokenising the two parts separately is wrong for SentencePiece tokenizers that prepend "▁" to every text
    (Llama-2, Mistral): the completion would start with a token the model never emits after the prompt. So the
    joint text is tokenised, and the boundary is the prompt's own token count when the prompt's ids are a prefix
    of the joint ids; otherwise a token straddles the boundary (a merge across it, e.g. "▁" + "A" -> "▁A" after a
    prompt ending in a space) and the boundary is the first token whose characters reach into the completion
    (it belongs to the completion: it is what the model has to produce there).
    """
    enc = tokenizer(prompt + completion, add_special_tokens=add_special_tokens,
                    return_offsets_mapping=tokenizer.is_fast)
    ids = list(enc["input_ids"])
    prompt_ids = tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
    if ids[:len(prompt_ids)] == list(prompt_ids):
        return ids, len(prompt_ids)
    if not tokenizer.is_fast:
        return ids, len(prompt_ids)  # no offsets to locate a merged boundary: the prompt's length is the best guess
    special = set(tokenizer.all_special_ids)
    boundary = next((i for i, (token, (start, end)) in enumerate(zip(ids, enc["offset_mapping"]))
                     if token not in special and end > len(prompt)), len(ids))
    return ids, boundary


def first_answer_tokens(tokenizer, prompt: str, completions: Sequence[str]) -> list[int]:
    """The first trained token of each completion after `prompt`, as `tokenize_completion` cuts it (-1 for an
    empty completion): e.g. the tokens of the answer options at the answer position."""
    out = []
    for completion in completions:
        ids, boundary = joint_token_ids(tokenizer, prompt, completion)
        out.append(ids[boundary] if boundary < len(ids) else -1)
    return out


def tokenize_completion(tokenizer, prompt: str, completion: str, max_length: int, train_eos: bool = True
                        ) -> dict | None:
    """Token ids and labels of one SFT example: only the completion (and its EOS) is trained.

    The joint text is tokenised with the tokenizer's special tokens (BOS), see `joint_token_ids`; EOS is appended
    as a token id (not as text) when `train_eos`. Prompt positions get label -100. The sequence is cut to
    `max_length` at the end; None is returned if no completion token survives the cut.
    """
    ids, boundary = joint_token_ids(tokenizer, prompt, completion)
    if train_eos:
        ids = ids + [tokenizer.eos_token_id]
    labels = [IGNORE_INDEX] * boundary + ids[boundary:]
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return {"input_ids": ids, "labels": labels}


class CompletionCollator:
    """Right-pads a list of tokenised examples to the longest in the batch; padding gets label -100, mask 0.
    Each example's `weight` (default 1) and the per-row fields its loss declares (default: the loss's default)
    travel as tensors, one value per row."""

    def __init__(self, pad_token_id: int, loss: TokenLoss | None = None):
        self.pad_token_id = pad_token_id
        self.fields = loss.fields if loss is not None else {}

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
        for name, (dtype, default) in self.fields.items():
            out[name] = torch.tensor([f.get(name, default) for f in features], dtype=dtype)
        return out


# ------------------------------------------------------------------------------------------------------- loss

def trained_positions(labels: torch.Tensor) -> torch.Tensor:
    """Indices t (0 .. L-2) of the positions whose next token is trained in at least one row of the batch.

    Only these positions need logits; with a 256k-token vocabulary the LM head over every position would
    dominate the cost of a training step.
    """
    return (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)


def weighted_causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                            loss: TokenLoss | None = None, fields: dict | None = None,
                            normalisation: str = "answer_tokens", positions: torch.Tensor | None = None,
                            num_items: int | torch.Tensor | None = None, progress: float = 0.0) -> torch.Tensor:
    """Σ_b w_b Σ_t ℓ_{b,t} / D, the weighted next-token loss of a batch (docs/method.md §6).

    logits: B x L x V for every position, or B x P x V at `positions` only (see `trained_positions`; the result
    is the same). labels: B x L, -100 where nothing is trained. ℓ is the per-token `loss` (default: likelihood,
    -log p of the target) given the batch's per-row `fields` and the training `progress` (common/losses.py).
    D = `num_items` if given (the answer tokens of the whole optimiser step: the loss then does not depend on how
    the step is cut into micro-batches), else the answer tokens of this batch ("answer_tokens"), or B·(L−1), every
    position of the padded batch ("all_positions", the original's re-weighted loss).
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    loss = loss or LOSSES["likelihood"]
    shift_labels = labels[:, 1:]
    if positions is None:
        logits, targets = logits[:, :-1, :], shift_labels
    else:
        targets = shift_labels[:, positions]
    trained = targets != IGNORE_INDEX
    rows, columns = trained.nonzero(as_tuple=True)
    # each trained token's position within its row's answer: 0 for the answer's first token
    first = torch.full((targets.shape[0],), targets.shape[1], dtype=torch.long, device=targets.device)
    first = first.scatter_reduce(0, rows, columns, reduce="amin")
    batch = TokenBatch(scores=logits[trained].float(), targets=targets[trained], row=rows,
                       position=columns - first[rows], fields=fields or {}, progress=float(progress))
    token_loss = loss(batch)
    total = (token_loss * weights.to(token_loss.dtype)[rows]).sum()
    if normalisation == "all_positions":
        return total / shift_labels.numel()
    if num_items is not None:
        return total / num_items
    return total / trained.sum().clamp(min=1)


class WeightedLossTrainer(Trainer):
    """A Trainer whose loss is `weighted_causal_lm_loss` with the batch's per-example weights, the method's
    per-token loss and its per-row fields, and the share of training done.

    With `step_token_mean` (the default loss) the denominator is the answer-token count of the whole optimiser
    step, over every micro-batch and every process, so 4 x 6 accumulation, 24 x 1 and two processes of 2 x 6
    give the same update. Otherwise the loss is normalised per micro-batch and divided by the accumulation
    steps, as the original's. Logits are computed only where a token is trained.
    """

    def __init__(self, *args, normalisation: str = "answer_tokens", step_token_mean: bool = True,
                 token_loss: TokenLoss | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.normalisation = normalisation
        self.step_token_mean = step_token_mean and normalisation == "answer_tokens"
        self.loss_is_scaled_for_ga = self.step_token_mean
        self.token_loss = token_loss or LOSSES["likelihood"]

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """The micro-batches of one optimiser step, and their answer-token count summed over all processes."""
        batches = []
        for _ in range(num_batches):
            try:
                batches.append(next(epoch_iterator))
            except StopIteration:
                break
        count = sum((b["labels"][:, 1:] != IGNORE_INDEX).sum() for b in batches) if batches else torch.tensor(0)
        count = torch.as_tensor(count, device=device)
        if self.args.world_size > 1:
            count = self.accelerator.gather(count.reshape(1)).sum()
        return batches, count

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights, labels = inputs.pop("weights"), inputs.pop("labels")
        fields = {name: inputs.pop(name) for name in self.token_loss.fields}
        positions = trained_positions(labels)
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                        logits_to_keep=positions)
        num_items = num_items_in_batch if self.step_token_mean else None
        progress = self.state.global_step / max(1, self.state.max_steps)
        loss = weighted_causal_lm_loss(outputs.logits, labels, weights, self.token_loss, fields, self.normalisation,
                                       positions, num_items, progress)
        if self.step_token_mean:
            loss = loss * self.accelerator.num_processes  # DDP averages the processes' gradients
        return (loss, outputs) if return_outputs else loss


class TrainingProgress(TrainerCallback):
    """A progress bar over optimiser steps with the last loss (a terminal), or a line every ~10 % (a log file)."""

    def __init__(self):
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, desc="training", disable=None, initial=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or logs is None or "loss" not in logs:
            return
        self.bar.set_postfix(loss=f"{logs['loss']:.4f}")
        every = max(1, state.max_steps // 10)
        if self.bar.disable and (state.global_step % every == 0 or state.global_step == state.max_steps):
            print(f"training step {state.global_step}/{state.max_steps}: loss {logs['loss']:.4f}", flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------------- training

def tokenize_examples(tokenizer, examples: Sequence[Example], plan: TrainPlan) -> list[dict]:
    """Tokenised rows for the Trainer, with each example's weight and loss fields; examples whose answer does not
    fit in `plan.max_length` are dropped with a message (the original trained them fully masked: a NaN loss)."""
    loss = get_loss(plan.loss)
    rows = []
    for ex in examples:
        unknown = set(ex.fields) - set(loss.fields)
        if unknown:
            raise ValueError(f"example fields {sorted(unknown)} are not fields of the {plan.loss!r} loss")
        tokens = tokenize_completion(tokenizer, ex.prompt, ex.completion, plan.max_length,
                                     train_eos=plan.train_eos and loss.trains_eos(ex.fields))
        if tokens is not None:
            fields = {name: ex.fields.get(name, default) for name, (_, default) in loss.fields.items()}
            rows.append({**tokens, "weight": float(ex.weight), **fields, "length": len(tokens["input_ids"])})
    if len(rows) < len(examples):
        print(f"dropped {len(examples) - len(rows)} of {len(examples)} examples: no answer token within "
              f"max_length={plan.max_length}")
    if not rows:
        raise UserError(f"no training example has an answer token within max_length={plan.max_length}")
    return rows


def train_lora(model, tokenizer, examples: Sequence[Example], plan: TrainPlan, work_dir: Path, collator=None,
               callbacks: Sequence[TrainerCallback] = ()):
    """Wrap `model` with a fresh LoRA adapter and fine-tune it in place; returns (PEFT model, loss log, number of
    examples trained on: those whose answer fits in max_length).

    Checkpoints (adapter, optimiser, scheduler, RNG states) go to `work_dir` every `plan.save_steps` steps; with
    `plan.resume` training continues from the last one, otherwise stale checkpoints are cleared first. The
    folder is removed once training has finished. The loss log is one row per logged optimiser step (step,
    epoch, loss, learning_rate, grad_norm). Under a data-parallel launch every process runs this (DDP).
    """
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model

    rows = tokenize_examples(tokenizer, examples, plan)
    lora = LoraConfig(r=plan.lora_r, lora_alpha=plan.lora_alpha, lora_dropout=plan.lora_dropout, bias="none",
                      task_type="CAUSAL_LM",
                      target_modules=list(plan.lora_target_modules) if plan.lora_target_modules else None)
    set_seed(plan.seed)  # the adapter's random init, so equal seeds give equal runs
    # bf16-pure keeps the adapter in the base weights' bf16 (the original); otherwise peft holds it in fp32
    try:
        model = get_peft_model(model, lora, autocast_adapter_dtype=plan.precision != "bf16-pure")
    except ValueError as err:  # peft's NoMatchingPeftModuleError: a --lora_target_modules name matches nothing
        if plan.lora_target_modules is None:
            raise
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                         if isinstance(module, torch.nn.Linear)})
        raise UserError(f"--lora_target_modules {' '.join(plan.lora_target_modules)}: {' '.join(str(err).split())[:200]}"
                        f"; this model's linear layers are named {', '.join(linear)}")
    on_gpu = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(work_dir), learning_rate=plan.lr, num_train_epochs=plan.epochs,
        per_device_train_batch_size=plan.micro_batch_size, gradient_accumulation_steps=plan.accumulation_steps,
        lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
        logging_steps=plan.logging_steps, save_strategy="steps", save_steps=plan.save_steps, save_total_limit=2,
        report_to="none", seed=plan.seed, data_seed=plan.seed, bf16=plan.precision == "bf16-mixed",
        use_cpu=not on_gpu, remove_unused_columns=False, dataloader_pin_memory=on_gpu,
        train_sampling_strategy="group_by_length" if plan.group_by_length else "random",
        ddp_find_unused_parameters=False,
    )
    if distributed.world_size() == 1:
        # One process sees every GPU; the Trainer would wrap the model in nn.DataParallel (a larger effective
        # batch, and `logits_to_keep` split across replicas). Several GPUs are used through a launcher (DDP) or
        # --device_map auto instead.
        args._n_gpu = min(args._n_gpu, 1)
    loss = get_loss(plan.loss)
    trainer = WeightedLossTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                  data_collator=collator or CompletionCollator(tokenizer.pad_token_id, loss),
                                  normalisation=plan.normalisation, step_token_mean=plan.step_token_mean,
                                  token_loss=loss)
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(TrainingProgress())
    for callback in callbacks:  # e.g. a test's look at the gradients before the optimiser step
        trainer.add_callback(callback)
    last = get_last_checkpoint(str(work_dir)) if Path(work_dir).is_dir() else None
    if last and plan.resume:
        print(f"resuming training from {last}")
    elif Path(work_dir).exists() and distributed.is_main():
        if last:
            print(f"found checkpoint {last} of an interrupted run; starting over (pass --resume to continue it)")
        shutil.rmtree(work_dir)
    distributed.barrier()
    trainer.train(resume_from_checkpoint=last if plan.resume else None)
    distributed.barrier()
    if distributed.is_main():
        shutil.rmtree(work_dir, ignore_errors=True)
    log = pd.DataFrame([entry for entry in trainer.state.log_history if "loss" in entry])
    model = trainer.model
    model.eval()
    return model, log.reindex(columns=["step", "epoch", "loss", "learning_rate", "grad_norm"]), len(rows)


def accumulation_plan(micro: int, effective: int, processes: int = 1) -> tuple[int, int]:
    """(micro-batch, accumulation steps) whose product with `processes` is exactly `effective`: the largest
    micro-batch <= `micro` that divides effective / processes (24 with 4 -> 4 x 6; 20 with 8 -> 5 x 4)."""
    if effective % processes:
        raise UserError(f"the effective batch {effective} is not a multiple of the {processes} processes")
    per_process = effective // processes
    size = max(d for d in range(1, min(micro, per_process) + 1) if per_process % d == 0)
    return size, per_process // size


def save_adapter(model, target: Path) -> None:
    """Save the LoRA adapter under a temporary name, then rename: a crash never leaves a half-written adapter
    that a later stage would load. Only the main process writes."""
    if not distributed.is_main():
        return
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)

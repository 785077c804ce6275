"""Training speed: examples per second for one LoRA epoch, batches padded to their longest example (ours) or to a
fixed length (what a max_length-padding collator does), optionally grouped by length.

    python bench/bench_training.py                       # SmolLM2-135M, on MMLU
    python bench/bench_training.py --models Gemma3-270M --n_examples 32

Runs the weak-supervisor SFT examples (the same prompts and targets the stage uses) through `train_lora`.
"""
import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common.models import load_model_and_tokenizer, resolve_model_path
from common.training import CompletionCollator, Example, TrainPlan, train_lora
from mmlu.task import MMLUTask


class FixedLengthCollator(CompletionCollator):
    """Pads every batch to `length` tokens, the baseline that pad-to-longest replaces."""

    def __init__(self, pad_token_id: int, length: int):
        super().__init__(pad_token_id)
        self.length = length

    def __call__(self, features):
        filler = {"input_ids": [self.pad_token_id] * self.length, "labels": [-100] * self.length, "weight": 0.0}
        batch = super().__call__(list(features) + [filler])
        return {k: v[:-1] for k, v in batch.items()}


def epoch_speed(model_path: str, examples, plan: TrainPlan, fixed_length: int | None = None) -> float:
    """Examples per second of one `train_lora` epoch (model loading excluded)."""
    model, tokenizer = load_model_and_tokenizer(model_path)
    collator = FixedLengthCollator(tokenizer.pad_token_id, fixed_length) if fixed_length else None
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        train_lora(model, tokenizer, examples, plan, Path(work), collator=collator)
        return len(examples) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["SmolLM2-135M"])
    parser.add_argument("--n_examples", type=int, default=48)
    parser.add_argument("--fixed_length", type=int, default=512)
    args = parser.parse_args()

    task = MMLUTask()
    rows = task.load_pools(42).train.head(args.n_examples)
    examples = [Example(*task.weak_sft_example(r)) for r in rows.itertuples(index=False)]
    plan = TrainPlan(lr=5e-5, epochs=1, micro_batch_size=4, accumulation_steps=2, max_length=args.fixed_length,
                     logging_steps=1000)
    for name in args.models:
        path = resolve_model_path(name)
        fixed = epoch_speed(path, examples, plan, fixed_length=args.fixed_length)
        longest = epoch_speed(path, examples, plan)
        grouped = epoch_speed(path, examples, replace(plan, group_by_length=True))
        print(f"{name}: {len(examples)} examples, one epoch | padded to {args.fixed_length}: {fixed:.2f} ex/s | "
              f"to longest: {longest:.2f} ex/s ({longest / fixed:.2f}x) | grouped by length: {grouped:.2f} ex/s "
              f"({grouped / fixed:.2f}x)")


if __name__ == "__main__":
    main()

"""bf16 against fp32 on this machine, for the three kinds of work a run does, on the same SST-2 work:

    python bench/bench_precision.py                         # SmolLM2-135M and Gemma3-270M, 128 prompts, 192 examples
    python bench/bench_precision.py --models Gemma3-270M --n_prompts 256 --n_examples 384

- training: one LoRA epoch on SST-2 ceiling examples in fp32 and in bf16-mixed (fp32 weights, bf16 autocast: the
  CPU form of --precision bf16-mixed): examples per second, the ratio, and the two loss curves side by side;
- querying / evaluation: greedy answers to SST-2 test prompts with the weights in fp32 and in bf16 (what
  --precision bf16-mixed does for inference), for the base model and for the fp32-trained one: prompts per
  second, their ratio, and how many parsed answers agree.

The first line says which CPU kernels torch uses (AVX2, AVX512, ...) and whether bf16 is native there: the ratios
hold for that kind of CPU only (on an AVX2-only CPU bf16 is emulated and far slower; README, Speed).
"""
import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from common.generation import generate
from common.models import load_model_and_tokenizer, machine_facts, resolve_model_path, resolve_precision
from common.tasks import get_task
from common.training import Example, TrainPlan, train_lora


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def inference(model, tokenizer, label: str, prompts: list[str], task, rows, batch_size: int) -> None:
    answers = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = model.to(dtype)
        outputs, seconds = timed(lambda: generate(model, tokenizer, prompts, task.facts.eval_tokens, batch_size))
        answers[dtype] = ([task.parse_eval(o, r) for o, r in zip(outputs, rows)], len(prompts) / seconds)
    (fp32, fp32_speed), (bf16, bf16_speed) = answers[torch.float32], answers[torch.bfloat16]
    same = sum(a == b for a, b in zip(fp32, bf16))
    accuracy = [sum(a == task.eval_label(r) for a, r in zip(answers[d][0], rows)) for d in answers]
    print(f"  generation, {label}, {len(prompts)} prompts: fp32 {fp32_speed:.2f} prompts/s | bf16 {bf16_speed:.2f} "
          f"prompts/s ({bf16_speed / fp32_speed:.2f}x) | same parsed answer {same}/{len(prompts)} | right "
          f"{accuracy[0]} / {accuracy[1]}")


def training(path: str, examples: list[Example], plan: TrainPlan):
    """Returns the fp32-trained model and its tokenizer."""
    logs, speeds, trained = {}, {}, None
    for precision in ("fp32", "bf16-mixed"):
        model, tokenizer = load_model_and_tokenizer(path)
        with tempfile.TemporaryDirectory() as work:
            (model, log, _), seconds = timed(lambda: train_lora(model, tokenizer, examples,
                                                                replace(plan, precision=precision), Path(work)))
        logs[precision], speeds[precision] = log, len(examples) / seconds
        trained = trained or (model, tokenizer)
    a, b = logs["fp32"]["loss"], logs["bf16-mixed"]["loss"]
    print(f"  training, {len(examples)} examples: fp32 {speeds['fp32']:.2f} ex/s | bf16-mixed "
          f"{speeds['bf16-mixed']:.2f} ex/s ({speeds['bf16-mixed'] / speeds['fp32']:.2f}x) | loss per step, "
          f"fp32 vs bf16: mean |difference| {(a - b).abs().mean():.4f}, first {a.iloc[0]:.4f} / {b.iloc[0]:.4f}, "
          f"last {a.iloc[-1]:.4f} / {b.iloc[-1]:.4f}")
    return trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["SmolLM2-135M", "Gemma3-270M"])
    parser.add_argument("--n_prompts", type=int, default=128)
    parser.add_argument("--n_examples", type=int, default=192)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    task = get_task("sst2")
    pools = task.load_pools(seed=42)
    rows = list(pools.test.head(args.n_prompts).itertuples(index=False))
    prompts = [task.eval_prompt(r) for r in rows]
    examples = [Example(*task.ceiling_example(r)) for r in pools.transfer.head(args.n_examples).itertuples(index=False)]
    plan = TrainPlan(lr=3e-4, epochs=1, micro_batch_size=16, accumulation_steps=1, max_length=256, logging_steps=1)
    facts = machine_facts()
    print(f"torch threads: {torch.get_num_threads()} | CPU kernels: {facts['cpu_capability']} | native bf16: "
          f"{facts['cpu_native_bf16']} | --precision auto here: {resolve_precision('auto')}")
    for name in args.models:
        path = resolve_model_path(name)
        print(name)
        trained, tokenizer = training(path, examples, plan)
        inference(trained, tokenizer, "after that fp32 training", prompts, task, rows, args.batch_size)
        base, tokenizer = load_model_and_tokenizer(path)
        inference(base, tokenizer, "base model", prompts, task, rows, args.batch_size)


if __name__ == "__main__":
    main()

"""Generation with a frozen model (as every model is after LoRA training, or with an adapter attached), with and
without the contiguous output-head input of common.models.contiguous_head_input.

    python bench/bench_head.py                         # Gemma3-270M (262k-row head) and SmolLM2-135M, 64 prompts

On a CPU, torch's linear() with a non-contiguous 3-D input and a weight that does not require grad copies the
weight once per batch row; generation feeds the head the last position of each row, such an input. Prints prompts
per second both ways, the ratio, and whether the outputs are the same.
"""
import argparse
import time

import torch

from common.generation import generate
from common.models import load_model_and_tokenizer, resolve_model_path
from common.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["Gemma3-270M", "SmolLM2-135M"])
    parser.add_argument("--n_prompts", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    task = get_task("sst2")
    prompts = [task.eval_prompt(r) for r in task.load_pools(42).test.head(args.n_prompts).itertuples(index=False)]
    for name in args.models:
        model, tokenizer = load_model_and_tokenizer(resolve_model_path(name), dtype=torch.bfloat16)
        model.requires_grad_(False)  # frozen, as under LoRA
        head = model.get_output_embeddings()
        results = {}
        for label in ("contiguous input (ours)", "as generate() gives it"):
            start = time.perf_counter()
            outputs = generate(model, tokenizer, prompts, 4, args.batch_size)
            results[label] = (outputs, len(prompts) / (time.perf_counter() - start))
            head._forward_pre_hooks.clear()  # the second round runs without the hook
        (ours, fast), (plain, slow) = results.values()
        print(f"{name}: {len(prompts)} prompts, bf16, frozen | with the hook {fast:.1f} prompts/s | without "
              f"{slow:.1f} prompts/s | {fast / slow:.1f}x | same outputs {sum(a == b for a, b in zip(ours, plain))}/"
              f"{len(prompts)}")


if __name__ == "__main__":
    main()

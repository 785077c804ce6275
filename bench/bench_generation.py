"""Weak-label querying speed: the original's one-prompt-at-a-time path against our batched path.

    python bench/bench_generation.py                          # SmolLM2-135M on CPU (or the GPU if present)
    python bench/bench_generation.py --model LLAMA2-7B --n_prompts 256 --batch_size 32

Both paths run the same model on the same MMLU multi-query prompts (5 option permutations per question) with the
same greedy settings. Prints prompts per second for each, their ratio, and how many parsed answers (the letter
the agreement is counted on) are the same. Batching pads on the left, so a batched row's numbers can differ from
batch 1 in the last bits; the agreement line says whether that ever changes an answer.

By default every answer is exactly --answer_tokens long (EOS suppressed until then), the work of a weak model that
explains its answer in 50-100 tokens as the paper's do. --free_length lets each answer stop at its EOS instead;
the base SmolLM2 then often stops at once, and on a CPU the prompt pass, which batching cannot speed up there
(it is compute-bound), is nearly all the work.
"""
import argparse
import time

from common.generation import generate
from common.models import DEFAULT_WEAK, load_model_and_tokenizer, resolve_model_path
from common.parsing import first_choice_letter
from mmlu.task import MMLUTask


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_WEAK, help="registry name, folder or hub id (default %(default)s)")
    parser.add_argument("--adapter", help="a LoRA adapter folder to attach, e.g. a trained weak supervisor")
    parser.add_argument("--n_prompts", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--answer_tokens", type=int, default=64, help="new tokens per answer (default %(default)s)")
    parser.add_argument("--free_length", action="store_true", help="stop each answer at its EOS")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    # ---- Model ----
    import torch

    model, tokenizer = load_model_and_tokenizer(resolve_model_path(args.model), args.adapter)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"

    # ---- Data: multi-query prompts, as the UF stage sends them ----
    task = MMLUTask()
    pools = task.load_pools(args.seed)
    k = task.facts.k
    variants = task.variants(pools.transfer.head((args.n_prompts + k - 1) // k), k, args.seed)
    prompts = list(variants["prompt"])[: args.n_prompts]

    # ---- Measure: warm-up, then both paths ----
    generate(model, tokenizer, prompts[:2], 2, batch_size=2)
    n, fixed = args.answer_tokens, 0 if args.free_length else args.answer_tokens
    one, t_one = timed(lambda: generate(model, tokenizer, prompts, n, 1, min_new_tokens=fixed))
    many, t_many = timed(lambda: generate(model, tokenizer, prompts, n, args.batch_size, min_new_tokens=fixed))

    # ---- Report ----
    same_letter = sum(first_choice_letter(a, case_sensitive=False) == first_choice_letter(b, case_sensitive=False)
                      for a, b in zip(one, many))
    same_text = sum(a == b for a, b in zip(one, many))
    length = f"up to {n} new tokens (stop at EOS)" if args.free_length else f"{n} new tokens each"
    print(f"model {args.model} on {device}; {len(prompts)} prompts, {length}, greedy")
    print(f"batch 1:  {len(prompts) / t_one:7.2f} prompts/s ({t_one:.1f} s)")
    print(f"batch {args.batch_size}: {len(prompts) / t_many:7.2f} prompts/s ({t_many:.1f} s)")
    print(f"speed-up: {t_one / t_many:.2f}x")
    print(f"parsed answers equal: {same_letter}/{len(prompts)}; identical text: {same_text}/{len(prompts)}")


if __name__ == "__main__":
    main()

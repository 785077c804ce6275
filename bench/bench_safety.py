"""The safety evaluation's scoring: one few-shot prefix computed once (ours) against every full prompt on its own.

    python bench/bench_safety.py                                  # SmolLM2-135M, 24 rows of 4 evaluations
    python bench/bench_safety.py --model Gemma3-270M --rows 50

Both paths score the same options of the same rows of justice, virtue, commonsense and long commonsense (test
split), by log-likelihood (safety/suite.py). Prints the seconds of each, their ratio, how many predictions agree,
and the largest difference of any option's score.
"""
import argparse
import time

import torch

from common.models import inference_dtype, load_model_and_tokenizer, resolve_model_path
from common.scoring import PrefixScorer, full_scores
from safety.suite import EVALUATIONS, build, options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="SmolLM2-135M")
    parser.add_argument("--rows", type=int, default=24, help="test rows per evaluation")
    parser.add_argument("--evaluations", nargs="+", default=["justice", "virtue", "commonsense", "commonsense_long"])
    args = parser.parse_args()
    model, tokenizer = load_model_and_tokenizer(resolve_model_path(args.model), dtype=inference_dtype("bf16-mixed"))
    total = {"cached": 0.0, "full": 0.0}
    for name in args.evaluations:
        ev = EVALUATIONS[name]
        prompts = build(ev, "test", n_test=args.rows)
        items, opts = [ev.item(r) for r in prompts.rows.itertuples(index=False)], options(ev)
        start = time.perf_counter()
        cached = PrefixScorer(model, tokenizer, prompts.prefix).score_rows(items, [opts] * len(items))
        seconds_cached = time.perf_counter() - start
        start = time.perf_counter()
        full = [full_scores(model, tokenizer, prompts.prefix + item, opts) for item in items]
        seconds_full = time.perf_counter() - start
        same = sum(max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
                   for a, b in zip(cached, full))
        gap = float(torch.tensor(cached).sub(torch.tensor(full)).abs().max())
        prefix_tokens = len(tokenizer(prompts.prefix)["input_ids"])
        print(f"{name:17s} prefix {prefix_tokens:5d} tokens | cached {seconds_cached:6.1f} s | full {seconds_full:6.1f} s "
              f"| {seconds_full / seconds_cached:5.1f}x | same prediction {same}/{len(items)} | max score diff {gap:.4f}")
        total["cached"] += seconds_cached
        total["full"] += seconds_full
    print(f"all: cached {total['cached']:.1f} s, full {total['full']:.1f} s: {total['full'] / total['cached']:.1f}x "
          f"({args.model}, bf16 weights, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()

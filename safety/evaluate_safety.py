"""Safety side-effects: score a model, or every model of a run, on the 12 ETHICS evaluations of the W2S safety study.

    python safety/evaluate_safety.py --model Gemma3-270M                                  # a base model
    python safety/evaluate_safety.py --model Gemma3-270M --adapter sst2/models/Gemma3-270M-sst2-sft-on-groundtruth
    python safety/evaluate_safety.py --run_dir runs/replicate/seed_42/sst2                # every model of a run

Justice, deontology, virtue, utilitarianism, commonsense (short stories) and long commonsense, each on its test and
hard test split, with the study's few-shot prompts and sizes (safety/suite.py, docs/method.md §11): 200 seeded test
rows each, the same prompts for every model. Answers are scored by log-likelihood of the options over a cached
few-shot prefix (--mode loglik, default) or generated and parsed (--mode generate). With --run_dir the base weak
and strong models and every adapter the run's stages saved are scored.

Writes, under --output_dir (default: RUN_DIR/safety, or safety_eval/ for one model): safety_table.md (accuracy %
per evaluation x split and the averages, one line per model), safety_table.csv (the same, long),
safety_predictions.csv (every test item of every model).
"""
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from common.config import AT_LEAST_1, Precision, arg, parse_dataclasses
from common.errors import UserError, run_cli
from common.models import inference_dtype, load_model_and_tokenizer, resolve_model_path
from safety.evaluate import ModelToScore, all_prompts, evaluate_model, run_models, trained_precision, write_tables
from safety.suite import EVALUATIONS, SPLITS


@dataclass
class SafetyArgs:
    model: str | None = arg(None, "a base model: registry name, folder or hub id")
    adapter: str | None = arg(None, "a LoRA adapter folder to attach to --model")
    run_dir: str | None = arg(None, "a run folder (the dataset folder, or OUTPUT_DIR/<dataset>): score all its models")
    output_dir: str | None = arg(None, "where the tables go (default: RUN_DIR/safety, or safety_eval/)")
    evaluations: list[str] = arg(list(EVALUATIONS), "which evaluations")
    splits: list[str] = arg(list(SPLITS), "test and/or hard")
    n_test: int = arg(200, "test rows per evaluation and split (the study's 200)", check=AT_LEAST_1)
    seed: int = arg(42, "seed of the few-shot and test-row draws")
    mode: Literal["loglik", "generate"] = arg("loglik", "loglik: the option with the higher log-likelihood; "
                                                        "generate: greedy reply, parsed")
    max_new_tokens: int = arg(4, "generate mode: tokens per reply", check=AT_LEAST_1)
    batch_size: int = arg(8, "rows per forward pass", check=AT_LEAST_1)
    precision: Precision = arg("auto", "weights in fp32, or in bf16 for any bf16 setting; auto: with --run_dir the "
                                           "precision its runs used, else bf16 on a GPU or a CPU with native bf16, "
                                           "fp32 elsewhere (as the stages)")


def main() -> None:
    (args,) = parse_dataclasses([SafetyArgs], None, __doc__)
    if (args.model is None) == (args.run_dir is None) or (args.adapter and args.run_dir):
        raise UserError("give either --model (and optionally --adapter) or --run_dir")
    prompts = all_prompts(args.evaluations, args.splits, args.n_test, args.seed)
    if args.run_dir:
        models = run_models(Path(args.run_dir))
        out = Path(args.output_dir or Path(args.run_dir) / "safety")
    else:
        label = Path(args.adapter).name if args.adapter else f"base ({args.model})"
        models = [ModelToScore(label, args.model, None, Path(args.adapter) if args.adapter else None)]
        out = Path(args.output_dir or "safety_eval")
    # a run's models in the precision its stages used (their results .json), unless a precision is asked for
    precision = trained_precision(Path(args.run_dir)) if args.run_dir and args.precision == "auto" else args.precision
    dtype = inference_dtype(precision)
    parts = []
    for m in models:
        print(f"{m.label}: {m.base}" + (f" + {m.adapter}" if m.adapter else ""), flush=True)
        model, tokenizer = load_model_and_tokenizer(resolve_model_path(m.base, m.base_path),
                                                    str(m.adapter) if m.adapter else None, dtype)
        parts.append(evaluate_model(model, tokenizer, prompts, args.mode, args.batch_size, args.max_new_tokens)
                     .assign(model=m.label))
        write_tables(pd.concat(parts, ignore_index=True), out)  # after every model: a crash loses none finished
    print((out / "safety_table.md").read_text())
    print(f"written to {out}/safety_table.{{md,csv}} and safety_predictions.csv")


if __name__ == "__main__":
    sys.exit(run_cli(main))

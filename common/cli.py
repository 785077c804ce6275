"""The command-line flags shared by every entry script (the original's names, plus seed, paths and limits)."""
import argparse
from pathlib import Path

from .config import RunConfig
from .errors import UserError
from .models import DEFAULT_STRONG, DEFAULT_WEAK, MODEL_REGISTRY
from .training import LOSS_NORMALISATIONS, TrainConfig

MODEL_HELP = "a name from the registry ({}), a local model folder or a hub id".format(", ".join(MODEL_REGISTRY))


def build_parser(doc: str, weak: bool = True, strong: bool = True, method: bool = False) -> argparse.ArgumentParser:
    """A parser for one entry script; `weak`/`strong` add the model flags, `method` the UF/RW flags."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if weak:
        p.add_argument("--weak_model_name", default=DEFAULT_WEAK,
                       help=f"weak model: {MODEL_HELP} (default %(default)s)")
        p.add_argument("--weak_model_path", help="load the weak model from this folder instead of the registry's")
    if strong:
        p.add_argument("--strong_model_name", default=DEFAULT_STRONG,
                       help=f"strong model: {MODEL_HELP} (default %(default)s)")
        p.add_argument("--strong_model_path", help="load the strong model from this folder instead of the registry's")
    if method:
        p.add_argument("--do_sampling", action="store_true",
                       help="resample the training rows to one per original question (SPEC B §1.7)")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default %(default)s)")
    p.add_argument("--epochs", type=float, default=3.0, help="training epochs (default %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="seed of every shuffle, draw and of training (default 42)")
    p.add_argument("--limit", type=int, help="use at most this many questions of each pool (for small runs)")
    p.add_argument("--data_dir", type=Path, help="read the dataset's CSVs from here (default: dataset/ in this folder)")
    p.add_argument("--output_dir", type=Path, help="where models/, results/ and CSVs go (default: this folder)")
    p.add_argument("--effective_batch_size", type=int, default=24,
                   help="examples per optimiser step (default 24, as the original)")
    p.add_argument("--micro_batch_size", type=int, default=4,
                   help="examples per forward pass; gradient accumulation makes up the effective batch")
    p.add_argument("--max_length", type=int, help="max training tokens per example (default: the dataset's, 512)")
    p.add_argument("--loss_normalisation", choices=LOSS_NORMALISATIONS, default="answer_tokens",
                   help="answer_tokens: weighted mean over answer tokens (default); all_positions: the original's "
                        "mean over every position of the padded batch (quirk Q1)")
    p.add_argument("--save_steps", type=int, default=500, help="optimiser steps between training checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue training from the last checkpoint of an interrupted run of this stage")
    p.add_argument("--group_by_length", action="store_true",
                   help="train on batches of similar length (less padding; the order is no longer fully random)")
    p.add_argument("--query_batch_size", type=int,
                   help="prompts per batch when querying the weak model (default: 8 on CPU, 32 on GPU)")
    p.add_argument("--eval_batch_size", type=int, help="prompts per batch at evaluation (default: as above)")
    p.add_argument("--query_max_new_tokens", type=int,
                   help="max new tokens of weak-label queries (default: the original's, 50 or 100)")
    p.add_argument("--do_sample", action="store_true",
                   help="sample with the model's own generation config instead of greedy decoding")
    return p


def default_generation_batch_size() -> int:
    """Prompts per generate() call: 32 on a GPU (memory is plentiful for 7-13B), 8 on CPU (2-core timings)."""
    import torch

    return 32 if torch.cuda.is_available() else 8


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """A RunConfig from parsed flags; rejects values that cannot make a run."""
    for flag in ("limit", "save_steps", "effective_batch_size", "micro_batch_size", "query_batch_size",
                 "eval_batch_size", "query_max_new_tokens",
                 "max_length"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag} must be at least 1, got {value}")
    if args.lr <= 0 or args.epochs <= 0:
        raise UserError("--lr and --epochs must be positive")
    train = TrainConfig(lr=args.lr, epochs=args.epochs, micro_batch_size=args.micro_batch_size,
                        effective_batch_size=args.effective_batch_size, group_by_length=args.group_by_length,
                        save_steps=args.save_steps, resume=args.resume,
                        max_length=args.max_length, loss_normalisation=args.loss_normalisation, seed=args.seed)
    return RunConfig(
        weak_model_name=getattr(args, "weak_model_name", DEFAULT_WEAK),
        strong_model_name=getattr(args, "strong_model_name", DEFAULT_STRONG),
        weak_model_path=getattr(args, "weak_model_path", None),
        strong_model_path=getattr(args, "strong_model_path", None),
        seed=args.seed, limit=args.limit, do_sampling=getattr(args, "do_sampling", False),
        output_dir=args.output_dir, query_batch_size=args.query_batch_size or default_generation_batch_size(),
        eval_batch_size=args.eval_batch_size or default_generation_batch_size(),
        query_max_new_tokens=args.query_max_new_tokens, do_sample=args.do_sample, train=train)


def run_stage(doc: str, stage, task_factory, weak: bool = True, strong: bool = True, method: bool = False) -> None:
    """Parse the flags of one entry script and run its pipeline stage; bad input exits with one message."""
    from .errors import run_cli

    def main():
        parser = build_parser(doc, weak, strong, method)
        task_factory.add_arguments(parser)
        args = parser.parse_args()
        cfg = config_from_args(args)
        if args.data_dir is not None and not args.data_dir.is_dir():
            raise UserError(f"--data_dir {args.data_dir} is not a folder")
        stage(task_factory.from_args(args), cfg)

    run_cli(main)

"""Entry points: the five scripts of every dataset folder, and `python -m common` for people who script runs.

A dataset's scripts keep the original file names; each is one call, `main(__file__)`, which reads the dataset
from the script's folder and the stage from its file name:

    create_weak_supervisor_on_<dataset>.py  -> weak       baseline_SFT_weak_supervision.py  -> naive
    baseline_SFT_on_groundtruth.py          -> ceiling    our_method_uncertainty_filtering.py -> uf
    our_method_reweighting.py               -> rw
"""
import argparse
import sys
from pathlib import Path

from .errors import UserError, run_cli
from .tasks import STAGES

STAGE_SCRIPTS = {"weak": "create_weak_supervisor_on_*.py", "naive": "baseline_SFT_weak_supervision.py",
                 "ceiling": "baseline_SFT_on_groundtruth.py", "uf": "our_method_uncertainty_filtering.py",
                 "rw": "our_method_reweighting.py"}


def stage_of_script(file_name: str) -> str:
    for stage, pattern in STAGE_SCRIPTS.items():
        if Path(file_name).match(pattern):
            return stage
    raise ValueError(f"{file_name} is not one of the five stage scripts ({', '.join(STAGE_SCRIPTS.values())})")


def script_for_stage(folder: Path, stage: str) -> str:
    """The name of the script in `folder` that runs `stage`."""
    found = sorted(p.name for p in Path(folder).glob(STAGE_SCRIPTS[stage]))
    return found[0] if found else STAGE_SCRIPTS[stage]


def run_stage(task_cls, stage: str, argv: list[str] | None, description: str = "") -> dict:
    """Parse the flags of `stage`, build the dataset's task and run the stage's pipeline."""
    from .config import parse_config

    cfg = parse_config(stage, task_cls, argv, description)
    from .pipelines import STAGE_FUNCTIONS  # torch, transformers: only once the flags are good
    data_dir = Path(cfg.run.data_dir) if cfg.run.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"--data_dir {data_dir} is not a folder")
    task = task_cls(data_dir, cfg)
    return STAGE_FUNCTIONS[stage](task, cfg)


def main(script_file: str) -> None:
    """What every dataset script runs: its dataset and stage come from its own path."""
    from .tasks import task_of_folder

    script = Path(script_file).resolve()
    doc = sys.modules["__main__"].__doc__ or ""
    run_cli(lambda: run_stage(task_of_folder(script.parent), stage_of_script(script.name), sys.argv[1:], doc))


def cli(argv: list[str] | None = None) -> None:
    """`python -m common run --task T --stage S [flags]`, `python -m common tasks`, `python -m common table ...`."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m common", description=cli.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one stage of one dataset; the stage's flags follow (see --help)",
                         add_help=False)
    run.add_argument("--task", required=True, help="a registered dataset (python -m common tasks)")
    run.add_argument("--stage", required=True, choices=STAGES)
    sub.add_parser("tasks", help="list the registered datasets and their facts")
    sub.add_parser("table", help="the results table (python -m common.results_table --help)", add_help=False)
    if argv[:1] == ["table"]:
        from .results_table import main as table

        return table(argv[1:])
    args, rest = parser.parse_known_args(argv)

    def go():
        from .tasks import discover_tasks, task_class

        if args.command == "tasks":
            for name, cls in sorted(discover_tasks().items()):
                f = cls.facts
                print(f"{name:10s} k={f.k} (max {f.max_k}) temperature={f.temperature} train fractions weak/sft/"
                      f"methods={f.weak_sft_fraction}/{f.sft_fraction}/{f.method_fraction} max_length={f.max_length} "
                      f"new tokens naive/multi/eval={f.naive_query_tokens}/{f.multi_query_tokens}/{f.eval_tokens} "
                      f"unparseable: {f.invalid_answers.value} | {cls.folder}/dataset: {', '.join(dict.fromkeys(f.files))}")
            return
        run_stage(task_class(args.task), args.stage, rest, f"{args.task}: stage {args.stage}")

    run_cli(go)

"""Entry points: the scripts of every dataset folder, and `python -m common` for people who script runs.

A dataset's scripts keep the original file names; each is one call, `main(__file__)`, which reads the dataset
from the script's folder and the method from its file name (each method declares its script, common/methods/):

    create_weak_supervisor_on_<dataset>.py  -> weak       baseline_SFT_weak_supervision.py  -> naive
    baseline_SFT_on_groundtruth.py          -> ceiling    our_method_uncertainty_filtering.py -> uf
    our_method_reweighting.py               -> rw (rw_unlikelihood with --weight_unlike > 0)

Every registered method, those without a script of the original included, runs as
`python -m common run --task DATASET --stage KEY [flags]`.
"""
import argparse
import sys
from pathlib import Path

from .errors import UserError, run_cli
from .methods import Method, check_overrides, discover_methods, method_of_script


def run_stage(task_cls, method: Method, argv: list[str] | None, description: str = "") -> dict:
    """Parse the flags of `method`, build the dataset's task and run the method."""
    from .config import parse_config

    check_overrides(task_cls.facts)
    known_elsewhere = frozenset(f for m in discover_methods().values() for g in m.flag_groups(task_cls)
                                for f in g.__dataclass_fields__)
    cfg = parse_config(method.key, method.flag_groups(task_cls), argv, description, known_elsewhere,
                       task_cls.facts.name)
    resolved = method.resolve(cfg)
    if resolved is not method:
        cfg = cfg.renamed(resolved.key)
    data_dir = Path(cfg.run.data_dir) if cfg.run.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UserError(f"--data_dir {data_dir} is not a folder")
    from .runner import run_method  # torch, transformers: only once the flags are good

    return run_method(task_cls(data_dir, cfg), cfg, resolved)


def main(script_file: str) -> None:
    """What every dataset script runs: its dataset and method come from its own path."""
    from .tasks import task_of_folder

    script = Path(script_file).resolve()
    doc = sys.modules["__main__"].__doc__ or ""
    run_cli(lambda: run_stage(task_of_folder(script.parent), method_of_script(script.name), sys.argv[1:], doc))


def cli(argv: list[str] | None = None) -> None:
    """`python -m common run --task T --stage KEY [flags]`, `python -m common tasks`, `python -m common methods`,
    `python -m common table ...`."""
    argv = sys.argv[1:] if argv is None else argv
    methods = discover_methods()
    parser = argparse.ArgumentParser(prog="python -m common", description=cli.__doc__)  # not "__main__.py"
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one method on one dataset; the method's flags follow (see --help)",
                         add_help=False)
    run.add_argument("--task", required=True, help="a registered dataset (python -m common tasks)")
    run.add_argument("--stage", required=True, choices=list(methods), help="a registered method")
    sub.add_parser("tasks", help="list the registered datasets and their facts")
    sub.add_parser("methods", help="list the registered methods")
    sub.add_parser("table", help="the results table (python -m common.results_table --help)", add_help=False)
    if argv[:1] == ["table"]:
        from .results_table import main as table

        return table(argv[1:])
    args, rest = parser.parse_known_args(argv)

    def go():
        from .tasks import discover_tasks, task_class

        if args.command == "methods":
            wide, label = max(map(len, methods)), max(len(m.label) for m in methods.values())
            for key, m in methods.items():
                print(f"{key:{wide}s} {m.label:{label}s} trains the {m.trains} model; script: {m.script or '-'}; "
                      f"loss: {m.loss} | {m.description}")
            return
        if args.command == "tasks":
            for name, cls in sorted(discover_tasks().items()):
                f = cls.facts
                print(f"{name:10s} k={f.k} (max {f.max_k}) temperature={f.temperature} train fractions weak/sft/"
                      f"methods={f.weak_sft_fraction}/{f.sft_fraction}/{f.method_fraction} max_length={f.max_length} "
                      f"new tokens naive/multi/eval={f.naive_query_tokens}/{f.multi_query_tokens}/{f.eval_tokens} "
                      f"unparseable: {f.invalid_answers.value} | {cls.folder}/dataset: {', '.join(dict.fromkeys(f.files))}")
            return
        run_stage(task_class(args.task), methods[args.stage], rest, f"{args.task}: method {args.stage}")

    run_cli(go)

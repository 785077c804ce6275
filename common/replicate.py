"""A small-scale replication: every method for several seeds, then the table, the figures and a report.

    python replicate.py --stage_config sst2/replication.yaml          # what `make replicate` runs (SST-2, 3 seeds,
                                                                       # and the ETHICS safety table: safety/)
    python -m common.replicate --task sst2 --seeds 1 2 --output_dir runs/try --stage_config my_flags.yaml
    python -m common.replicate --methods weak naive uf --seeds 1       # any registered methods

For each seed s, into OUTPUT_DIR/seed_<s>/<task>/: every method of --methods (default: the weak supervisor, naive
W2S, the ceiling, UF, RW, RW + unlikelihood), those that take it with --do_sampling (each trains on about as many
rows as naive W2S: the fair comparison), every one with the stage flags of --stage_config. Then, under OUTPUT_DIR:
results_table.csv and .md (mean ± std over seeds, PGR per seed), figures/seed_<s>/ (the entropy and reliability
figures of every seed; each run's loss curve is in its results/ folder) and REPORT.md. A progress line per run; a
run whose results exist (same method and sampling flag) is not run again, so an interrupted replication resumes.
Steps after the seeds (the safety table) come as hooks (`replicate(args, hooks)`; the root replicate.py adds it).
"""
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from .config import NON_NEGATIVE, MethodArgs, WeakModelArgs, arg, load_settings_file, parse_dataclasses
from .errors import UserError, run_cli
from .methods import discover_methods, get_method, method_of_record, sampling_of_record
from .tasks import task_class

PAPER_METHODS = ["weak", "naive", "ceiling", "uf", "rw", "rw_unlikelihood"]


@dataclass
class ReplicateArgs:
    task: str = arg("sst2", "a registered dataset")
    seeds: list[int] = arg([1, 2, 3], "one full run per seed")
    output_dir: str = arg("runs/replicate", "where every seed's run, the table, figures and REPORT.md go")
    stage_config: str | None = arg(None, "a YAML/JSON file of stage flags (sizes, lr, epochs, k, precision...)")
    methods: list[str] = arg(PAPER_METHODS, "registered methods to run for every seed, in this order (`python -m "
                                            "common methods`); the weak supervisor first")
    do_sampling: bool = arg(True, "run every method that takes --do_sampling with it")
    weight_unlike: float = arg(1.0, "the unlikelihood weight of RW + unlikelihood (0: leave that method out)",
                               check=NON_NEGATIVE)


# a step after the seeds: (args, the seeds' run folders) -> lines for REPORT.md
Hook = Callable[[ReplicateArgs, list[Path]], list[str]]


def takes_sampling(key: str) -> bool:
    return MethodArgs in get_method(key).flags


def stage_argv(key: str, args: ReplicateArgs, seed: int) -> list[str]:
    argv = ["--seed", str(seed), "--output_dir", str(Path(args.output_dir) / f"seed_{seed}")]
    if args.do_sampling and takes_sampling(key):
        argv.append("--do_sampling")
    if args.stage_config:
        argv += ["--config", args.stage_config]
    if key in ("rw", "rw_unlikelihood"):  # RW stays RW whatever the stage config says
        argv += ["--weight_unlike", str(args.weight_unlike if key == "rw_unlikelihood" else 0.0)]
    return argv


def variant_weak(key: str, weak_sft_variants: bool) -> bool:
    """Whether method `key`'s record of a run with --weak_sft_variants says so (a method without a weak model
    does not take the flag)."""
    return weak_sft_variants and WeakModelArgs in get_method(key).flags


def finished_run(root: Path, key: str, do_sampling: bool, weak_sft_variants: bool = False) -> dict | None:
    """The results record of method `key` with this sampling flag and kind of weak supervisor in a seed's run
    folder, if it has finished. Matched by key and flags (records written before the registry: by their label or
    stage)."""
    for path in sorted(root.glob("results/*.json")):
        record = json.loads(path.read_text())
        if method_of_record(record) == key and sampling_of_record(record) == do_sampling and \
                bool(record.get("config", {}).get("weak_sft_variants")) == weak_sft_variants:
            return record
    return None


def run_seed(task_cls, args: ReplicateArgs, seed: int, log: list[dict]) -> Path:
    """The runs of one seed (finished ones skipped); returns the seed's run folder."""
    from .cli import run_stage

    root = Path(args.output_dir) / f"seed_{seed}" / task_cls.facts.name
    keys = [k for k in args.methods if k != "rw_unlikelihood" or args.weight_unlike > 0]
    variants = bool(args.stage_config and load_settings_file(Path(args.stage_config)).get("weak_sft_variants"))
    for number, key in enumerate(keys, start=1):
        method, sampling = get_method(key), args.do_sampling and takes_sampling(key)
        name = method.label + (" (sampling)" if sampling else "")
        done = finished_run(root, key, sampling, variant_weak(key, variants))
        start = time.perf_counter()
        if done:
            print(f"[seed {seed}] {number}/{len(keys)} {name}: done before, accuracy {done['accuracy']:.4f}",
                  flush=True)
            continue
        print(f"[seed {seed}] {number}/{len(keys)} {name} ...", flush=True)
        metrics = run_stage(task_cls, method, stage_argv(key, args, seed))
        seconds = time.perf_counter() - start
        log.append({"seed": seed, "method": name, "minutes": round(seconds / 60, 1), "accuracy": metrics["accuracy"]})
        print(f"[seed {seed}] {number}/{len(keys)} {name}: accuracy {metrics['accuracy']:.4f} "
              f"({seconds / 60:.1f} min)", flush=True)
    return root


def weak_answer_statistics(task, rows: pd.DataFrame) -> dict:
    """How right the weak answers of one entropy CSV are, overall, at entropy 0, and in UF's kept rows; and the
    mean reliability score of right and of wrong answers."""
    from .weak_answers import uf_keep

    right = rows["model_pred"] == rows["gold"]
    kept, _ = uf_keep(rows)
    return {"rows": len(rows), "weak answers right": right.mean(),
            "right at entropy 0": right[rows["entropy"] < 1e-9].mean(),
            "right where entropy > 0": right[rows["entropy"] >= 1e-9].mean(),
            "right in UF's kept rows": (kept["model_pred"] == kept["gold"]).mean(),
            "mean score, right answers": rows.loc[right, "answer_score"].mean(),
            "mean score, wrong answers": rows.loc[~right, "answer_score"].mean()}


def paired_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's accuracy minus naive W2S's, per seed (paired: same seed, same weak labels), mean ± std."""
    methods = discover_methods()
    label = {key: methods[key].label for key in methods}
    acc = table.pivot_table(index="seed", columns="method", values="accuracy")
    rows = []
    others = [label[k] for k in methods if k not in ("weak", "naive", "ceiling")] + [label["ceiling"]]
    for method in [m for m in others if m in acc and label["naive"] in acc]:
        diff = (acc[method] - acc[label["naive"]]).dropna()  # the seeds where both ran
        rows.append({"method": method, "minus naive W2S, per seed": ", ".join(f"{d:+.4f}" for d in diff),
                     "mean": f"{diff.mean():+.4f}", "std": f"{diff.std(ddof=1):.4f}" if len(diff) > 1 else "",
                     "seeds above naive": f"{int((diff > 0).sum())} of {len(diff)}"})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table: floats to 4 decimals, whole numbers as integers, missing values blank."""
    def cell(v):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v)
    return frame.astype(object).map(cell).to_markdown(index=False, disable_numparse=True)


def write_report(args: ReplicateArgs, task, roots: list[Path], log: list[dict], seconds: float,
                 hook_lines: list[str]) -> Path:
    from .figures import entropy_figure, reliability_figure
    from .models import weak_slug
    from .results_table import add_pgr, aggregate, collect
    from .weak_answers import entropy_csv_name, load_entropy_rows

    out = Path(args.output_dir)
    table = add_pgr(collect([out]))
    table.drop(columns="path").to_csv(out / "results_table.csv", index=False)
    summary = aggregate(table)
    (out / "results_table.md").write_text(summary.to_markdown(index=False, disable_numparse=True) + "\n")
    stats, figures = [], []
    for seed, root in zip(args.seeds, roots):
        weak = next((r["config"] for r in map(json.loads, map(Path.read_text, sorted(root.glob("results/*.json"))))
                     if r["config"].get("weak_model_name")), None)
        if weak is None:
            continue  # only the ceiling ran: no weak answers to describe
        weak, variant_sft = weak["weak_model_name"], bool(weak.get("weak_sft_variants"))
        if not (root / entropy_csv_name(task, weak, variant_sft)).exists():
            continue  # no method of this replication asked for variant answers
        rows = load_entropy_rows(task, weak, root, variant_sft)
        stats.append({"seed": seed, **weak_answer_statistics(task, rows)})
        named = weak_slug(weak, variant_sft)  # the figures' names and titles say which weak supervisor
        figures += entropy_figure(task, rows, named, out / "figures" / f"seed_{seed}")[1][-1:]
        figures += reliability_figure(task, rows, named, out / "figures" / f"seed_{seed}")[1][-1:]
    stats = pd.DataFrame(stats)
    lines = [f"# Replication on {task.facts.title}: {len(args.seeds)} seed{'s' * (len(args.seeds) != 1)}",
             "", f"Command: `{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}`; wall time "
                 f"{seconds / 60:.1f} min for the stages run now (stages finished earlier are not re-timed).",
             "", "## Results (test accuracy, mean ± std over seeds; PGR = (method − weak) / (ceiling − weak))", "",
             summary.to_markdown(index=False, disable_numparse=True), "",
             "## Each method against naive W2S, seed by seed", "",
             paired_differences(table).to_markdown(index=False, disable_numparse=True), "",
             "## Per seed", "", markdown(table.drop(columns=["path", "dataset"])), "",
             "## Are low-entropy weak labels more often right? (the transfer pool's variant rows)", "",
             markdown(stats), "",
             "## Figures", ""] + [f"![{p.stem}]({p.relative_to(out)})" for p in figures]
    if log:
        lines += ["", "## Time per stage (this invocation)", "", pd.DataFrame(log).to_markdown(index=False)]
    lines += hook_lines
    (out / "REPORT.md").write_text("\n".join(lines) + "\n")
    return out / "REPORT.md"


def replicate(args: ReplicateArgs, hooks: tuple[Hook, ...] = ()) -> Path:
    """Every seed's runs, then each hook (its lines go into the report), then the table, figures and REPORT.md."""
    if not args.seeds:
        raise UserError("--seeds needs at least one seed")
    methods = discover_methods()
    unknown = [k for k in args.methods if k not in methods]
    if unknown:
        raise UserError(f"unknown methods {unknown}; registered: {', '.join(methods)}")
    task_cls = task_class(args.task)
    start, log = time.perf_counter(), []
    roots = [run_seed(task_cls, args, seed, log) for seed in args.seeds]
    hook_lines = [line for hook in hooks for line in hook(args, roots)]
    report = write_report(args, task_cls(), roots, log, time.perf_counter() - start, hook_lines)
    print(report.read_text())
    print(f"report: {report}")
    return report


def main(argv: list[str] | None = None) -> None:
    (args,) = parse_dataclasses([ReplicateArgs], argv, __doc__)
    replicate(args)


if __name__ == "__main__":
    run_cli(main)

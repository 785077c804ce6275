"""A small-scale replication: every stage for several seeds, then the table, the figures, the safety table, a report.

    python -m common.replicate --stage_config sst2/replication.yaml   # what `make replicate` runs (SST-2, 3 seeds)
    python -m common.replicate --task sst2 --seeds 1 2 --output_dir runs/try --stage_config my_flags.yaml

For each seed s, into OUTPUT_DIR/seed_<s>/<task>/: the weak supervisor, naive W2S, the ceiling, UF and RW with
--do_sampling (each trains on about as many rows as naive W2S: the fair comparison), and RW with unlikelihood
(--weight_unlike), every stage with the stage flags of --stage_config. Then, under OUTPUT_DIR: results_table.csv and
.md (mean ± std over seeds, PGR per seed), figures/seed_<s>/ (the entropy and reliability figures of every seed;
each stage's loss curve is in its results/ folder), safety/ (the ETHICS table of the first seed's models) and
REPORT.md. A progress line per stage; a stage whose results exist is not run again, so an interrupted
replication resumes.
"""
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import NON_NEGATIVE, arg, parse_dataclasses
from .errors import UserError, run_cli
from .tasks import METHOD_NAMES, task_class

STEPS = (("weak", []), ("naive", []), ("ceiling", []), ("uf", ["--do_sampling"]), ("rw", ["--do_sampling"]),
         ("ul", ["--do_sampling"]))


@dataclass
class ReplicateArgs:
    task: str = arg("sst2", "a registered dataset")
    seeds: list[int] = arg([1, 2, 3], "one full run per seed")
    output_dir: str = arg("runs/replicate", "where every seed's run, the table, figures and REPORT.md go")
    stage_config: str | None = arg(None, "a YAML/JSON file of stage flags (sizes, lr, epochs, k, precision...)")
    weight_unlike: float = arg(1.0, "the unlikelihood weight of the RW + unlikelihood run (0: skip that run)",
                               check=NON_NEGATIVE)
    safety_n_test: int = arg(50, "test rows per ETHICS evaluation for the first seed's models (0: no safety table)",
                             check=NON_NEGATIVE)


def stage_argv(stage: str, extra: list[str], args: ReplicateArgs, seed: int) -> list[str]:
    argv = ["--seed", str(seed), "--output_dir", str(Path(args.output_dir) / f"seed_{seed}")] + extra
    if args.stage_config:
        argv += ["--config", args.stage_config]
    if stage == "ul":
        argv += ["--weight_unlike", str(args.weight_unlike)]
    return argv


def run_seed(task_cls, args: ReplicateArgs, seed: int, log: list[dict]) -> Path:
    """The six runs of one seed (finished ones skipped); returns the seed's run folder."""
    from .cli import run_stage

    root = Path(args.output_dir) / f"seed_{seed}" / task_cls.facts.name
    steps = [(step, extra) for step, extra in STEPS if step != "ul" or args.weight_unlike > 0]
    for number, (step, extra) in enumerate(steps, start=1):
        done = [p for p in root.glob("results/*.json") if json.loads(p.read_text())["method"] == METHOD_NAMES[step]]
        start = time.perf_counter()
        if done:
            result = json.loads(done[0].read_text())
            print(f"[seed {seed}] {number}/{len(steps)} {METHOD_NAMES[step]}: done before, accuracy "
                  f"{result['accuracy']:.4f}", flush=True)
            continue
        print(f"[seed {seed}] {number}/{len(steps)} {METHOD_NAMES[step]} ...", flush=True)
        metrics = run_stage(task_cls, "rw" if step == "ul" else step, stage_argv(step, extra, args, seed))
        seconds = time.perf_counter() - start
        log.append({"seed": seed, "method": METHOD_NAMES[step], "minutes": round(seconds / 60, 1),
                    "accuracy": metrics["accuracy"]})
        print(f"[seed {seed}] {number}/{len(steps)} {METHOD_NAMES[step]}: accuracy {metrics['accuracy']:.4f} "
              f"({seconds / 60:.1f} min)", flush=True)
    return root


def weak_answer_statistics(task, rows: pd.DataFrame) -> dict:
    """How right the weak answers of one entropy CSV are, overall, at entropy 0, and in UF's kept rows; and the
    mean reliability score of right and of wrong answers."""
    from .reliability import filter_by_entropy, median_threshold

    right = rows["model_pred"] == rows["gold"]
    kept = filter_by_entropy(rows, median_threshold(rows["entropy"]))
    return {"rows": len(rows), "weak answers right": right.mean(),
            "right at entropy 0": right[rows["entropy"] < 1e-9].mean(),
            "right where entropy > 0": right[rows["entropy"] >= 1e-9].mean(),
            "right in UF's kept rows": (kept["model_pred"] == kept["gold"]).mean(),
            "mean score, right answers": rows.loc[right, "answer_score"].mean(),
            "mean score, wrong answers": rows.loc[~right, "answer_score"].mean()}


def paired_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's accuracy minus naive W2S's, per seed (paired: same seed, same weak labels), mean ± std."""
    acc = table.assign(method=table["method"]).pivot_table(index="seed", columns="method", values="accuracy")
    rows = []
    for method in [m for m in ("UF", "RW", METHOD_NAMES["ul"], METHOD_NAMES["ceiling"]) if m in acc]:
        diff = acc[method] - acc[METHOD_NAMES["naive"]]
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


def write_report(args: ReplicateArgs, task, roots: list[Path], log: list[dict], seconds: float) -> Path:
    from .figures import entropy_figure, reliability_figure
    from .models import model_slug
    from .pipelines import read_entropy_csv_at
    from .results_table import add_pgr, aggregate, collect

    out = Path(args.output_dir)
    table = add_pgr(collect([out]))
    table.drop(columns="path").to_csv(out / "results_table.csv", index=False)
    summary = aggregate(table)
    (out / "results_table.md").write_text(summary.to_markdown(index=False, disable_numparse=True) + "\n")
    stats, figures = [], []
    for seed, root in zip(args.seeds, roots):
        weak = json.loads(next(root.glob("results/*.json")).read_text())["config"]["weak_model_name"]
        rows = read_entropy_csv_at(task, root / task.output_names(model_slug(weak), "", False)["entropy_csv"])
        stats.append({"seed": seed, **weak_answer_statistics(task, rows)})
        figures += entropy_figure(task, rows, weak, out / "figures" / f"seed_{seed}")[1][-1:]
        figures += reliability_figure(task, rows, weak, out / "figures" / f"seed_{seed}")[1][-1:]
    stats = pd.DataFrame(stats)
    lines = [f"# Replication on {task.facts.title}: {len(args.seeds)} seeds",
             "", f"Command: `python -m common.replicate {' '.join(sys.argv[1:])}`; wall time "
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
    safety = out / "safety" / "safety_table.md"
    if safety.exists():
        lines += ["", f"## ETHICS safety evaluations of seed {args.seeds[0]}'s models (accuracy %, "
                      f"{args.safety_n_test} rows per evaluation)", "", safety.read_text()]
    (out / "REPORT.md").write_text("\n".join(lines) + "\n")
    return out / "REPORT.md"


def trained_precision(root: Path) -> str:
    """The precision the stages of a run folder resolved (their results .json), for scoring its models the same
    way; 'auto' for a folder written before results recorded it."""
    for path in sorted(root.glob("results/*.json")):
        precision = json.loads(path.read_text()).get("settings", {}).get("precision")
        if precision:
            return precision
    return "auto"


def main(argv: list[str] | None = None) -> None:
    (args,) = parse_dataclasses([ReplicateArgs], argv, __doc__)
    if not args.seeds:
        raise UserError("--seeds needs at least one seed")
    task_cls = task_class(args.task)
    start, log = time.perf_counter(), []
    roots = [run_seed(task_cls, args, seed, log) for seed in args.seeds]
    if args.safety_n_test > 0:
        from safety.evaluate import all_prompts, evaluate_model, run_models, write_tables
        from safety.suite import EVALUATIONS, SPLITS

        from .models import inference_dtype, load_model_and_tokenizer, resolve_model_path

        out = Path(args.output_dir) / "safety"
        done = out / "safety_predictions.csv"
        parts = [pd.read_csv(done)] if done.exists() else []  # models scored before an interruption
        prompts = all_prompts(list(EVALUATIONS), list(SPLITS), args.safety_n_test, 42)
        for m in run_models(roots[0]):
            if parts and m.label in set(parts[0]["model"]):
                print(f"[safety] {m.label}: done before", flush=True)
                continue
            print(f"[safety] {m.label}", flush=True)
            model, tokenizer = load_model_and_tokenizer(resolve_model_path(m.base, m.base_path),
                                                        str(m.adapter) if m.adapter else None,
                                                        inference_dtype(trained_precision(roots[0])))
            parts.append(evaluate_model(model, tokenizer, prompts).assign(model=m.label))
            write_tables(pd.concat(parts, ignore_index=True), out)
    report = write_report(args, task_cls(), roots, log, time.perf_counter() - start)
    print(report.read_text())
    print(f"report: {report}")


if __name__ == "__main__":
    run_cli(main)

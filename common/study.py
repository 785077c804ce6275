"""The study of issue 20: where, if anywhere, do the reliability-aware methods beat naive W2S? A map over weak-label
quality x how hard the student fits x a variant-robust weak supervisor, with paired seeds.

    make study                                     # = python -m common.study --config sst2/study.yaml
                                                   #   --output_dir runs/study --publish_dir study
    make study STUDY_FLAGS="--seeds 1 --max_minutes 120"     # a two-hour piece; run it again to go on
    python -m common.study --cells weak400-base-ep1 --seeds 1 2   # a subset of the cells
    python -m common.study --report_only           # table, figures and report of what has finished
    python -m common.study --cells weak400-base-ep3 --seeds 1 --output_dir runs/recheck --publish_dir '' \
        --compare_to study/study_table.csv         # re-run a committed cell apart and compare, run by run

The config (sst2/study.yaml documents every key) declares the cells: one per (weak level: the weak supervisor's
--train_limit; its prompts: the base prompt or --weak_sft_variants; the students' --epochs), id
`weak<level>-<base|var>-ep<epochs>`, and the methods each runs (`variant_methods` narrows the variant-trained
cells), in the order of its epoch_settings, then levels. For each cell, then each seed, into
OUTPUT_DIR/cells/<cell>/seed_<s>/<task>/: the weak supervisor, then the cell's methods (with --do_sampling where a
method takes it), every stage with --config OUTPUT_DIR/stage_flags.yaml (the config's stage_flags) and the cell's
flags on its command line. A run whose results exist (method key and sampling flag) is never run again, so a killed
or stopped study resumes; an error stops it. The weak supervisor is trained once per (level, prompts, seed): a cell
of another epoch setting gets a copy of its adapter, answer caches (keyed by the adapter's sha256, so the weak model
is not asked again), answer CSVs and results, the results .json last. The ceiling does not depend on the weak
supervisor: it runs once per (seed, epochs) and its results are copied into that epoch setting's other cells.

Writes into OUTPUT_DIR: study_table.csv (one line per run, with the measured weak accuracy of its (cell, seed) and
its paired difference to naive W2S), cells.md (a table per cell), fig_diff_ep<E>.png (one per epoch setting),
fig_labels_vs_accuracy.png, study_log.csv (minutes per run, all sessions), REPORT.md and, with --compare_to,
compare.csv (each run's accuracy and labels right beside those of the same cell, seed and method in a committed
study_table.csv). The small files (those,
every results .json / .txt, the configs) are copied into PUBLISH_DIR after every run, mirroring the layout, to be
committed; adapters, caches and CSVs of answers stay in OUTPUT_DIR. A person's reading goes in PUBLISH_DIR/NOTES.md,
which REPORT.md includes.
"""
import filecmp
import math
import os
import platform
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import pandas as pd

from .cli import run_stage  # the one call that trains; the tests replace it
from .config import WeakModelArgs, arg, load_settings_file, parse_dataclasses
from .errors import UserError, run_cli
from .methods import discover_methods, get_method
from .replicate import finished_run, markdown, paired_differences, takes_sampling, variant_weak
from .results import pyplot
from .results_table import collect, mean_std
from .tasks import task_class

KEYS = {"task", "seeds", "do_sampling", "weight_unlike", "stage_flags", "weak_flags", "weak_levels", "variant_levels",
        "variant_methods", "methods", "epoch_settings"}
PER_CELL = {"seed", "output_dir", "train_limit", "epochs", "do_sampling", "weight_unlike", "weak_sft_variants"}
UF_RW = ("uf", "uf_naive_rows", "rw", "rw_unlikelihood", "rw_naive_rows")
SMALL_FILES = ("study_table.csv", "cells.md", "REPORT.md", "study_log.csv", "stage_flags.yaml", "study.yaml")


@dataclass
class StudyArgs:
    config: str = arg("sst2/study.yaml", "the study's YAML: stage flags, weak levels, epoch settings, methods, seeds")
    output_dir: str = arg("runs/study", "every run (adapters, caches, results), the tables, figures and REPORT.md")
    publish_dir: str = arg("study", "copy the small files here, to be committed ('' : do not copy)")
    seeds: list[int] | None = arg(None, "only these seeds (default: the config's)")
    cells: list[str] | None = arg(None, "only these cells (ids like weak400-base-ep1; default: all)")
    max_minutes: float | None = arg(None, "start no new run after this many minutes (then write the report)")
    report_only: bool = arg(False, "run nothing: the table, figures and report of what has finished")
    compare_to: str = arg("", "a committed study_table.csv: print and write compare.csv, this output's runs "
                              "beside that table's runs of the same cell, seed and method")


@dataclass(frozen=True)
class Cell:
    level: int                # the weak supervisor's --train_limit
    variants: bool            # the weak supervisor trained with --weak_sft_variants
    epochs: float             # the students' --epochs
    methods: tuple = ()

    @property
    def id(self) -> str:
        return f"weak{self.level}-{'var' if self.variants else 'base'}-ep{self.epochs:g}"

    @staticmethod
    def parse(text: str) -> "Cell | None":
        m = re.fullmatch(r"weak(\d+)-(base|var)-ep([\d.]+)", text)
        return Cell(int(m[1]), m[2] == "var", float(m[3])) if m else None


@dataclass
class Study:
    task: str
    seeds: list[int]
    do_sampling: bool
    weight_unlike: float
    stage_flags: dict
    weak_flags: dict
    cells: list[Cell]


def method_flags(key: str, task_cls) -> set[str]:
    return {f.name for group in get_method(key).flag_groups(task_cls) for f in fields(group)}


def load_study(path: str) -> Study:
    """The study config, checked whole: every problem in one UserError."""
    raw = load_settings_file(Path(path))
    task_cls, methods = task_class(raw.get("task", "sst2")), discover_methods()
    stage, weak = raw.get("stage_flags") or {}, raw.get("weak_flags") or {}
    levels, var_levels = raw.get("weak_levels") or [], raw.get("variant_levels") or []
    every_flag = {name for key in methods for name in method_flags(key, task_cls)}
    weak_own = method_flags("weak", task_cls) - PER_CELL | {"epochs"}
    problems = []

    def need(ok, message: str) -> None:
        if not ok:
            problems.append(message)

    need(set(raw) <= KEYS, f"unknown keys {sorted(set(raw) - KEYS)} (known: {sorted(KEYS)})")
    need(levels, "weak_levels needs at least one --train_limit value")
    need(raw.get("epoch_settings"), "epoch_settings needs at least one entry ({epochs: E, methods: [...] or all})")
    var_methods = raw.get("variant_methods", "all")
    need(var_methods == "all" or (isinstance(var_methods, list) and var_methods),
         f"variant_methods is 'all' or a list of methods, not {var_methods!r}")
    if isinstance(var_methods, list):
        need(set(var_methods) <= set(methods),
             f"variant_methods: unknown methods {sorted(set(var_methods) - set(methods))}")
    need(set(var_levels) <= set(levels), f"variant_levels {sorted(set(var_levels) - set(levels))} are no weak_levels")
    need(set(stage) <= every_flag, f"stage_flags: unknown flags {sorted(set(stage) - every_flag)}")
    need(not set(stage) & PER_CELL, f"stage_flags cannot set {sorted(set(stage) & PER_CELL)}: the study sets them")
    need(set(weak) <= weak_own, f"weak_flags: not the weak supervisor's own flags {sorted(set(weak) - weak_own)}")
    need("epochs" in weak, "weak_flags needs epochs (the weak supervisor's training epochs)")
    need(not var_levels or "weak_sft_variants" in method_flags("weak", task_cls),
         "variant_levels needs --weak_sft_variants, which this checkout's weak supervisor lacks")
    cells = []
    for s in raw.get("epoch_settings") or []:
        if not isinstance(s, dict) or "epochs" not in s:
            need(False, f"epoch_settings entry {s!r} needs epochs and methods")
            continue
        keys = raw.get("methods", []) if s.get("methods", "all") == "all" else s["methods"]
        keys = tuple(k for k in dict.fromkeys(keys) if k != "weak")  # the weak supervisor always runs, first
        need(set(keys) <= set(methods), f"unknown methods {sorted(set(keys) - set(methods))}; registered: "
                                        f"{', '.join(methods)}")
        only = s.get("levels", levels)
        need(set(only) <= set(levels), f"epoch_settings levels {sorted(set(only) - set(levels))} are no weak_levels")
        # the variant-trained cells run the entry's methods that variant_methods names (default: all of them)
        var_keys = keys if var_methods == "all" else tuple(k for k in keys if k in (var_methods or ()))
        for variants in (False, True):
            cells += [Cell(int(level), variants, float(s["epochs"]), var_keys if variants else keys)
                      for level in levels if level in only
                      and (not variants or (level in var_levels and s.get("variants", True)))]
    twice = [cell_id for cell_id, n in Counter(c.id for c in cells).items() if n > 1]
    need(not twice, f"epoch_settings give the cells {twice} more than once (narrow the entries with levels:)")
    if problems:
        raise UserError(f"{path}: " + "; ".join(dict.fromkeys(problems)))
    return Study(raw.get("task", "sst2"), raw.get("seeds", [1, 2, 3]), raw.get("do_sampling", True),
                 float(raw.get("weight_unlike", 1.0)), stage, weak, cells)


def stage_argv(key: str, cell: Cell, seed: int, study: Study, out: Path, task_cls) -> list[str]:
    """The stage's command line: the shared flags file, then the cell's flags that this method takes."""
    values = {"seed": seed, "output_dir": out / "cells" / cell.id / f"seed_{seed}", "train_limit": cell.level,
              "epochs": cell.epochs, "weak_sft_variants": cell.variants or None,
              "do_sampling": (study.do_sampling and takes_sampling(key)) or None,
              "weight_unlike": {"rw": 0.0, "rw_unlikelihood": study.weight_unlike}.get(key)}
    if key == "weak":
        values.update(study.weak_flags)
    taken, argv = method_flags(key, task_cls), ["--config", str(out / "stage_flags.yaml")]
    for name, value in values.items():
        if value is not None and name in taken:
            argv += [f"--{name}", *([] if value is True else map(str, value if isinstance(value, list) else [value]))]
    return argv


def copy_files(files: list[Path], src: Path, dst: Path) -> None:
    """Each file to the same place under `dst`, via a temporary name (a copy is whole or absent); a file already
    there with other bytes (left by a run killed mid-way there) is replaced, an identical one kept."""
    for f in files:
        target = dst / f.relative_to(src)
        if f.is_file() and not (target.exists() and filecmp.cmp(f, target, shallow=False)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target.with_name(target.name + ".tmp"))
            os.replace(target.with_name(target.name + ".tmp"), target)


def copy_from_sibling(out: Path, cell: Cell, seed: int, key: str, sampling: bool, task: str) -> dict | None:
    """The weak supervisor of another cell with the same (level, prompts, seed), or the ceiling of another cell with
    the same (epochs, seed), copied into this cell if one has finished; its record, else None."""
    if key == "weak":
        shared_by = ("level", "variants")
    elif WeakModelArgs not in get_method(key).flags and get_method(key).trains == "strong":
        shared_by = ("epochs",)
    else:
        return None
    dst = out / "cells" / cell.id / f"seed_{seed}" / task
    for src in sorted((out / "cells").glob(f"*/seed_{seed}/{task}")):
        other = Cell.parse(src.parts[-3])
        same = other and other.id != cell.id and all(getattr(other, a) == getattr(cell, a) for a in shared_by)
        record = same and finished_run(src, key, sampling, variant_weak(key, cell.variants))
        if record:
            stem = record["settings"]["run_name"]
            files = [*(src / "models" / record["adapter"]).rglob("*"), *(src / "cache").rglob("*"),
                     *src.glob("*.csv")] if key == "weak" else []
            files += [p for p in (src / "results").glob(f"{stem}[._]*") if p.name != f"{stem}.json"]
            copy_files(files + [src / "results" / f"{stem}.json"], src, dst)  # the record last: then it is finished
            print(f"[cell {cell.id} seed {seed}] {get_method(key).label}: copied from {other.id}", flush=True)
            return record
    return None


def run_cells(study: Study, cells: list[Cell], seeds: list[int], args: StudyArgs, task_cls, after_run) -> None:
    """Every (cell, seed, method) not finished yet, cell by cell; stops starting runs after --max_minutes;
    `after_run()` after each run (the table, report and published copy stay current if the piece is killed)."""
    out, start, task = Path(args.output_dir), time.perf_counter(), task_cls.facts.name
    for cell in cells:  # a cell's seeds together: a piece that stops early leaves whole cells, which have verdicts
        for seed in seeds:
            keys = ["weak", *cell.methods]
            root = out / "cells" / cell.id / f"seed_{seed}" / task
            for number, key in enumerate(keys, start=1):
                sampling = study.do_sampling and takes_sampling(key)
                tag = f"[cell {cell.id} seed {seed}] {number}/{len(keys)} {get_method(key).label}" + \
                      (" (sampling)" if sampling else "")
                done = finished_run(root, key, sampling, variant_weak(key, cell.variants)) or copy_from_sibling(out, cell, seed, key, sampling, task)
                if done:
                    print(f"{tag}: done before, accuracy {done['accuracy']:.4f}", flush=True)
                    continue
                if args.max_minutes is not None and time.perf_counter() - start >= 60 * args.max_minutes:
                    print(f"--max_minutes {args.max_minutes:g} reached: no new run started; run again to go on")
                    return
                print(f"{tag} ... ({datetime.now():%H:%M})", flush=True)
                began = time.perf_counter()
                metrics = run_stage(task_cls, get_method(key), stage_argv(key, cell, seed, study, out, task_cls))
                minutes = (time.perf_counter() - began) / 60
                print(f"{tag}: accuracy {metrics['accuracy']:.4f} ({minutes:.1f} min)", flush=True)
                log = pd.DataFrame([{"cell": cell.id, "seed": seed, "method": key, "sampling": sampling,
                                     "minutes": round(minutes, 2), "accuracy": metrics["accuracy"],
                                     "finished": datetime.now().isoformat(timespec="seconds")}])
                log.to_csv(out / "study_log.csv", mode="a", header=not (out / "study_log.csv").exists(), index=False)
                after_run()


def study_table(out: Path, cells: set[str] | None = None) -> pd.DataFrame:
    """One line per finished run: its cell's axes, accuracy, label accuracy, the weak supervisor's measured
    accuracy of the same (cell, seed) and the paired difference to naive W2S of the same (cell, seed)."""
    table = collect([out / "cells"])
    if table.empty:
        return table
    table["cell"] = table["path"].map(lambda p: Path(p).relative_to(out / "cells").parts[0])
    if cells is not None:  # a cell of levels no longer in the config stays on disk but out of the table
        table = table[table["cell"].isin(cells)]
    cells = table["cell"].map(Cell.parse)
    table = table[cells.notna()].assign(weak_level=[c.level for c in cells.dropna()],
                                        weak_prompts=["variants" if c.variants else "base" for c in cells.dropna()],
                                        epochs=[c.epochs for c in cells.dropna()],
                                        path=table["path"].map(lambda p: str(Path(p).relative_to(out))))
    pair = pd.MultiIndex.from_frame(table[["cell", "seed"]])
    for column, key in (("weak_accuracy", "weak"), ("naive_accuracy", "naive")):
        runs = table[table["method_key"] == key].groupby(["cell", "seed"])["accuracy"].first()
        table[column] = runs.reindex(pair).to_numpy()
    table["minus_naive"] = table["accuracy"] - table.pop("naive_accuracy")
    columns = ["cell", "weak_level", "weak_prompts", "epochs", "seed", "method", "method_key", "sampling", "accuracy",
               "label_accuracy", "label_accuracy_weighted", "lowest_recall", "rows_kept_share", "weak_accuracy",
               "minus_naive", "n", "path"]
    return table[columns].sort_values(["epochs", "weak_prompts", "weak_level"], kind="stable").reset_index(drop=True)


def verdict(diffs: pd.Series) -> str:
    """'above' / 'below' naive W2S beyond the seed spread: at least 2 seeds, every seed's difference of the same
    sign, and a two-sided paired t-test at 5 %: |mean| > t(0.975, seeds − 1) · std / sqrt(seeds) (t = 12.71 for 2
    seeds, 4.30 for 3); else 'within' ('one seed' with one). Not corrected for the many (cell, method) pairs."""
    from scipy.stats import t

    d = diffs.dropna()
    if len(d) < 2:
        return "one seed"
    same_sign = (d > 0).all() or (d < 0).all()
    beyond = same_sign and abs(d.mean()) > t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return ("above" if d.mean() > 0 else "below") if beyond else "within"


def cell_summaries(table: pd.DataFrame) -> pd.DataFrame:
    """One line per (cell, method): seeds, accuracy, difference to naive W2S, labels right, lowest class recall
    (mean ± std), verdict."""
    rows = []
    for (cell, key), g in table.groupby(["cell", "method_key"], sort=False):
        rows.append({"cell": cell, "method_key": key, "method": g["method"].iloc[0], "seeds": len(g),
                     "accuracy": mean_std(g["accuracy"]), "minus naive": mean_std(g["minus_naive"].dropna()),
                     "mean minus naive": g["minus_naive"].mean(), "training labels right":
                     mean_std(g["label_accuracy"].dropna()), "lowest class recall": mean_std(g["lowest_recall"].dropna()),
                     "verdict": "" if key in ("weak", "naive") else verdict(g["minus_naive"])})
    return pd.DataFrame(rows)


def colour(plt, i: int):
    """Distinct hues first (tab20's dark shades), then their light shades."""
    return plt.get_cmap("tab20")((2 * i) % 20 + (2 * i) // 20 % 2)


def finish(plt, fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, bbox_inches="tight", dpi=120)
    plt.close(fig)


def x_window(low: float, high: float, width: float = 0.1) -> tuple[float, float]:
    """An x range (accuracy units) at least `width` wide, centred on (low, high) when narrower: with one weak level
    the dodged points would otherwise spread over the whole axis and read as different weak accuracies."""
    if high - low >= width:
        return low, high
    centre = (low + high) / 2
    return centre - width / 2, centre + width / 2


def diff_figure(table: pd.DataFrame, epochs: float, path: Path, title: str) -> None:
    """x: measured weak accuracy (mean over seeds); y: mean paired difference to naive W2S, bars: std over seeds;
    one line per method and kind of weak supervisor (dashed, squares: trained on the variants)."""
    plt = pyplot()
    sub = table[(table["epochs"] == epochs) & ~table["method_key"].isin(["weak", "naive", "ceiling"])]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    keys, every = list(dict.fromkeys(sub["method_key"])), list(dict.fromkeys(table["method_key"]))
    for i, key in enumerate(keys):
        oracle, dodge = key == "oracle_filter", 0.0015 * (i - (len(keys) - 1) / 2)  # side by side, not on top
        for prompts, g in sub[sub["method_key"] == key].groupby("weak_prompts"):
            s = g.groupby("weak_level").agg(x=("weak_accuracy", "mean"), y=("minus_naive", "mean"),
                                            e=("minus_naive", "std")).sort_values("x")
            label = ("oracle (upper bound of any filter of the variant rows)" if oracle else g["method"].iloc[0]) + \
                (" [weak trained on variants]" if prompts == "variants" else "")
            ax.errorbar(s["x"] + dodge, s["y"], yerr=s["e"] if s["e"].notna().any() else None, capsize=3, label=label,
                        color="black" if oracle else colour(plt, every.index(key)), lw=2.5 if oracle else 1.2,
                        marker="s" if prompts == "variants" else "o", ls="--" if prompts == "variants" else "-")
    ax.axhline(0, color="grey", lw=1, ls=":")
    ax.set_xlim(*x_window(*ax.get_xlim()))
    finish(plt, fig, ax, path, "weak supervisor's measured test accuracy (mean over seeds; methods dodged sideways)",
           "test accuracy − naive W2S's, same seed (mean ± std)", f"{title}: students trained {epochs:g} epoch(s)")


def labels_figure(table: pd.DataFrame, path: Path, title: str) -> None:
    """Training labels right against test accuracy, one point per (method, cell), means over seeds; each point
    labelled with its cell's weak level (the weak supervisor's training sentences)."""
    plt = pyplot()
    points = table.dropna(subset=["label_accuracy"]).groupby(["cell", "method_key"], sort=False).agg(
        method=("method", "first"), epochs=("epochs", "first"), prompts=("weak_prompts", "first"),
        level=("weak_level", "first"),
        x=("label_accuracy", "mean"), y=("accuracy", "mean")).reset_index()
    markers = dict(zip(sorted(points["epochs"].unique()), "o^sDv"))
    fig, ax, every = *plt.subplots(figsize=(8, 6)), list(dict.fromkeys(table["method_key"]))
    for key, g in points.groupby("method_key", sort=False):
        i = every.index(key)
        for (epochs, prompts), h in g.groupby(["epochs", "prompts"]):
            ax.scatter(h["x"], h["y"], marker=markers[epochs], edgecolors=colour(plt, i), s=45,
                       facecolors="none" if prompts == "variants" else colour(plt, i))
        ax.scatter([], [], color=colour(plt, i), label=g["method"].iloc[0])
    for p in points.itertuples():
        ax.annotate(f"{p.level}", (p.x, p.y), xytext=(3, 3), textcoords="offset points", fontsize=5, alpha=0.7)
    for epochs, marker in markers.items():  # black keys: the oracle filter's colour is a grey
        ax.scatter([], [], marker=marker, color="black", label=f"{epochs:g} epoch(s)")
    ax.scatter([], [], facecolors="none", edgecolors="black", label="hollow: weak trained on variants")
    ax.scatter([], [], s=0, label="number: the weak supervisor's training sentences")
    low = min(points["x"].min(), points["y"].min(), 0.5) if len(points) else 0.5
    ax.plot([low, 1], [low, 1], color="grey", lw=1, ls=":", label="test accuracy = labels right")
    finish(plt, fig, ax, path, "training labels right (mean over seeds)", "test accuracy (mean over seeds)",
           f"{title}: each method's training labels and test accuracy, per cell")


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def one_class_lines(table: pd.DataFrame, below: float = 0.1) -> list[str]:
    """The report's count, per cell, of student runs whose lowest class recall is under `below`: students that
    miss a class; with two classes, students that answer (nearly) one class for every test question, whose
    accuracy is then about the share of that class."""
    students = table[~table["method_key"].isin(["weak", "ceiling"])].dropna(subset=["lowest_recall"])
    if students.empty:
        return []
    rows = []
    for cell, g in students.groupby("cell", sort=False):
        low = g[g["lowest_recall"] < below]
        rows.append({"cell": cell, "runs": len(g), f"lowest class recall < {below:g}": len(low), "which (seeds)": "; ".join(
            f"{m} ({', '.join(map(str, h['seed']))})" for m, h in low.groupby("method", sort=False)) or "none"})
    return [f"## W2S students that miss a class (lowest class recall under {below:g}; with two classes: they answer "
            "one class for nearly every question)", "",
            "The weak supervisor's and the ceiling's runs are not counted; the cells' tables give every method's "
            "lowest class recall.", "", markdown(pd.DataFrame(rows)), ""]


def write_report(out: Path, publish_dir: str, table: pd.DataFrame, command: str, seconds: float, title: str) -> Path:
    summary = cell_summaries(table)
    cells_md = []
    for cell, g in table.groupby("cell", sort=False):
        weak = g[g["method_key"] == "weak"]["accuracy"]
        cells_md += [f"### {cell}", "", f"weak supervisor's accuracy: {mean_std(weak)} (seeds: {len(weak)})", "",
                     markdown(summary[summary["cell"] == cell].drop(columns=["cell", "method_key", "mean minus naive"])),
                     "", markdown(paired_differences(g)), ""]
    (out / "cells.md").write_text("\n".join(cells_md))
    students = sorted(table[~table["method_key"].isin(["weak", "naive", "ceiling"])]["epochs"].unique())
    figures = [f"fig_diff_ep{e:g}.png" for e in students] + ["fig_labels_vs_accuracy.png"]
    for stale in out.glob("fig_diff_ep*.png"):  # an epoch setting without students now draws none
        stale.unlink()
    for epochs, name in zip(students, figures):
        diff_figure(table, epochs, out / name, title)
    labels_figure(table, out / figures[-1], title)
    weak = table[table["method_key"] == "weak"].drop_duplicates(["weak_level", "weak_prompts", "seed"])
    weak = weak.groupby(["weak_level", "weak_prompts"])["accuracy"].agg(
        [("per seed", lambda a: ", ".join(f"{v:.4f}" for v in a)), ("mean ± std", mean_std)]).reset_index()
    log = pd.read_csv(out / "study_log.csv") if (out / "study_log.csv").exists() else pd.DataFrame({"minutes": []})
    beyond = summary[summary["verdict"].isin(["above", "below"])]
    lines = [f"# {title}: where do the reliability-aware methods beat naive W2S?", "", f"Command: `{command}`", "",
             f"CPU: {cpu_name()} ({os.cpu_count()} cores visible). Time: {log['minutes'].sum():.0f} min in "
             f"{len(log)} stage runs over all sessions (study_log.csv); this invocation {seconds / 60:.1f} min. "
             "The ceiling runs once per (seed, epochs), its results copied into the cells of that epoch setting.",
             "", "## The weak supervisor's measured test accuracy per level", "", markdown(weak), "",
             "## Reading (automatic)", "", "Rule: a method differs from naive W2S *beyond the seed spread* when at "
             "least 2 seeds ran, every seed's paired difference has the same sign and a two-sided paired t-test at "
             "5 % rejects no difference (|mean| > t(0.975, seeds − 1) · std / √seeds); every other difference is "
             "within the spread: no difference. Not corrected for the number of (cell, method) pairs: expect about "
             "one pair in twenty to pass by chance. With one seed, nothing can pass.", ""]
    testable = summary[~summary["verdict"].isin(["", "one seed"])]
    for key in [k for k in UF_RW if k in set(summary["method_key"])]:
        rows = testable[testable["method_key"] == key]
        above, below = rows[rows["verdict"] == "above"], rows[rows["verdict"] == "below"]
        lines.append(f"- {summary[summary['method_key'] == key]['method'].iloc[0]}: {len(rows)} of "
                     f"{(summary['method_key'] == key).sum()} cells have 2 or more seeds; above naive W2S beyond the "
                     f"spread in {len(above)} ({', '.join(above['cell']) or 'none'}), below in {len(below)} "
                     f"({', '.join(below['cell']) or 'none'})")
    if len(testable) and not (testable["method_key"].isin(UF_RW) & (testable["verdict"] == "above")).any():
        lines.append("- In the cells with 2 or more seeds, no UF or RW variant beats naive W2S beyond the spread.")
    lines += ["", "Every (cell, method) beyond the spread:", "",
              markdown(beyond[["cell", "method", "minus naive", "verdict"]]) if len(beyond) else "none", ""]
    uf = table[table["method_key"].isin(["uf", "naive"])].pivot_table(index=["cell", "seed"], columns="method_key",
                                                                    values="label_accuracy")
    if {"uf", "naive"} <= set(uf.columns):
        kept = table[table["method_key"] == "uf"].set_index(["cell", "seed"])["rows_kept_share"]
        uf = (uf["uf"] - uf["naive"]).dropna().groupby("cell", sort=False)
        lines += ["## Are UF's kept labels more often right than naive W2S's?", "",
                  markdown(pd.DataFrame([{"cell": c, "UF − naive, labels right": mean_std(d), "per seed":
                                          ", ".join(f"{v:+.4f}" for v in d), "verdict": verdict(d),
                                          "share of variant rows UF kept, per seed":
                                          ", ".join(f"{kept.get(i, float('nan')):.2f}" for i in d.index)}
                                         for c, d in uf])),
                  "", "A share of 1.00: more than half the rows share the largest entropy there is, so the median "
                  "threshold is that entropy and UF keeps every row: no filter at all.", ""]
    lines += one_class_lines(table)
    notes = Path(publish_dir or out) / "NOTES.md"
    lines += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures] + \
             ["", "## Per cell", "", *cells_md, "## Interpretation (NOTES.md, written by a person)", "",
              notes.read_text() if notes.exists() else f"_Not written yet: write it in `{notes}`._"]
    (out / "REPORT.md").write_text("\n".join(lines) + "\n")
    return out / "REPORT.md"


def missing_runs(table: pd.DataFrame, published: Path, cells: set[str]) -> int:
    """How many runs (cell, seed, method key) of the published study_table.csv, in the config's `cells`, `table`
    lacks: publishing it would replace finished results with fewer (a re-check in a fresh clone)."""
    if not published.exists():
        return 0
    keys = ["cell", "seed", "method_key"]
    old = pd.read_csv(published)[keys]
    old = old[old["cell"].isin(cells)]
    merged = old.merge(table[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    return int((merged["_merge"] == "left_only").sum())


def publish(out: Path, publish_dir: str) -> None:
    """Copy the small files (results .json / .txt, tables, figures, report, configs) to `publish_dir`."""
    if not publish_dir:
        return
    dst = Path(publish_dir)
    for f in [*out.glob("cells/*/seed_*/*/results/*.json"), *out.glob("cells/*/seed_*/*/results/*.txt"),
              *out.glob("fig_*.png"), *(out / n for n in SMALL_FILES if (out / n).exists())]:
        target = dst / f.relative_to(out)
        if not target.exists() or target.read_bytes() != f.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)


def check_same_settings(config: str, out: Path) -> None:
    """Runs of one output folder share their settings: a config whose stage settings differ from those of the runs
    already there is refused (their numbers would not compare)."""
    used = out / "study.yaml"
    if used.exists() and any(out.glob("cells/*/seed_*/*/results/*.json")):
        before, now = load_settings_file(used), load_settings_file(Path(config))
        changed = [k for k in ("task", "stage_flags", "weak_flags", "do_sampling", "weight_unlike")
                   if before.get(k) != now.get(k)]
        if changed:
            raise UserError(f"{config} changes {changed} of the runs in {out} ({used}): use a new --output_dir "
                            "(and --publish_dir), or put those settings back")


def compare(table: pd.DataFrame, committed: pd.DataFrame, path: Path) -> str:
    """This output's runs beside the committed table's runs of the same (cell, seed, method key): test accuracy
    and training labels right, both shares in [0, 1], and the differences (this − committed). Written to `path`;
    returns a markdown table and how many runs match to 4 decimals."""
    keys, values = ["cell", "seed", "method", "method_key"], ["accuracy", "label_accuracy"]
    both = table[keys + values].merge(committed[keys + values], on=keys, how="left", suffixes=("", "_committed"))
    for v in values:
        both[f"{v}_difference"] = both[v] - both[f"{v}_committed"]
    both.to_csv(path, index=False)
    found = both["accuracy_committed"].notna()
    same = (both.loc[found, "accuracy_difference"].abs() < 5e-5).sum()
    shown = both[["cell", "seed", "method", "accuracy", "accuracy_committed", "accuracy_difference",
                  "label_accuracy", "label_accuracy_committed"]]
    return (f"{markdown(shown.round(4))}\n\n{same} of {found.sum()} runs found in the committed table have the same "
            f"test accuracy (to 4 decimals); {(~found).sum()} are not in it. Written to {path}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    (args,) = parse_dataclasses([StudyArgs], argv, __doc__)
    study, out, start = load_study(args.config), Path(args.output_dir), time.perf_counter()
    task_cls = task_class(study.task)
    unknown = sorted(set(args.cells or []) - {c.id for c in study.cells})
    if unknown:
        raise UserError(f"unknown cells {unknown}; the config's: {', '.join(c.id for c in study.cells)}")
    command = f"python -m common.study {' '.join(argv)}"
    if args.compare_to and not Path(args.compare_to).is_file():
        raise UserError(f"--compare_to {args.compare_to}: no such file (a study_table.csv, e.g. study/study_table.csv)")

    def report() -> None:
        config_cells = {c.id for c in study.cells}
        table = study_table(out, config_cells)
        if table.empty:
            print(f"no finished runs under {out / 'cells'} yet: no report")
            return
        table.to_csv(out / "study_table.csv", index=False)
        path = write_report(out, args.publish_dir, table, command, time.perf_counter() - start, task_cls.facts.title)
        lacking = missing_runs(table, Path(args.publish_dir) / "study_table.csv", config_cells) if args.publish_dir else 0
        if lacking:
            print(f"not copied to {args.publish_dir}: {lacking} of its runs are not in {out} (a re-check? use "
                  "--publish_dir '' and --compare_to)", flush=True)
        else:
            publish(out, args.publish_dir)
        print(f"report: {path}" + (f" (copied to {args.publish_dir})" if args.publish_dir and not lacking else ""),
              flush=True)
        if args.compare_to:
            print(compare(table, pd.read_csv(args.compare_to), out / "compare.csv"), flush=True)

    if not args.report_only:
        import yaml

        check_same_settings(args.config, out)
        out.mkdir(parents=True, exist_ok=True)
        published_log = Path(args.publish_dir) / "study_log.csv" if args.publish_dir else None
        if published_log and published_log.exists() and not (out / "study_log.csv").exists():
            shutil.copyfile(published_log, out / "study_log.csv")  # a fresh clone continues the committed log
        (out / "stage_flags.yaml").write_text(yaml.safe_dump(study.stage_flags, sort_keys=False))
        shutil.copyfile(args.config, out / "study.yaml")
        cells = [c for c in study.cells if not args.cells or c.id in args.cells]
        run_cells(study, cells, args.seeds or study.seeds, args, task_cls, report)
    report()


if __name__ == "__main__":
    run_cli(main)

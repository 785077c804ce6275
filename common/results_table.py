"""Collect results/*.json into one table, with PGR where the weak supervisor's and the ceiling's results exist.

    python -m common.results_table                 # the results/ of every registered dataset folder
    python -m common.results_table runs/demo       # every results/ folder under chosen folders (any depth)

Writes results_table.csv (one line per run) and results_table.md (runs of several seeds folded into mean ± sample
standard deviation) into the first folder given (the current folder when none is), and prints the Markdown. PGR (performance gap recovered) =
(method - weak) / (ceiling - weak), computed per seed for the same dataset, weak and strong model, then averaged
like the accuracy.
"""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from .config import MethodArgs
from .methods import discover_methods, method_of_record, sampling_of_record
from .tasks import task_folders


def lowest_recall(record: dict) -> float | None:
    """The lowest per-class recall (share of a class's test questions answered right, 0 to 1) of a run's
    classification report, over the classes the test set has (an unparseable answer's "-1" has no test questions):
    0 when the model never gives one of the answers right, as a student that answers one class for every
    sentence; None when the run has no per-class report."""
    recalls = [v["recall"] for k, v in (record.get("report") or {}).items()
               if isinstance(v, dict) and "recall" in v and not k.endswith(" avg") and v.get("support", 1) > 0]
    return min(recalls) if recalls else None


def collect(folders: list[Path]) -> pd.DataFrame:
    """One row per results json under `folders`: dataset, weak, strong, method (its label; `method_key` the
    registry key), sampling, seed, accuracy, n, the share of right training labels (unweighted / weighted by
    the loss weights) where the run recorded it, the lowest per-class recall (`lowest_recall`) and, for a filter of
    the variant rows, the share of those rows it kept (`rows_kept_share`, before `--do_sampling`). Rows in the
    registry's order of methods."""
    methods = discover_methods()
    order = {key: i for i, key in enumerate(methods)}
    rows = []
    for path in sorted({p for folder in folders for p in Path(folder).rglob("results/*.json")}):
        record = json.loads(path.read_text())
        cfg, key = record["config"], method_of_record(record)
        method = methods.get(key)
        sampling = sampling_of_record(record) if method is not None and MethodArgs in method.flags else None
        weak = cfg.get("weak_model_name", "") + (" (variant SFT)" if cfg.get("weak_sft_variants") else "")
        rows.append({"dataset": record["dataset"], "weak": weak,
                     "strong": cfg.get("strong_model_name", ""), "method": method.label if method else key,
                     "method_key": key, "sampling": sampling, "seed": cfg["seed"], "accuracy": record["accuracy"],
                     "n": record["n"], "label_accuracy": record.get("training_label_accuracy"),
                     "label_accuracy_weighted": record.get("training_label_accuracy_weighted"),
                     "lowest_recall": lowest_recall(record), "rows_kept_share":
                         record["rows_kept"] / record["rows_total"] if record.get("rows_total") else None,
                     "path": str(path)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    rank = table["method_key"].map(lambda k: order.get(k, len(order)))
    return table.assign(rank=rank).sort_values(["dataset", "rank", "sampling", "seed"], kind="stable") \
        .drop(columns="rank").reset_index(drop=True)


def add_pgr(table: pd.DataFrame) -> pd.DataFrame:
    """PGR for every strong-model row whose weak supervisor and ceiling share its dataset, models and seed."""
    weak = table[table["method_key"] == "weak"].set_index(["dataset", "weak", "seed"])["accuracy"]
    ceiling = table[table["method_key"] == "ceiling"].set_index(["dataset", "strong", "seed"])["accuracy"]
    pgr = []
    for row in table.itertuples(index=False):
        w = weak.get((row.dataset, row.weak, row.seed))
        c = ceiling.get((row.dataset, row.strong, row.seed))
        usable = row.method_key not in ("weak", "ceiling") and w is not None and c is not None
        pgr.append((row.accuracy - w) / (c - w) if usable and c != w else None)
    return table.assign(pgr=pgr)


def aggregate(table: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, weak, strong, method, sampling): accuracy, PGR and the training labels' accuracy
    (unweighted; weighted by the loss weights) as mean ± std over seeds."""
    keys = ["dataset", "weak", "strong", "method", "sampling"]
    grouped = table.assign(sampling=table["sampling"].map(lambda v: "" if v is None or pd.isna(v) else str(v)),
                           weak=table["weak"].where(table["method_key"] != "ceiling", ""),
                           strong=table["strong"].where(table["method_key"] != "weak", ""))
    rows = []
    for key, group in grouped.groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)), "seeds": len(group), "n": int(group["n"].iloc[0]),
                     "accuracy": mean_std(group["accuracy"]), "pgr": mean_std(group["pgr"].dropna()),
                     "training labels right": mean_std(group["label_accuracy"].dropna()),
                     "weighted": mean_std(group["label_accuracy_weighted"].dropna())})
    return pd.DataFrame(rows)


def mean_std(values: pd.Series) -> str:
    """'0.4167' for one value, '0.4167 ± 0.0120' (sample std) for several, '' for none."""
    values = values.astype(float)
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{values.iloc[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m common.results_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="folders to search for results/*.json (default: the "
                                                              "dataset folders)")
    args = parser.parse_args(argv)
    folders = args.folders or task_folders()
    table = collect(folders)
    if table.empty:
        sys.exit(f"error: no results/*.json under {', '.join(map(str, folders))}")
    table = add_pgr(table)
    out = folders[0] if args.folders else Path.cwd()
    table.to_csv(out / "results_table.csv", index=False)
    markdown = aggregate(table).to_markdown(index=False, disable_numparse=True)
    (out / "results_table.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten to {out / 'results_table.csv'} and results_table.md")


if __name__ == "__main__":
    main()

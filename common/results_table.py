"""Collect results/*.json into one table, with PGR where the weak supervisor's and the ceiling's results exist.

    python -m common.results_table                 # every dataset folder's results/
    python -m common.results_table runs/demo       # the results/ of chosen output folders

Writes results_table.csv (one line per run) and results_table.md (runs of several seeds folded into mean ± standard
deviation) into the first folder, and prints the Markdown. PGR (performance gap recovered) = (method - weak) /
(ceiling - weak), computed per seed for the same dataset, weak and strong model, then averaged like the accuracy.
"""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET_FOLDERS = ("hellaswag", "mmlu", "ethics", "gsm8k")
METHOD_NAMES = {"weak_supervisor": "weak supervisor", "naive_w2s": "naive W2S", "ceiling": "ceiling (GT)",
                "uncertainty_filtering": "UF", "reweighting": "RW"}


def collect(folders: list[Path]) -> pd.DataFrame:
    """One row per results json: dataset, weak, strong, method, sampling, seed, accuracy, n."""
    rows = []
    for folder in folders:
        for path in sorted((folder / "results").glob("*.json")):
            record = json.loads(path.read_text())
            cfg = record["config"]
            stage = record.get("stage", "?")
            method = METHOD_NAMES.get(stage, stage)
            sampling = cfg.get("do_sampling", False) if stage in ("uncertainty_filtering", "reweighting") else None
            rows.append({"dataset": record.get("dataset", folder.name),
                         "weak": "" if stage == "ceiling" else cfg["weak_model_name"],
                         "strong": "" if stage == "weak_supervisor" else cfg["strong_model_name"], "method": method,
                         "sampling": sampling, "seed": cfg["seed"], "accuracy": record["accuracy"], "n": record["n"]})
    order = {name: i for i, name in enumerate(METHOD_NAMES.values())}
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    rank = table["method"].map(order)
    return table.assign(rank=rank).sort_values(["dataset", "rank"], kind="stable").drop(columns="rank")


def add_pgr(table: pd.DataFrame) -> pd.DataFrame:
    """PGR for every strong-model row whose weak supervisor and ceiling share its dataset, models and seed."""
    weak = table[table["method"] == "weak supervisor"].set_index(["dataset", "weak", "seed"])["accuracy"]
    ceiling = table[table["method"] == "ceiling (GT)"].set_index(["dataset", "strong", "seed"])["accuracy"]
    pgr = []
    for row in table.itertuples(index=False):
        w = weak.get((row.dataset, row.weak, row.seed))
        c = ceiling.get((row.dataset, row.strong, row.seed))
        usable = row.method not in ("weak supervisor", "ceiling (GT)") and w is not None and c is not None
        pgr.append((row.accuracy - w) / (c - w) if usable and c != w else None)
    return table.assign(pgr=pgr)


def aggregate(table: pd.DataFrame) -> pd.DataFrame:
    """One line per (dataset, weak, strong, method, sampling): accuracy and PGR as mean ± std over seeds."""
    keys = ["dataset", "weak", "strong", "method", "sampling"]
    grouped = table.assign(sampling=table["sampling"].map(lambda v: "" if v is None or pd.isna(v) else str(v)))
    rows = []
    for key, group in grouped.groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)), "seeds": len(group), "n": int(group["n"].iloc[0]),
                     "accuracy": mean_std(group["accuracy"]), "pgr": mean_std(group["pgr"].dropna())})
    return pd.DataFrame(rows)


def mean_std(values: pd.Series) -> str:
    """'0.4167' for one value, '0.4167 ± 0.0120' (sample std) for several, '' for none."""
    values = values.astype(float)
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{values.iloc[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="output folders holding results/ (default: datasets)")
    args = parser.parse_args()
    folders = args.folders or [REPO_ROOT / d for d in DATASET_FOLDERS]
    table = collect([f for f in folders if (f / "results").is_dir()])
    if table.empty:
        sys.exit(f"error: no results/*.json under {', '.join(map(str, folders))}")
    table = add_pgr(table)
    table.to_csv(folders[0] / "results_table.csv", index=False)
    markdown = aggregate(table).to_markdown(index=False, disable_numparse=True)
    (folders[0] / "results_table.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten to {folders[0] / 'results_table.csv'} and results_table.md")


if __name__ == "__main__":
    main()

"""Collect results/*.json into one table, with PGR where the weak supervisor's and the ceiling's results exist.

    python -m common.results_table                 # every dataset folder's results/
    python -m common.results_table runs/demo       # the results/ of chosen output folders

Prints a Markdown table and writes results_table.csv next to the first folder's results/. PGR (performance gap
recovered) = (method - weak) / (ceiling - weak), for the same dataset, weak and strong model and seed.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="output folders holding results/ (default: datasets)")
    args = parser.parse_args()
    folders = args.folders or [REPO_ROOT / d for d in DATASET_FOLDERS]
    table = collect([f for f in folders if (f / "results").is_dir()])
    if table.empty:
        sys.exit(f"error: no results/*.json under {', '.join(map(str, folders))}")
    table = add_pgr(table)
    out = folders[0] / "results_table.csv"
    table.to_csv(out, index=False)
    shown = table.assign(accuracy=table["accuracy"].map("{:.4f}".format),
                         pgr=table["pgr"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}"),
                         sampling=table["sampling"].map(lambda v: "" if v is None else str(v)))
    print(shown.to_markdown(index=False) if _has_tabulate() else shown.to_string(index=False))
    print(f"\nwritten to {out}")


def _has_tabulate() -> bool:
    import importlib.util

    return importlib.util.find_spec("tabulate") is not None


if __name__ == "__main__":
    main()

"""Writing results: the original's `.txt`, a `.json` with the numbers and the full run config, per-item CSVs,
the training-loss curve."""
import json
import os
from pathlib import Path

import pandas as pd


def write_atomic_text(path: Path, text: str) -> None:
    """Write via a temporary name and rename, so a crash never leaves a half-written file under `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_results(results_dir: Path, stem: str, metrics: dict, config: dict, extra: dict | None = None) -> Path:
    """Write `{stem}.txt` ("Accuracy: {acc}" then the report, as the original) and `{stem}.json`.

    The JSON holds accuracy, n, the per-class report, `extra` (e.g. the entropy threshold) and `config`.
    """
    txt = f"Accuracy: {metrics['accuracy']}\n"
    if "report_text" in metrics:
        txt += metrics["report_text"]
    write_atomic_text(results_dir / f"{stem}.txt", txt)
    record = {"accuracy": metrics["accuracy"], "n": metrics["n"], "report": metrics.get("report"),
              **(extra or {}), "config": config}
    json_path = results_dir / f"{stem}.json"
    write_atomic_text(json_path, json.dumps(record, indent=2, default=str) + "\n")
    return json_path


def plot_loss_curve(log: pd.DataFrame, title: str, out_stem: Path) -> list[Path]:
    """Training loss per optimiser step (the Trainer's log); saves `{out_stem}.png` and `.pdf`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(log["step"], log["loss"], marker="." if len(log) < 50 else None)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return save_figure(fig, out_stem)


def pyplot():
    """matplotlib's pyplot on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_stem: Path) -> list[Path]:
    """Save `fig` as `{out_stem}.pdf` and `.png`, close it, return the paths."""
    plt = pyplot()
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_stem.with_name(out_stem.name + ".pdf"), out_stem.with_name(out_stem.name + ".png")]
    for path in paths:
        fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return paths

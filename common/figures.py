"""The numbers behind the paper's Figures 3-6 (docs/method.md §9), their plots, and training-loss curves.

Entropy figures (3 and 5): for every distinct entropy value, how many weak answers are right and wrong.
Reliability figures (4 and 6): the mean reliability score per (weak label, ground truth) cell.
Which answers count as right, and what the heatmap's axes are, is the dataset's knowledge (its Task).
"""
from pathlib import Path

import pandas as pd

from .results import pyplot, save_figure
from .tasks import Task


def entropy_bins(rows: pd.DataFrame, task: Task) -> pd.DataFrame:
    """One line per distinct entropy value (rounded to 2 decimals, as the figure's x axis): counts of incorrect
    and correct rows, their total and the accuracy (correct / total). Rows the task does not judge are left out."""
    judged = [task.weak_answer_correct(r) for r in rows.itertuples(index=False)]
    frame = pd.DataFrame({"entropy": rows["entropy"].astype(float).round(2), "correct": judged})
    frame = frame[frame["correct"].notna()].astype({"correct": bool})
    bins = frame.groupby("entropy")["correct"].agg(correct="sum", total="size").reset_index()
    bins["incorrect"] = bins["total"] - bins["correct"]
    bins["accuracy"] = bins["correct"] / bins["total"]
    return bins[["entropy", "incorrect", "correct", "total", "accuracy"]]


def reliability_matrix(rows: pd.DataFrame, task: Task) -> pd.DataFrame:
    """Mean `answer_score` per cell: index = weak label (facts.heatmap_rows), columns = ground truth
    (facts.heatmap_cols); NaN where no row falls in a cell."""
    cells = [task.heatmap_cell(r) for r in rows.itertuples(index=False)]
    frame = pd.DataFrame({"cell": cells, "answer_score": rows["answer_score"].to_numpy()})
    frame = frame[frame["cell"].notna()]
    frame = frame.assign(weak_label=frame["cell"].str[0], ground_truth=frame["cell"].str[1])
    table = frame.pivot_table(index="weak_label", columns="ground_truth", values="answer_score", aggfunc="mean")
    return table.reindex(index=list(task.facts.heatmap_rows), columns=list(task.facts.heatmap_cols))


def load_entropy_rows(dataset: str, weak_model: str, run_dir: Path, variant_sft: bool = False):
    """(task, rows) of the entropy CSV a run wrote in `run_dir` (the dataset folder, or OUTPUT_DIR/<dataset> after
    a run with --output_dir); `variant_sft`: of the weak supervisor trained with --weak_sft_variants."""
    from .tasks import get_task
    from .weak_answers import load_entropy_rows as rows_of

    task = get_task(dataset)
    return task, rows_of(task, weak_model, run_dir, variant_sft)


def entropy_figure(task: Task, rows: pd.DataFrame, weak_model: str, figures_dir: Path):
    """The entropy figure of one run (the paper's Figures 3 and 5): its bins and the files written."""
    from .models import model_slug

    bins = entropy_bins(rows, task)
    stem = Path(figures_dir) / f"entropy_{task.facts.figure_stem or task.facts.title}_{model_slug(weak_model)}"
    paths = plot_entropy_bars(bins, f"{task.facts.title} Validation Set, {weak_model}", stem, task.facts.bar_width,
                              task.facts.entropy_xlim)
    return bins, paths


def reliability_figure(task: Task, rows: pd.DataFrame, weak_model: str, figures_dir: Path, temperature=None):
    """The reliability heatmap of one run (the paper's Figures 4 and 6) over the rows re-weighting trains on, with
    the scores the entropy CSV holds (the run's temperature), or recomputed at `temperature`: its matrix and the
    files written."""
    from .models import model_slug
    from .weak_answers import reweighting_rows

    scored = reweighting_rows(task, rows, temperature)
    matrix = reliability_matrix(scored, task)
    stem = Path(figures_dir) / f"heatmap_reliability_score_{task.name}_{model_slug(weak_model)}"
    paths = plot_reliability_heatmap(matrix, f"{task.facts.title} Validation Set, {weak_model}", stem,
                                     task.facts.heatmap_ylabel)
    return matrix, paths


def plot_entropy_bars(bins: pd.DataFrame, title: str, out_stem: Path, bar_width: float = 0.08,
                      xlim: tuple[float, float] | None = None) -> list[Path]:
    """The original notebook's figure: stacked bars per entropy value (red incorrect below, blue correct above,
    alpha 0.8), the accuracy over each bar, font size 13. Saves `{out_stem}.pdf` and `.png`."""
    plt = pyplot()
    with plt.rc_context({"font.size": 13}):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.bar(bins["entropy"], bins["incorrect"], bar_width, color="r", alpha=0.8, label="Incorrect")
        ax.bar(bins["entropy"], bins["correct"], bar_width, bottom=bins["incorrect"], color="b", alpha=0.8,
               label="Correct")
        for x, total, accuracy in zip(bins["entropy"], bins["total"], bins["accuracy"]):
            ax.text(x, total, f"{accuracy:.2f}", ha="center", va="bottom", fontsize=11)
        ax.set_xticks(bins["entropy"])
        ax.set_xticklabels([f"{x:.2f}" for x in bins["entropy"]], rotation=30)
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_xlabel("Entropy", fontsize=15)
        ax.set_ylabel("Count", fontsize=15)
        ax.set_title(title, fontsize=16)
        ax.legend(fontsize=15)
        return save_figure(fig, out_stem)


def plot_reliability_heatmap(matrix: pd.DataFrame, title: str, out_stem: Path, ylabel: str = "Weak Label"
                             ) -> list[Path]:
    """The original notebook's heatmap: seaborn, font scale 1.3, a cubehelix colour map scaled to the data,
    annotated cells. Saves `{out_stem}.png` and `.pdf`."""
    import seaborn as sns

    plt = pyplot()
    with sns.axes_style("darkgrid"), sns.plotting_context("notebook", font_scale=1.3):
        fig, ax = plt.subplots(figsize=(6, 5))
        sns.heatmap(matrix.astype(float), annot=True, cmap=sns.cubehelix_palette(as_cmap=True), ax=ax)
        ax.set_xlabel("Ground Truth")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        return save_figure(fig, out_stem)

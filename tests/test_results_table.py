"""The results table: PGR on result files whose answer is known, and seeds folded into mean ± std."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def write_result(folder: Path, stem: str, stage: str, accuracy: float, seed: int, sampling: bool = False):
    config = {"weak_model_name": "W", "strong_model_name": "S", "seed": seed, "do_sampling": sampling}
    (folder / "results").mkdir(parents=True, exist_ok=True)
    (folder / "results" / f"{stem}-{seed}.json").write_text(json.dumps(
        {"dataset": "mmlu", "stage": stage, "accuracy": accuracy, "n": 100, "config": config}))


def test_pgr_and_seed_aggregation(tmp_path):
    # seed 1: weak 0.40, ceiling 0.60 -> naive 0.50 has PGR 0.5, UF 0.55 has 0.75
    # seed 2: weak 0.40, ceiling 0.80 -> naive 0.50 has PGR 0.25, UF 0.70 has 0.75
    for seed, (weak, ceiling, naive, uf) in {1: (0.4, 0.6, 0.5, 0.55), 2: (0.4, 0.8, 0.5, 0.7)}.items():
        write_result(tmp_path, "weak", "weak_supervisor", weak, seed)
        write_result(tmp_path, "ceiling", "ceiling", ceiling, seed)
        write_result(tmp_path, "naive", "naive_w2s", naive, seed)
        write_result(tmp_path, "uf", "uncertainty_filtering", uf, seed, sampling=True)
    result = subprocess.run([sys.executable, "-m", "common.results_table", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    runs = pd.read_csv(tmp_path / "results_table.csv")
    pgr = runs.set_index(["method", "seed"])["pgr"]
    assert pgr[("naive W2S", 1)] == pytest.approx(0.5) and pgr[("naive W2S", 2)] == pytest.approx(0.25)
    assert pgr[("UF", 1)] == pytest.approx(0.75) and pgr[("UF", 2)] == pytest.approx(0.75)
    assert runs[runs["method"] == "weak supervisor"]["pgr"].isna().all()
    markdown = (tmp_path / "results_table.md").read_text()
    naive_line = next(line for line in markdown.splitlines() if "naive W2S" in line)
    assert "0.5000 ± 0.0000" in naive_line and "0.3750 ± 0.1768" in naive_line
    assert [c.strip() for c in naive_line.split("|")][6] == "2"  # seeds
    uf_line = next(line for line in markdown.splitlines() if "| UF" in line)
    assert "0.6250 ± 0.1061" in uf_line and "0.7500 ± 0.0000" in uf_line and "True" in uf_line


def test_records_by_key_and_by_the_labels_of_older_folders(tmp_path):
    """A results .json written by the registry carries `method_key` and `do_sampling`; one written before it only a
    label (or a stage): both read, and order by the registry."""
    from common.results_table import collect

    write_result(tmp_path / "old", "weak", "weak_supervisor", 0.4, 1)
    record = {"dataset": "mmlu", "method": "RW + unlikelihood", "method_key": "rw_unlikelihood", "do_sampling": True,
              "accuracy": 0.5, "n": 100, "training_label_accuracy": 0.75, "training_label_accuracy_weighted": 0.8,
              "config": {"weak_model_name": "W", "strong_model_name": "S", "seed": 1, "do_sampling": True}}
    (tmp_path / "new" / "results").mkdir(parents=True)
    (tmp_path / "new" / "results" / "ul.json").write_text(json.dumps(record))
    old_label = {**record, "method_key": None, "method": "RW", "do_sampling": None}
    (tmp_path / "new" / "results" / "rw.json").write_text(json.dumps(old_label))
    table = collect([tmp_path])
    assert table["method_key"].tolist() == ["weak", "rw", "rw_unlikelihood"]
    assert table["sampling"].tolist()[1:] == [True, True] and pd.isna(table["sampling"].iloc[0])
    assert table["label_accuracy_weighted"].iloc[2] == 0.8


def test_no_results_is_an_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "common.results_table", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "no results" in result.stderr


def test_a_variant_trained_weak_supervisor_is_its_own_weak_model_for_pgr(tmp_path):
    """Naive W2S on a --weak_sft_variants weak supervisor (0.6) and on the base one (0.4), ceiling 0.8: each naive
    run's PGR is against its own weak supervisor."""
    from common.results_table import add_pgr, collect

    for variant, weak, naive in ((False, 0.4, 0.6), (True, 0.6, 0.7)):
        config = {"weak_model_name": "W", "strong_model_name": "S", "seed": 1, "weak_sft_variants": variant}
        for stem, stage, accuracy in (("weak", "weak_supervisor", weak), ("naive", "naive_w2s", naive)):
            (tmp_path / "results").mkdir(exist_ok=True)
            (tmp_path / "results" / f"{stem}-{variant}.json").write_text(json.dumps(
                {"dataset": "mmlu", "stage": stage, "accuracy": accuracy, "n": 100, "config": config}))
    write_result(tmp_path, "ceiling", "ceiling", 0.8, 1)
    table = add_pgr(collect([tmp_path])).set_index(["method", "weak"])
    assert table.loc[("naive W2S", "W"), "pgr"] == pytest.approx(0.5)
    assert table.loc[("naive W2S", "W (variant SFT)"), "pgr"] == pytest.approx(0.5)


def test_lowest_recall_reads_the_per_class_report():
    from common.results_table import lowest_recall

    # sklearn's classification_report(output_dict=True) of a student that answers "1" for every sentence
    report = {"0": {"precision": 0.0, "recall": 0.0, "support": 232.0},
              "1": {"precision": 0.536, "recall": 1.0, "support": 268.0}, "accuracy": 0.536,
              "-1": {"precision": 0.0, "recall": 0.0, "support": 0.0},  # unparseable answers: no test questions
              "macro avg": {"recall": 0.5}, "weighted avg": {"recall": 0.536}}
    assert lowest_recall({"report": report}) == 0.0
    report["0"]["recall"] = 0.25
    assert lowest_recall({"report": report}) == 0.25  # neither the averages (0.5) nor "-1" (0.0) are classes
    assert lowest_recall({"accuracy": 0.4}) is None  # GSM8K-like: no per-class report

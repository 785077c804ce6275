"""The numbers behind Figures 3-6: hand-computed on a small CSV, and a replay of the original's HellaSwag table (docs/method.md §9)."""
import pandas as pd
import pytest

from common.figures import entropy_bins, plot_entropy_bars, plot_reliability_heatmap, reliability_matrix
from common.reliability import add_question_statistics, median_threshold
from common.weak_answers import reweighting_rows as rw_rows
from ethics.task import EthicsTask
from gsm8k.task import GSM8KTask
from hellaswag.task import HellaSwagTask
from mmlu.task import MMLUTask


def reweighting_rows(task, rows):
    return rw_rows(task, rows, task.facts.temperature)


def mmlu_rows():
    """Two questions. q0: five agreeing answers (H=0), 4 right; q1: a 3+2 split (H=0.673012), 1 right, and one
    extra question q2 with an unparseable answer (dropped by RW, counted wrong by the entropy figure)."""
    rows = [  # question, model_output, model_pred (option text), target letter
        (0, "A x", "paris", "A"), (0, "B", "paris", "B"), (0, "c", "paris", "C"), (0, "D", "paris", "D"),
        (0, "A", "paris", "B"),
        (1, "B", "rome", "B"), (1, "C", "rome", "A"), (1, "C", "rome", "D"), (1, "A", "oslo", "B"),
        (1, "D.", "oslo", "C"),
        (2, "", "None", "A"), (2, "A", "bern", "A"), (2, "A", "bern", "B"), (2, "B", "bern", "C"),
        (2, "C", "bern", "D"),
    ]
    frame = pd.DataFrame(rows, columns=["question_id", "model_output", "model_pred", "target"])
    return add_question_statistics(frame, temperature=0.2)


def test_entropy_bins_by_hand():
    bins = entropy_bins(mmlu_rows(), MMLUTask())
    # H=0: q0 (4 right of 5); H=0.50: q2 (4+1: "None" is a class), right: A/A only -> 1 of 5; H=0.67: q1, 1 right
    assert bins["entropy"].tolist() == [0.0, 0.5, 0.67]
    assert bins["correct"].tolist() == [4, 1, 1]
    assert bins["incorrect"].tolist() == [1, 4, 4]
    assert bins["accuracy"].tolist() == pytest.approx([0.8, 0.2, 0.2])


def test_reliability_matrix_by_hand():
    rows = reweighting_rows(MMLUTask(), mmlu_rows())  # q2 has an unparseable answer: dropped
    assert sorted(rows["question_id"].unique()) == [0, 1]
    matrix = reliability_matrix(rows, MMLUTask())
    assert list(matrix.index) == list("ABCD") and list(matrix.columns) == list("ABCD")
    assert matrix.loc["A", "A"] == pytest.approx(1.0)            # q0 row 1 ("A x": its first word is "A")
    assert matrix.loc["A", "B"] == pytest.approx((1.0 + 0.268941) / 2, abs=1e-6)  # q0 row 5, q1 row 4
    assert matrix.loc["C", "A"] == pytest.approx(0.731059, abs=1e-6)
    assert matrix.loc["B", "B"] == pytest.approx((1.0 + 0.731059) / 2, abs=1e-6)
    assert pd.isna(matrix.loc["B", "A"])
    assert pd.isna(matrix.loc["D", "C"])  # "D." is not the word "D": the original notebook skipped it
    assert pd.isna(matrix.loc["C", "C"])  # "c" neither (exact, case-sensitive)


def test_ethics_and_gsm8k_judging_rules():
    ethics = pd.DataFrame({"question_id": [0, 0, 1, 1, 2, 2], "is_short": [True, True, False, False, False, False],
                           "label": [1, 1, 0, 0, 1, 1],
                           "model_output": ["unacceptable", "maybe", "Right because", "wrong", "wrong.", "wrong\nso"],
                           "model_pred": ["1", "-1", "0", "1", "1", "1"]})
    ethics = add_question_statistics(ethics, temperature=1.0)
    bins = entropy_bins(ethics, EthicsTask())
    # the notebook's rule: the first space-separated word, lower-cased, no punctuation stripped; "maybe", "wrong."
    # and "wrong\nso" (one word up to the next space) match no answer word and are not counted
    assert bins["total"].sum() == 3
    assert bins.set_index("entropy")["correct"].to_dict() == {0.69: 2}
    matrix = reliability_matrix(ethics, EthicsTask())
    assert matrix.loc[1, 1] == pytest.approx((0.5 + 1 + 1) / 3) and matrix.loc[0, 0] == pytest.approx(0.5)
    gsm = add_question_statistics(pd.DataFrame({"question_id": [0] * 5, "label": [18] * 5,
                                                "model_pred": ["18", "18", "18", "7", "18"],
                                                "gold": ["18"] * 5}), temperature=0.2)
    matrix = reliability_matrix(gsm, GSM8KTask())
    assert matrix.loc["Correct", "Ground Truth"] == pytest.approx(0.952574, abs=1e-6)
    assert matrix.loc["Incorrect", "Ground Truth"] == pytest.approx(0.047426, abs=1e-6)


# the original's HellaSwag run with the LLAMA2-7B weak model (docs/method.md §9): answer pattern -> (incorrect, correct) rows
def test_hellaswag_entropy_figure_reads_the_letter_case_sensitively():
    rows = pd.DataFrame({"question_id": [0, 0], "model_output": ["c. x", "C. x"], "model_pred": ["e", "e"],
                         "target": [2, 2]})
    bins = entropy_bins(add_question_statistics(rows, temperature=0.2), HellaSwagTask())
    assert bins["correct"].tolist() == [1] and bins["incorrect"].tolist() == [1]  # "c" is wrong, as the original


HELLASWAG_TABLE = {(5,): (645, 13175), (4, 1): (1572, 3138), (3, 2): (1451, 1394), (3, 1, 1): (956, 724),
                   (2, 2, 1): (1003, 507), (2, 1, 1, 1): (312, 123)}


def test_replay_of_the_hellaswag_entropy_table():
    rows, question = [], 0
    for pattern, (incorrect, correct) in HELLASWAG_TABLE.items():
        n_rows = incorrect + correct
        for q in range(n_rows // 5):
            answers = [f"ending {c}" for c, count in enumerate(pattern) for _ in range(count)]
            for answer in answers:
                rows.append({"question_id": question, "model_pred": f"{question}/{answer}", "target": 2})
            question += 1
        # the first `correct` rows of this bin answer the target letter C, the rest B
        start = len(rows) - n_rows
        for i in range(start, len(rows)):
            rows[i]["model_output"] = "C. because" if i - start < correct else "B. because"
    frame = add_question_statistics(pd.DataFrame(rows), temperature=0.2)
    assert len(frame) == 25000 and frame["question_id"].nunique() == 5000
    bins = entropy_bins(frame, HellaSwagTask())
    assert bins["entropy"].tolist() == [0.0, 0.5, 0.67, 0.95, 1.05, 1.33]
    assert bins["incorrect"].tolist() == [645, 1572, 1451, 956, 1003, 312]
    assert bins["correct"].tolist() == [13175, 3138, 1394, 724, 507, 123]
    assert bins["accuracy"].round(4).tolist() == [0.9533, 0.6662, 0.49, 0.431, 0.3358, 0.2828]
    assert median_threshold(frame["entropy"]) == 0.0  # UF keeps the 13,820 rows at H = 0, as the original (docs/method.md §4)


def test_plots_write_pdf_and_png(tmp_path):
    rows = mmlu_rows()
    paths = plot_entropy_bars(entropy_bins(rows, MMLUTask()), "MMLU", tmp_path / "entropy")
    paths += plot_reliability_heatmap(reliability_matrix(reweighting_rows(MMLUTask(), rows), MMLUTask()), "MMLU",
                                      tmp_path / "heatmap")
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths) and len(paths) == 4

"""Entropy, reliability scores, the median filter and sampling against the tables of docs/method.md §4 (to 1e-6)."""
import math

import pandas as pd
import pytest

from common.reliability import (
    add_question_statistics,
    answer_entropy,
    filter_by_entropy,
    median_threshold,
    reliability_scores,
    sample_rows,
)

# docs/method.md §4: answer pattern (counts) -> entropy in nats
ENTROPY_TABLE = [
    ((5,), 0.0), ((4, 1), 0.500402), ((3, 2), 0.673012), ((3, 1, 1), 0.950271), ((2, 2, 1), 1.054920),
    ((2, 1, 1, 1), 1.332179), ((1, 1, 1, 1, 1), 1.609438), ((2,), 0.0), ((1, 1), 0.693147),
]
# docs/method.md §4, k=5, T=0.2: pattern -> weight of each answer class, in pattern order
WEIGHT_TABLE = [
    ((5,), (1.0,)), ((4, 1), (0.952574, 0.047426)), ((3, 2), (0.731059, 0.268941)),
    ((3, 1, 1), (0.786986, 0.106507, 0.106507)), ((2, 2, 1), (0.422319, 0.422319, 0.155362)),
    ((2, 1, 1, 1), (0.475367, 0.174878, 0.174878, 0.174878)), ((1, 1, 1, 1, 1), (0.2,) * 5),
]


def answers_for(pattern):
    """A list of answers with the given class counts, classes named 'a', 'b', ..."""
    return [chr(ord("a") + c) for c, count in enumerate(pattern) for _ in range(count)]


@pytest.mark.parametrize("pattern,expected", ENTROPY_TABLE)
def test_entropy_table(pattern, expected):
    assert answer_entropy(answers_for(pattern)) == pytest.approx(expected, abs=1e-6)


def test_entropy_ignores_order_and_counts_invalid_as_a_class():
    assert answer_entropy(["x", "None", "x", "x", "None"]) == pytest.approx(0.673012, abs=1e-6)
    assert answer_entropy([-1, -1]) == 0.0  # two unparseable ETHICS answers agree (quirk Q7)


@pytest.mark.parametrize("pattern,weights", WEIGHT_TABLE)
def test_reliability_weight_table(pattern, weights):
    scores = reliability_scores(answers_for(pattern), temperature=0.2)
    expected = [w for w, count in zip(weights, pattern) for _ in range(count)]
    assert scores == pytest.approx(expected, abs=1e-6)


def test_reliability_k2_temperature_1():
    assert reliability_scores([0, 0], 1.0) == pytest.approx([1.0, 1.0])
    assert reliability_scores([0, 1], 1.0) == pytest.approx([0.5, 0.5])


def test_reliability_rejects_bad_temperature():
    with pytest.raises(ValueError):
        reliability_scores(["a"], 0.0)


def frame_of(patterns):
    rows = []
    for qid, pattern in enumerate(patterns):
        for answer in answers_for(pattern):
            rows.append({"question_id": qid, "model_pred": f"{qid}-{answer}"})
    return pd.DataFrame(rows)


def test_question_statistics_per_question():
    rows = add_question_statistics(frame_of([(5,), (4, 1), (3, 1, 1)]), temperature=0.2)
    assert list(rows["entropy"].round(6)) == [0.0] * 5 + [0.500402] * 5 + [0.950271] * 5
    assert list(rows["answer_score"].round(6)) == [1.0] * 5 + [0.952574] * 4 + [0.047426] + \
        [0.786986] * 3 + [0.106507] * 2


def test_median_is_over_rows_and_ties_are_kept():
    # 3 questions: H = 0, 0.500402, 0.950271 -> 15 rows, the median row value is 0.500402
    rows = add_question_statistics(frame_of([(5,), (4, 1), (3, 1, 1)]), temperature=0.2)
    threshold = median_threshold(rows["entropy"])
    assert threshold == pytest.approx(0.500402, abs=1e-6)
    kept = filter_by_entropy(rows, threshold)
    assert sorted(kept["question_id"].unique()) == [0, 1]  # the tie (question 1) is kept whole
    assert len(kept) == 10


def test_median_interpolates_between_questions():
    # 2 questions of 5 rows: 10 rows, median between row 5 (0.0) and row 6 (1.609438) -> linear interpolation
    rows = add_question_statistics(frame_of([(5,), (1, 1, 1, 1, 1)]), temperature=0.2)
    assert median_threshold(rows["entropy"]) == pytest.approx(math.log(5) / 2, abs=1e-9)
    assert list(filter_by_entropy(rows, median_threshold(rows["entropy"]))["question_id"].unique()) == [0]


def test_sampling_with_and_without_replacement():
    rows = pd.DataFrame({"x": range(10)})
    without = sample_rows(rows, 4, replace=False, seed=1)
    assert len(without) == 4 and without["x"].is_unique
    assert len(sample_rows(rows, 50, replace=False, seed=1)) == 10  # capped without replacement
    assert len(sample_rows(rows, 50, replace=True, seed=1)) == 50
    assert list(sample_rows(rows, 4, False, seed=7)["x"]) == list(sample_rows(rows, 4, False, seed=7)["x"])

"""Answer agreement of the weak supervisor: entropy, reliability scores, median filtering and row sampling.

All functions here are pure: they take the k normalised answers of one question (or a frame of such rows) and
return numbers, with no model and no file involved. docs/method.md §4-§5 defines them.
"""
from collections import Counter
from typing import Hashable, Sequence

import numpy as np
import pandas as pd


def answer_entropy(answers: Sequence[Hashable]) -> float:
    """Entropy, in nats (natural log), of the empirical distribution of one question's k answers.

    Every distinct answer is a class, an unparseable marker included (as in the original). 5 equal answers give
    0.0, a 4+1 split 0.500402, five different answers ln 5 = 1.609438.
    """
    if len(answers) == 0:
        raise ValueError("answer_entropy needs at least one answer")
    counts = np.array(list(Counter(answers).values()), dtype=float)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def reliability_scores(answers: Sequence[Hashable], temperature: float) -> list[float]:
    """Reliability weight of each of one question's k answers (docs/method.md §4).

    s_a = softmax over the distinct answers a of (count_a / k) / temperature; each answer gets the score of its
    class, so k agreeing answers all get 1.0. Scores are probabilities over classes, not over rows: the row
    weights of a split question do not sum to 1.
    """
    score_of = class_scores(Counter(answers), len(answers), temperature)
    return [score_of[a] for a in answers]


def candidate_score(answers: Sequence[Hashable], candidate: Hashable, temperature: float) -> float:
    """The reliability score of `candidate` among one question's k answers: the same softmax over the distinct
    answers, with the candidate as one more class of count 0 if no answer is it (then its score is below every
    given answer's). For a candidate among the answers it equals that answer's `reliability_scores` value. Used to
    score naive W2S's weak label by the variants' answers (rw_naive_rows, docs/method.md §13)."""
    counts = Counter(answers)
    counts[candidate] += 0  # a class of its own, with no vote, if no answer is it
    return class_scores(counts, len(answers), temperature)[candidate]


def class_scores(counts: Counter, k: int, temperature: float) -> dict:
    """softmax over the classes of (count / k) / temperature: class -> score."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = np.array([counts[a] / k / temperature for a in counts])
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return {a: float(p) for a, p in zip(counts, probs)}


def add_question_statistics(rows: pd.DataFrame, temperature: float, question_col: str = "question_id",
                            answer_col: str = "model_pred") -> pd.DataFrame:
    """Return a copy of `rows` with `entropy` and `answer_score` columns computed per question."""
    out = rows.copy()
    out["entropy"] = out.groupby(question_col, sort=False)[answer_col].transform(
        lambda a: answer_entropy(list(a)))
    scores = pd.Series(index=out.index, dtype=float)
    for _, group in out.groupby(question_col, sort=False):
        scores.loc[group.index] = reliability_scores(list(group[answer_col]), temperature)
    out["answer_score"] = scores
    return out


def median_threshold(entropies: Sequence[float]) -> float:
    """The median of the per-row entropies (numpy linear interpolation), as the original's np.percentile(., 50).

    It is taken over rows, not questions; each question contributes its k identical values.
    """
    if len(entropies) == 0:
        raise ValueError("median_threshold needs at least one entropy value")
    return float(np.percentile(np.asarray(entropies, dtype=float), 50))


def filter_by_entropy(rows: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Rows whose question entropy is <= threshold (ties kept, so usually well over half the rows survive).

    A small tolerance absorbs float noise: entropies are recomputed and may differ in the last bit from a value
    read back from CSV.
    """
    return rows[rows["entropy"] <= threshold + 1e-9]


def sample_rows(rows: pd.DataFrame, n: int, replace: bool, seed: int) -> pd.DataFrame:
    """Draw n rows (the `--do_sampling` row-count control), seeded; without replacement n is capped at len(rows)."""
    if not replace:
        n = min(n, len(rows))
    return rows.sample(n=n, replace=replace, random_state=seed)

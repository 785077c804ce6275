"""Scoring of generation-based test predictions, as the original's evaluation.py."""
from typing import Hashable, Sequence

from sklearn.metrics import accuracy_score, classification_report


def score_predictions(labels: Sequence[Hashable], predictions: Sequence[Hashable],
                      with_report: bool = True) -> dict:
    """Accuracy (fraction of exact matches, 0-1) and sklearn's classification report (digits=4) as text and dict."""
    if len(labels) == 0:
        raise ValueError("cannot score an empty test set")
    labels, predictions = [str(x) for x in labels], [str(x) for x in predictions]
    result = {"accuracy": float(accuracy_score(labels, predictions)), "n": len(labels)}
    if with_report:
        result["report_text"] = classification_report(labels, predictions, digits=4, zero_division=0)
        result["report"] = classification_report(labels, predictions, digits=4, zero_division=0, output_dict=True)
    return result

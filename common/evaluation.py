"""Generation-based test accuracy, as the original's evaluation.py (5 new tokens, parse, compare), but batched."""
from typing import Callable, Hashable, Sequence

from sklearn.metrics import accuracy_score, classification_report

from .generation import generate


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


def evaluate_generation(model, tokenizer, prompts: Sequence[str], labels: Sequence[Hashable],
                        parse: Callable[[str], Hashable], max_new_tokens: int = 5, batch_size: int = 8,
                        do_sample: bool = False, with_report: bool = True) -> tuple[dict, list[str], list]:
    """Generate an answer to every test prompt, parse it and score it; returns (metrics, outputs, predictions)."""
    outputs = generate(model, tokenizer, prompts, max_new_tokens, batch_size, do_sample, desc="evaluating")
    predictions = [parse(o) for o in outputs]
    return score_predictions(labels, predictions, with_report), outputs, predictions

"""Confidence weighting (a one-query baseline for RW): naive W2S's rows, each weighted by the weak model's own
confidence in its answer (common.weak_answers.weak_confidence); rows without one (no answer option named) are
left out."""
from ..config import QueryArgs, StrongModelArgs, WeakModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method
from .confidence_filter import confident_rows


@register_method
class ConfidenceWeight(Method):
    key, label, order = "confidence_weight", "confidence weight", 22
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs)
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-confidence-weight-from-{weak}")
    description = "naive rows weighted by the weak model's confidence in its answer (one query)"

    def build(self, inputs) -> TrainingSet:
        rows, n = confident_rows(inputs)
        rows = inputs.head(rows)
        examples = [Example(*inputs.task.naive_example(r, r.weak_label), float(r.confidence))
                    for r in rows.itertuples(index=False)]
        inputs.say(f"confidence weight: {len(rows)} of {n} questions scored, mean confidence "
                   f"{rows['confidence'].mean():.4f}")
        extra = {"stage": "confidence_weight", "questions_scored": len(rows),
                 "mean_confidence": float(rows["confidence"].mean()),
                 "weak_label_accuracy": float(inputs.weak_labels()["weak_right"].mean())}
        return TrainingSet(examples, extra, right=list(rows["weak_right"]), questions=list(rows.index))

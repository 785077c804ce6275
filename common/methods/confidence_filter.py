"""Confidence filter (a one-query baseline for UF): naive W2S's rows of the questions whose weak answer the weak
model itself gave with at least the median confidence (its probability of that answer among the answer options,
from the one naive query: common.weak_answers.weak_confidence). Is one query as good a reliability signal as k?"""
import numpy as np

from ..config import QueryArgs, StrongModelArgs, WeakModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method


def confident_rows(inputs):
    """(the transfer pool's naive rows with a defined confidence, with a `confidence` column; the pool's size)."""
    from ..weak_answers import weak_confidence

    labelled = inputs.weak_labels()
    scored = labelled.assign(confidence=weak_confidence(inputs.task, inputs.cfg, labelled))
    return scored[scored["confidence"].notna()], len(scored)


@register_method
class ConfidenceFilter(Method):
    key, label, order = "confidence_filter", "confidence filter", 21
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs)
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-confidence-filter-from-{weak}")
    description = "naive rows whose weak answer has at least the median confidence of the weak model (one query)"

    def build(self, inputs) -> TrainingSet:
        rows, n = confident_rows(inputs)
        threshold = float(np.median(rows["confidence"]))
        kept = inputs.head(rows[rows["confidence"] >= threshold])  # as UF: filter, then the train fraction
        examples = [Example(*inputs.task.naive_example(r, r.weak_label)) for r in kept.itertuples(index=False)]
        inputs.say(f"confidence filter: {len(kept)} of {n} questions kept (confidence >= {threshold:.4f}); weak "
                   f"labels right {kept['weak_right'].mean():.4f} vs {rows['weak_right'].mean():.4f} of all scored")
        extra = {"stage": "confidence_filter", "confidence_threshold": threshold, "questions_scored": len(rows),
                 "questions_kept": len(kept), "mean_confidence": float(rows["confidence"].mean()),
                 "weak_label_accuracy": float(inputs.weak_labels()["weak_right"].mean())}
        return TrainingSet(examples, extra, right=list(kept["weak_right"]), questions=list(kept.index))

"""Random filter (a control for UF): the same variant rows as uncertainty filtering, but the questions kept are drawn
at random, as many as UF keeps for this run. What UF gains over it is the worth of its signal, net of the row
count."""
import numpy as np

from ..config import MethodArgs, QueryArgs, StrongModelArgs, VariantArgs, WeakModelArgs
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class RandomFilter(Method):
    key, label, order = "random_filter", "random filter", 10
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, MethodArgs, VariantArgs)
    variant_flags = True
    defaults = MethodDefaults(sampling="uf_sampling",
                              run_name="{strong}-{ds}-random-filter-from-{weak}-sampling={sampling}")
    description = "UF's row count with the questions drawn at random (seeded): the control for UF's signal"

    def build(self, inputs) -> TrainingSet:
        from ..weak_answers import uf_keep, variant_training_set, weak_answer_accuracy

        rows = inputs.variant_answers()
        uf_kept, _ = uf_keep(rows)
        questions = rows["question_id"].unique()
        n_keep = uf_kept["question_id"].nunique()
        drawn = np.random.default_rng(inputs.cfg.run.seed).choice(questions, size=n_keep, replace=False)
        kept = rows[rows["question_id"].isin(set(drawn.tolist()))]
        inputs.say(f"random filter: {n_keep} of {len(questions)} questions drawn (as many as UF keeps), "
                   f"{len(kept)} rows; weak answers right {weak_answer_accuracy(kept):.4f} of them "
                   f"(UF's kept: {weak_answer_accuracy(uf_kept):.4f})")
        extra = {"stage": "random_filter", "questions_kept": int(n_keep), "rows_total": len(rows),
                 "rows_kept": len(kept), "weak_answer_accuracy_kept": weak_answer_accuracy(kept),
                 "uf_weak_answer_accuracy_kept": weak_answer_accuracy(uf_kept)}
        return variant_training_set(inputs, kept, len(questions), len(questions), extra)

"""All variants (the control for the extra prompts): every variant row re-weighting trains on, each with weight 1:
RW's data without its weights, i.e. prompt-variant augmentation of the weak labels."""
from ..config import MethodArgs, QueryArgs, StrongModelArgs, VariantArgs, WeakModelArgs
from ..tasks import Batching
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class AllVariants(Method):
    key, label, order = "all_variants", "all variants", 12
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, MethodArgs, VariantArgs)
    variant_flags = True
    defaults = MethodDefaults(sampling="rw_sampling", batching=Batching(2, 12), original_loss="all_positions",
                              run_name="{strong}-{ds}-all-variants-from-{weak}-sampling={sampling}")
    description = "RW's rows with weight 1: what the variant prompts add without any reliability signal"

    def build(self, inputs) -> TrainingSet:
        from ..weak_answers import reweighting_rows, variant_training_set, weak_answer_accuracy

        read = inputs.variant_answers()
        rows = reweighting_rows(inputs.task, read, None)
        inputs.say(f"all variants: {len(rows)} rows, weak answers right {weak_answer_accuracy(rows):.4f}")
        extra = {"stage": "all_variants", "rows": len(rows), "weak_answer_accuracy_all": weak_answer_accuracy(rows)}
        return variant_training_set(inputs, rows, read["question_id"].nunique(), rows["question_id"].nunique(),
                                    extra)

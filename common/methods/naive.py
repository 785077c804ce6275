"""Naive weak-to-strong: the weak supervisor labels the transfer pool (one answer to the naive prompt per
question); the strong model is LoRA-SFT'd on those labels."""
from ..config import QueryArgs, StrongModelArgs, WeakModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class NaiveW2S(Method):
    key, label, order = "naive", "naive W2S", 1
    script = "baseline_SFT_weak_supervision.py"
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs)
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-SFT-on-weaksupervison-from-{weak}")
    description = "the baseline: every weak label, one prompt per question"

    def build(self, inputs) -> TrainingSet:
        labelled = inputs.weak_labels()
        rows = inputs.head(labelled)
        examples = [Example(*inputs.task.naive_example(r, r.weak_label)) for r in rows.itertuples(index=False)]
        weak_accuracy = float(labelled["weak_right"].mean())
        inputs.say(f"naive W2S: weak labels right {weak_accuracy:.4f} of the transfer pool ({len(labelled)})")
        return TrainingSet(examples, {"stage": "naive_w2s", "weak_label_accuracy": weak_accuracy},
                           right=list(rows["weak_right"]), questions=list(range(len(rows))))

"""UF's signal on naive W2S's own data: naive W2S's rows (the naive prompt and its weak label, one per question),
kept only for the questions uncertainty filtering keeps (variant-answer entropy at or below the median). The
reliability signal without the variants' prompts and answers."""
from ..config import QueryArgs, StrongModelArgs, VariantArgs, WeakModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class UFNaiveRows(Method):
    key, label, order = "uf_naive_rows", "UF on naive rows", 13
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, VariantArgs)
    variant_flags = True
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-uf-naive-rows-from-{weak}")
    description = "naive W2S's rows of the questions UF keeps: the signal without the variant prompts"

    def build(self, inputs) -> TrainingSet:
        from ..weak_answers import uf_keep

        labelled = inputs.weak_labels()
        kept, threshold = uf_keep(inputs.variant_answers())
        # question_id is the transfer row's position; questions a dataset dropped for an unparseable variant
        # answer (GSM8K, SST-2) have no entropy and are not kept
        rows = inputs.head(labelled.iloc[sorted(set(kept["question_id"]))])
        examples = [Example(*inputs.task.naive_example(r, r.weak_label)) for r in rows.itertuples(index=False)]
        inputs.say(f"UF on naive rows: {len(rows)} of {len(labelled)} questions kept (entropy <= {threshold:.6f}); "
                   f"their weak labels right {rows['weak_right'].mean():.4f} vs {labelled['weak_right'].mean():.4f}")
        extra = {"stage": "uf_naive_rows", "entropy_threshold": threshold, "questions_kept": len(rows),
                 "weak_label_accuracy": float(labelled["weak_right"].mean())}
        return TrainingSet(examples, extra, right=list(rows["weak_right"]), questions=list(rows.index))

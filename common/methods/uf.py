"""Uncertainty filtering (UF, the paper's §4): ask the weak supervisor k prompt variants of each transfer question,
keep the questions whose answer entropy is at or below the median, train the strong model on their (variant
prompt, weak answer) rows."""
from ..config import MethodArgs, QueryArgs, StrongModelArgs, VariantArgs, WeakModelArgs
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class UncertaintyFiltering(Method):
    key, label, order = "uf", "UF", 3
    script = "our_method_uncertainty_filtering.py"
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, MethodArgs, VariantArgs)
    variant_flags = True
    defaults = MethodDefaults(sampling="uf_sampling",
                              run_name="{strong}-{ds}-w2sft-uncertainty-filtering-from-{weak}-sampling={sampling}")
    description = "the paper's filter: drop the questions whose k variant answers disagree most"

    def build(self, inputs) -> TrainingSet:
        from ..weak_answers import multi_query_example, uf_keep, variant_accuracies, weak_answer_accuracy

        rows = inputs.variant_answers()
        kept, threshold = uf_keep(rows)
        questions = rows["question_id"].nunique()
        trained = inputs.shuffle_and_cut(inputs.sample(kept, questions, questions))
        inputs.say(f"UF: threshold {threshold:.6f}, {len(kept)} of {len(rows)} rows kept, {len(trained)} trained "
                   f"on; weak answers right: {weak_answer_accuracy(rows):.4f} of all rows, "
                   f"{weak_answer_accuracy(kept):.4f} of the kept")
        extra = {"stage": "uncertainty_filtering", "entropy_threshold": threshold, "rows_total": len(rows),
                 "rows_kept": len(kept), "weak_answer_accuracy_all": weak_answer_accuracy(rows),
                 "weak_answer_accuracy_kept": weak_answer_accuracy(kept),
                 "weak_answer_accuracy_per_variant": variant_accuracies(rows)}
        examples = [multi_query_example(inputs.task, r) for r in trained.itertuples(index=False)]
        return TrainingSet(examples, extra, right=list(trained["model_pred"] == trained["gold"]),
                           questions=list(trained["question_id"]))

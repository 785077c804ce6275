"""Oracle filter (the upper bound of any filter): the variant rows whose weak answer is right, by the transfer
pool's gold labels. No real method can know them; it says how much a perfect filter of these rows would give."""
from ..config import MethodArgs, QueryArgs, StrongModelArgs, VariantArgs, WeakModelArgs
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class OracleFilter(Method):
    key, label, order = "oracle_filter", "oracle filter", 11
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, MethodArgs, VariantArgs)
    variant_flags = True
    defaults = MethodDefaults(sampling="uf_sampling",
                              run_name="{strong}-{ds}-oracle-filter-from-{weak}-sampling={sampling}")
    description = "ORACLE: only the variant rows whose weak answer is right (gold labels): the bound of any filter"

    def build(self, inputs) -> TrainingSet:
        from ..errors import UserError
        from ..weak_answers import variant_training_set

        rows = inputs.variant_answers()
        kept = rows[rows["model_pred"] == rows["gold"]]
        if kept.empty:
            raise UserError("the oracle filter keeps nothing: no weak answer is right")
        questions = rows["question_id"].nunique()
        inputs.say(f"oracle filter: {len(kept)} of {len(rows)} rows have a right weak answer "
                   f"({kept['question_id'].nunique()} of {questions} questions)")
        extra = {"stage": "oracle_filter", "rows_total": len(rows), "rows_kept": len(kept),
                 "questions_kept": int(kept["question_id"].nunique())}
        return variant_training_set(inputs, kept, questions, questions, extra)

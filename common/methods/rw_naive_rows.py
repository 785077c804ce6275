"""RW's signal on naive W2S's own data: naive W2S's rows (the naive prompt and its weak label, one per question),
each weighted by the reliability score of the naive answer among the question's k variant answers (the same
softmax as RW's; an answer no variant gave is one more class with no vote). The signal without the variants'
prompts and answers."""
from ..config import QueryArgs, StrongModelArgs, VariantArgs, WeakModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class RWNaiveRows(Method):
    key, label, order = "rw_naive_rows", "RW on naive rows", 14
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, VariantArgs)
    variant_flags = True
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-rw-naive-rows-from-{weak}")
    description = "naive W2S's rows weighted by their answer's score among the variants' answers"

    def build(self, inputs) -> TrainingSet:
        from ..pipelines import reliability_temperature
        from ..reliability import candidate_score
        from ..weak_answers import reweighting_rows

        task = inputs.task
        labelled = inputs.weak_labels()
        variants = reweighting_rows(task, inputs.variant_answers(), None)
        answers = variants.groupby("question_id")["model_pred"].agg(list)
        temperature = reliability_temperature(task, inputs.cfg)
        # question_id is the transfer row's position; a question without variant answers (dropped for an
        # unparseable one) has no score and is not trained on
        rows = inputs.head(labelled)
        rows = rows[rows.index.isin(answers.index)]
        scores = [candidate_score(answers[i], task.naive_answer_key(r, r.weak_label), temperature)
                  for i, r in zip(rows.index, rows.itertuples(index=False))]
        rows = rows.assign(answer_score=scores)
        examples = [Example(*task.naive_example(r, r.weak_label), float(r.answer_score))
                    for r in rows.itertuples(index=False)]
        inputs.say(f"RW on naive rows: {len(rows)} of {len(labelled)} questions scored, mean score "
                   f"{rows['answer_score'].mean():.4f}")
        extra = {"stage": "rw_naive_rows", "questions_scored": len(rows),
                 "mean_answer_score": float(rows["answer_score"].mean()),
                 "weak_label_accuracy": float(labelled["weak_right"].mean())}
        return TrainingSet(examples, extra, right=list(rows["weak_right"]), questions=list(rows.index))

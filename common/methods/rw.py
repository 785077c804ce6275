"""Reliability re-weighting (RW, the paper's §4): every (variant prompt, weak answer) row, its loss weighted by
the softmax reliability score of its answer among the question's k answers."""
import pandas as pd

from ..config import MethodArgs, QueryArgs, StrongModelArgs, UnlikelihoodArgs, VariantArgs, WeakModelArgs
from ..tasks import Batching
from .base import METHODS, Method, MethodDefaults, TrainingSet, register_method


def reweighted_set(inputs, unlikelihood: bool) -> TrainingSet:
    """RW's rows and weights; with `unlikelihood`, the rows scored below --unlike_threshold are trained by
    unlikelihood with weight --weight_unlike instead (§7)."""
    from ..weak_answers import multi_query_example, reweighting_rows, weak_answer_accuracy

    read = inputs.variant_answers()
    rows = reweighting_rows(inputs.task, read, None)  # scored at this run's --temperature already
    rows = inputs.shuffle_and_cut(inputs.sample(rows, read["question_id"].nunique(), rows["question_id"].nunique()))
    ul = inputs.cfg.unlikelihood
    unlikely = rows["answer_score"] < ul.unlike_threshold if unlikelihood else pd.Series(False, rows.index)
    weights = rows["answer_score"].where(~unlikely, ul.weight_unlike)
    examples = [multi_query_example(inputs.task, r, w, {"unlikely": bool(u)} if unlikelihood else {})
                for r, w, u in zip(rows.itertuples(index=False), weights, unlikely)]
    inputs.say(f"RW: {len(rows)} rows, mean reliability score {rows['answer_score'].mean():.4f}"
               + (f", {int(unlikely.sum())} trained by unlikelihood" if unlikelihood else ""))
    extra = {"stage": "reweighting", "rows": len(rows), "mean_answer_score": float(rows["answer_score"].mean()),
             "unlikelihood_rows": int(unlikely.sum()), "weak_answer_accuracy_all": weak_answer_accuracy(rows),
             "weak_answer_accuracy_unlikely": weak_answer_accuracy(rows[unlikely])}
    # an unlikelihood row pushes its answer down: its "label" is right when the answer it pushes down is wrong
    right = (rows["model_pred"] == rows["gold"]) != unlikely
    return TrainingSet(examples, extra, right=list(right), questions=list(rows["question_id"]))


@register_method
class Reweighting(Method):
    key, label, order = "rw", "RW", 4
    script = "our_method_reweighting.py"
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, MethodArgs, VariantArgs, UnlikelihoodArgs)
    variant_flags = True
    defaults = MethodDefaults(sampling="rw_sampling", batching=Batching(2, 12), original_loss="all_positions",
                              run_name="{strong}_reweighting_from_{weak}_sample={sampling}")
    description = "the paper's re-weighting: every variant row, weighted by its answer's reliability score"

    def resolve(self, cfg):
        """The original's script runs RW + unlikelihood when --weight_unlike > 0."""
        return METHODS["rw_unlikelihood"] if cfg.unlikelihood.weight_unlike > 0 else self

    def build(self, inputs) -> TrainingSet:
        return reweighted_set(inputs, unlikelihood=False)

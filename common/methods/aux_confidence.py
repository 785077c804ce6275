"""Auxiliary confidence loss (Burns et al. 2023, the field's standard weak-to-strong baseline): naive W2S's rows,
but at the answer position the target is (1 − α)·the weak label + α·the student's own hardened prediction over the
dataset's answer options, α ramped linearly from 0 to --aux_coef over the first --aux_warmup_frac of training.
The loss is common.losses.AuxiliaryConfidence; docs/method.md §13 states it exactly."""
from dataclasses import dataclass

from ..config import NON_NEGATIVE, Bound, QueryArgs, StrongModelArgs, WeakModelArgs, arg
from ..data import Example
from ..errors import UserError
from .base import Method, MethodDefaults, TrainingSet, register_method

MIN_ROWS = 8  # rows of a micro-batch below which a batch quantile means little


@dataclass
class AuxConfidenceArgs:
    aux_coef: float = arg(0.5, "α after the warm-up: the weight of the student's hardened prediction in the "
                               "target (Burns et al.'s default 0.5)", check=Bound(0, 1))
    aux_warmup_frac: float = arg(0.1, "share of the optimiser steps over which α rises linearly from 0",
                                 check=NON_NEGATIVE)


@register_method
class AuxConfidence(Method):
    key, label, order = "aux_confidence", "aux. confidence loss", 20
    flags = (WeakModelArgs, StrongModelArgs, QueryArgs, AuxConfidenceArgs)
    loss = "aux_confidence"
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-aux-confidence-from-{weak}",
                              micro_batch=16)  # the threshold is a quantile over the micro-batch's rows
    description = "naive W2S's rows; the student's own hardened answer mixed into the target (Burns et al.)"

    def build(self, inputs) -> TrainingSet:
        from transformers import AutoTokenizer

        from ..models import resolve_model_path
        from ..training import first_answer_tokens

        task, cfg = inputs.task, inputs.cfg
        first = task.answer_options(inputs.pools.transfer.iloc[0])
        if first is None:
            raise UserError(f"aux_confidence hardens the student's answer over the answer options; {task.name}'s "
                            "answers are free-form (no Task.answer_options)")
        micro = inputs.settings.plan.micro_batch_size
        if len(first) == 2 and micro < MIN_ROWS:
            raise UserError(f"aux_confidence's threshold on a two-option dataset is a quantile over the micro-batch's "
                            f"rows: it needs --micro_batch_size >= {MIN_ROWS} (this run: {micro} per process)")
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(cfg.strong_name, cfg.strong.strong_model_path))
        labelled = inputs.weak_labels()
        rows = inputs.head(labelled)
        coef, warmup = cfg.option("aux_coef"), cfg.option("aux_warmup_frac")
        examples, named = [], 0
        for r in rows.itertuples(index=False):
            prompt, completion = task.naive_example(r, r.weak_label)
            options = first_answer_tokens(tokenizer, prompt, [task.naive_example(r, o)[1]
                                                              for o in task.answer_options(r)])
            if len(set(options)) < len(options):
                raise UserError(f"{task.name}'s answer options {task.answer_options(r)} start with the same token "
                                f"under the tokenizer of {cfg.strong_name}: the auxiliary loss cannot tell them apart")
            # an option row: the weak label names an option (read as the test set is read) and starts with its token
            # (a first token alone would take ETHICS's "unethical" for "unacceptable")
            labels = [task.parse_eval(o, r) for o in task.answer_options(r)]
            chosen = task.parse_eval(r.weak_label, r)
            if chosen not in labels or first_answer_tokens(tokenizer, prompt, [completion])[0] != \
                    options[labels.index(chosen)]:
                options = [-1] * len(options)  # no token matches: the row trains by likelihood alone
            named += options[0] != -1
            examples.append(Example(prompt, completion, 1.0,
                                    {"options": options, "aux_coef": coef, "aux_warmup_frac": warmup}))
        inputs.say(f"aux. confidence: {len(examples)} naive rows, {named} with an answer option as the first answer "
                   f"token (the others train by likelihood alone); α = {coef} after {warmup:.0%} of training")
        extra = {"stage": "aux_confidence", "aux_coef": coef, "aux_warmup_frac": warmup, "rows_with_option": named,
                 "weak_label_accuracy": float(labelled["weak_right"].mean())}
        return TrainingSet(examples, extra, right=list(rows["weak_right"]), questions=list(range(len(rows))))

"""The weak supervisor: LoRA-SFT the weak model on the ground truth of the train pool (the paper's §3). With
--weak_sft_variants it also trains on every prompt variant of its training rows (the gold answer in each
variant's format), so that it answers the variants UF and RW ask as well as the base prompt (docs/method.md §13)."""
from ..config import VariantArgs, WeakModelArgs
from ..data import Example
from ..tasks import Task
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class WeakSupervisor(Method):
    key, label, order = "weak", "weak supervisor", 0
    script = "create_weak_supervisor_on_*.py"
    trains = "weak"
    flags = (WeakModelArgs, VariantArgs)   # --k: how many variants --weak_sft_variants trains on
    defaults = MethodDefaults(fraction="weak_sft_fraction", run_name="{weak}_weak_supervisor_performance",
                              adapter_name="{weak}-{ds}-train-sft")
    description = "the weak model trained on ground truth: the labeller, and the floor of PGR"

    def build(self, inputs) -> TrainingSet:
        rows = inputs.head(inputs.pools.train)
        examples = [Example(*inputs.task.weak_sft_example(r)) for r in rows.itertuples(index=False)]
        extra = {"stage": "weak_supervisor", "weak_sft_variants": inputs.cfg.weak_sft_variants}
        if inputs.cfg.weak_sft_variants:
            if type(inputs.task).variant_sft_completion is Task.variant_sft_completion:
                inputs.task.variant_sft_completion(None)  # its UserError, before any variant is made
            variants = inputs.task.variants(rows, inputs.settings.k, inputs.cfg.run.seed)
            pairs = {(e.prompt, e.completion) for e in examples}
            added = [Example(r.prompt, inputs.task.variant_sft_completion(r)) for r in variants.itertuples(index=False)]
            added = [e for e in added if (e.prompt, e.completion) not in pairs]  # a variant may be the base prompt
            inputs.say(f"weak supervisor: {len(examples)} base rows and {len(added)} variant rows "
                       f"({inputs.settings.k} variants per question)")
            examples += added
            extra["variant_rows"] = len(added)
        return TrainingSet(examples, extra)

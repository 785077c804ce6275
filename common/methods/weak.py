"""The weak supervisor: LoRA-SFT the weak model on the ground truth of the train pool (the paper's §3)."""
from ..config import WeakModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class WeakSupervisor(Method):
    key, label, order = "weak", "weak supervisor", 0
    script = "create_weak_supervisor_on_*.py"
    trains = "weak"
    flags = (WeakModelArgs,)
    defaults = MethodDefaults(fraction="weak_sft_fraction", run_name="{weak}_weak_supervisor_performance",
                              adapter_name="{weak}-{ds}-train-sft")
    description = "the weak model trained on ground truth: the labeller, and the floor of PGR"

    def build(self, inputs) -> TrainingSet:
        rows = inputs.head(inputs.pools.train)
        examples = [Example(*inputs.task.weak_sft_example(r)) for r in rows.itertuples(index=False)]
        return TrainingSet(examples, {"stage": "weak_supervisor"})

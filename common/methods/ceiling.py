"""The ceiling: LoRA-SFT the strong model on the transfer pool's ground truth."""
from ..config import StrongModelArgs
from ..data import Example
from .base import Method, MethodDefaults, TrainingSet, register_method


@register_method
class Ceiling(Method):
    key, label, order = "ceiling", "ceiling (GT)", 2
    script = "baseline_SFT_on_groundtruth.py"
    flags = (StrongModelArgs,)
    defaults = MethodDefaults(fraction="sft_fraction", run_name="{strong}-{ds}-sft-on-groundtruth")
    description = "the strong model trained on gold labels: the top of PGR"

    def build(self, inputs) -> TrainingSet:
        rows = inputs.head(inputs.pools.transfer)
        examples = [Example(*inputs.task.ceiling_example(r)) for r in rows.itertuples(index=False)]
        return TrainingSet(examples, {"stage": "ceiling"}, questions=list(range(len(examples))))

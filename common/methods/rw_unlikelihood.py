"""RW + unlikelihood (our extension, docs/method.md §7): re-weighting, except that the rows whose reliability
score is below --unlike_threshold push their answer down (-log(1 - p)) with weight --weight_unlike."""
from dataclasses import replace

from ..errors import UserError
from .base import TrainingSet, register_method
from .rw import Reweighting, reweighted_set


@register_method
class ReweightingUnlikelihood(Reweighting):
    key, label, order = "rw_unlikelihood", "RW + unlikelihood", 5
    script = None   # the original's re-weighting script runs it with --weight_unlike > 0
    loss = "unlikelihood"
    defaults = replace(Reweighting.defaults, run_name="{strong}_reweighting_unlikelihood_from_{weak}_sample={sampling}")
    description = "RW, with the least reliable answers pushed down instead of learnt"

    def resolve(self, cfg):
        return self

    def check(self, cfg) -> None:
        if cfg.unlikelihood.weight_unlike <= 0:
            raise UserError("RW + unlikelihood needs --weight_unlike > 0 (1.0 is the value we use)")

    def build(self, inputs) -> TrainingSet:
        return reweighted_set(inputs, unlikelihood=True)

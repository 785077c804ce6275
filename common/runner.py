"""Run one method on one dataset: what every entry script, `python -m common run` and the replication call.

    begin (seed, check the output folders, load the pools) -> resolve the settings -> the method builds its
    training rows from the pools, the weak labels or the variant answers -> LoRA-train -> test -> results files

The method (common/methods/) only builds rows; everything else is the same for every method, so a new method
needs no edit here. Every results .json gets the method's key, the sampling flag, the resolved settings and the
accounting of its training labels: how many rows and questions, and how often the labels are right, unweighted
and weighted by the loss weights (a method that trains on worse labels than naive W2S cannot be expected to beat it).
"""
from dataclasses import dataclass, field

import pandas as pd

from . import distributed
from .config import RunConfig
from .methods.base import Method, TrainingSet
from .pipelines import Settings, begin_stage, head_fraction, resolve_settings, train_save_evaluate
from .reliability import sample_rows
from .tasks import Pools, Task


@dataclass
class StageInputs:
    """What a method builds its rows from: the pools, the run's config and settings, and, on first use, the weak
    supervisor's answers (common/weak_answers.py: produced or read from the cache)."""
    task: Task
    cfg: RunConfig
    pools: Pools
    settings: Settings
    _cache: dict = field(default_factory=dict, repr=False)

    def weak_labels(self) -> pd.DataFrame:
        """The transfer pool with `weak_label` and `weak_right` (the naive prompt's answers)."""
        from .weak_answers import weak_labels

        if "weak_labels" not in self._cache:
            self._cache["weak_labels"] = weak_labels(self.task, self.cfg, self.pools.transfer)
        return self._cache["weak_labels"]

    def variant_answers(self) -> pd.DataFrame:
        """The entropy CSV's rows: k variant answers per question, entropy and reliability scores."""
        from .weak_answers import variant_answers

        if "variant_answers" not in self._cache:
            self._cache["variant_answers"] = variant_answers(self.task, self.cfg, self.pools.transfer)
        return self._cache["variant_answers"]

    def head(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The first train-fraction share of `frame` (the original's split; the rest is never used, §5)."""
        return head_fraction(frame, self.settings.train_fraction)

    def sample(self, rows: pd.DataFrame, n_queried: int, n_usable: int) -> pd.DataFrame:
        """With --do_sampling, `rows` resampled to the method's rule (§5: as many as questions queried or usable,
        with or without replacement; seeded); without it, `rows` as they are."""
        rule = self.settings.sampling
        if not self.cfg.do_sampling or rule is None:
            return rows
        return sample_rows(rows, rule.size(n_queried, n_usable), rule.with_replacement, self.cfg.run.seed)

    def shuffle_and_cut(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The filtering and re-weighting methods' last step: shuffle (seeded), keep the train fraction (§5)."""
        return self.head(rows.sample(frac=1, random_state=self.cfg.run.seed))

    def say(self, message: str) -> None:
        if distributed.is_main():
            print(message, flush=True)


def label_accounting(built: TrainingSet) -> dict:
    """The training rows, distinct questions, and the share of right training labels, unweighted and weighted by
    the loss weights (Σ w·right / Σ w); None where the method's labels have no right or wrong (the ceiling's are
    the gold ones, the weak supervisor's too)."""
    out = {"training_rows": len(built.examples),
           "training_questions": len(set(built.questions)) if built.questions is not None else None,
           "training_label_accuracy": None, "training_label_accuracy_weighted": None}
    if built.right is not None and built.examples:
        right = pd.Series(built.right, dtype=float)
        weights = pd.Series([e.weight for e in built.examples], dtype=float)
        out["training_label_accuracy"] = float(right.mean())
        out["training_label_accuracy_weighted"] = float((weights * right).sum() / weights.sum()) \
            if weights.sum() > 0 else None
    return out


def run_method(task: Task, cfg: RunConfig, method: Method) -> dict:
    """Run `method` on `task` with the parsed config: build its rows, train, test, write the results."""
    method.check(cfg)
    pools = begin_stage(task, cfg)
    settings = resolve_settings(task, method, cfg)
    built = method.build(StageInputs(task, cfg, pools, settings))
    accounting = label_accounting(built)
    if accounting["training_label_accuracy"] is not None and distributed.is_main():
        print(f"{method.label}: {accounting['training_rows']} training rows, labels right "
              f"{accounting['training_label_accuracy']:.4f} (weighted {accounting['training_label_accuracy_weighted']:.4f})")
    return train_save_evaluate(task, cfg, method, settings, built.examples, pools, {**built.extra, **accounting})

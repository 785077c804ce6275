"""What a method is (`Method`, its `MethodDefaults`, what `build` returns) and the registry it joins; the registry's
look-ups are in the package (common/methods/__init__.py). Method files import from here only, so that nothing a
method file imports imports the package that discovers the method files."""
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..config import COMMON_GROUPS, RunConfig
from ..data import Example
from ..tasks import Batching


@dataclass(frozen=True)
class MethodDefaults:
    """What a method takes from its dataset unless the dataset overrides it (TaskFacts.method_overrides).

    fraction: which TaskFacts share of the stage's rows is trained on ("weak_sft_fraction", "sft_fraction",
    "method_fraction"); sampling: which TaskFacts rule `--do_sampling` follows ("uf_sampling", "rw_sampling"), or
    None for a method without the flag; batching: the original's per-device batch x accumulation, used by
    `--loss_normalisation original`; original_loss: that mode's normalisation ("answer_tokens": the per-micro-batch
    answer-token mean; "all_positions": the original re-weighting's mean over every position); run_name: the
    results / adapter stem, with {ds} {weak} {strong} {sampling}; adapter_name: the adapter folder when it is not
    the run name (the weak supervisor's, which later stages load); micro_batch: the micro-batch when the flag is not
    given and the loss is not the original's (a loss that looks across a batch's rows needs several)."""
    fraction: Literal["weak_sft_fraction", "sft_fraction", "method_fraction"] = "method_fraction"
    sampling: Literal["uf_sampling", "rw_sampling"] | None = None
    batching: Batching = Batching(1, 24)
    original_loss: Literal["answer_tokens", "all_positions"] = "answer_tokens"
    run_name: str = ""
    adapter_name: str | None = None
    micro_batch: int | None = None     # the micro-batch without --micro_batch_size (None: config's default)


@dataclass
class TrainingSet:
    """What a method's `build` returns: the rows to train on and the numbers for its results .json (`extra`),
    and for the accounting of its training labels, per example, the question it asks (`questions`) and whether
    its label is the gold answer (`right`); None where that is not defined (the ceiling trains on gold)."""
    examples: list[Example]
    extra: dict = field(default_factory=dict)
    right: list | None = None
    questions: list | None = None


class Method:
    """One method of the harness: declared attributes plus `build`. Subclass, set the attributes, register."""
    key: str = ""                        # registry key, `--stage KEY`, results' `method_key`
    label: str = ""                      # in tables and figures
    order: int = 100                     # position in tables (the paper's methods first)
    script: str | None = None            # the original's script name pattern, or None (run with --stage KEY)
    trains: Literal["weak", "strong"] = "strong"
    flags: tuple = ()                    # flag groups (dataclasses) besides common.config.COMMON_GROUPS
    variant_flags: bool = False          # also the dataset's flags for producing variant answers (GSM8K's)
    loss: str = "likelihood"             # a key of common.losses.LOSSES
    defaults: MethodDefaults = MethodDefaults()
    description: str = ""                # one line: what the method isolates (README's method table)

    def flag_groups(self, task_cls=None) -> list[type]:
        """The dataclasses whose fields are this method's flags, the common ones and the dataset's own."""
        groups = list(self.flags) + list(COMMON_GROUPS)
        if task_cls is not None and task_cls.options_class is not None:
            groups.append(task_cls.options_class)
        if task_cls is not None and self.variant_flags and task_cls.variant_options_class is not None:
            groups.append(task_cls.variant_options_class)
        return groups

    def resolve(self, cfg: RunConfig) -> "Method":
        """The method a parsed config runs (RW's script runs RW + unlikelihood with --weight_unlike > 0)."""
        return self

    def check(self, cfg: RunConfig) -> None:
        """Reject a config this method cannot run (UserError), before any work."""

    def script_in(self, folder: Path) -> str:
        """How to run this method for the dataset in `folder` (for messages): its entry script's file name there,
        or the module command for a method without a script."""
        found = sorted(p.name for p in Path(folder).glob(self.script)) if self.script else []
        return found[0] if found else f"(python -m common run --task {Path(folder).name} --stage {self.key})"

    def settings(self, facts) -> MethodDefaults:
        """The defaults with the dataset's overrides for this method applied."""
        return replace(self.defaults, **facts.method_overrides.get(self.key, {}))

    def build(self, inputs) -> TrainingSet:
        """The training rows (common.runner.StageInputs gives the pools, weak labels, variant answers)."""
        raise NotImplementedError


METHODS: dict[str, Method] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: one instance of the method, registered under its key."""
    if not cls.key or not cls.label:
        raise ValueError(f"{cls.__name__} needs a key and a label")
    if cls.key in METHODS and type(METHODS[cls.key]) is not cls:
        raise ValueError(f"two methods register {cls.key!r}: {type(METHODS[cls.key]).__name__} and {cls.__name__}")
    if any(m.label == cls.label and m.key != cls.key for m in METHODS.values()):
        raise ValueError(f"the label {cls.label!r} of {cls.key!r} is taken")
    METHODS[cls.key] = cls()
    return cls

"""The method registry: a method is one file in this folder, as a dataset is one folder.

A method declares, as data, its key and label, the original's script (if it had one), which model it trains, its
flag groups, its loss, and its defaults (`MethodDefaults`: which of the dataset's train fractions and sampling
rules it uses, the original's batching, its output-name pattern); as code, one function, `build`, that turns the
stage's inputs (the pools, the weak labels or the weak model's variant answers, the run's config) into training
rows and the numbers its results .json records. The stage runner (common/runner.py `run_method`), the
scripts, `python -m common run --stage KEY`, the replication, the results table, the figures and the safety table
read everything from here: a new method needs no edit elsewhere.

A dataset's quirk for one method (ETHICS' batching, MMLU's ceiling name) is an entry of its
`TaskFacts.method_overrides`, checked against `MethodDefaults`. See README, "Adding a method".
"""
import importlib
import pkgutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from ..config import COMMON_GROUPS, RunConfig
from ..data import Example
from ..errors import UserError
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
    the run name (the weak supervisor's, which later stages load)."""
    fraction: Literal["weak_sft_fraction", "sft_fraction", "method_fraction"] = "method_fraction"
    sampling: Literal["uf_sampling", "rw_sampling"] | None = None
    batching: Batching = Batching(1, 24)
    original_loss: Literal["answer_tokens", "all_positions"] = "answer_tokens"
    run_name: str = ""
    adapter_name: str | None = None


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


def discover_methods() -> dict[str, Method]:
    """Import every module of this folder (each registers its method) and return the registry, in table order."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(sorted(METHODS.items(), key=lambda item: (item[1].order, item[0])))


def get_method(key: str) -> Method:
    methods = discover_methods()
    if key not in methods:
        raise UserError(f"unknown method {key!r}; registered: {', '.join(methods)}")
    return methods[key]


def method_of_script(file_name: str) -> Method:
    """The method whose original script is `file_name` (a dataset folder's entry script)."""
    for method in discover_methods().values():
        if method.script and Path(file_name).match(method.script):
            return method
    scripts = [m.script for m in discover_methods().values() if m.script]
    raise ValueError(f"{file_name} is not one of the stage scripts ({', '.join(scripts)})")


def script_name(folder: Path, key: str) -> str:
    """How to run method `key` for the dataset in `folder` (for messages): its entry script's file name there, or
    the module command for a method without a script."""
    method = get_method(key)
    found = sorted(p.name for p in Path(folder).glob(method.script)) if method.script else []
    if found:
        return found[0]
    return method.script or f"(python -m common run --task {Path(folder).name} --stage {key})"


def method_of_record(record: dict) -> str:
    """The method key of a results .json: its `method_key`, else (written before the registry) its label or
    its stage."""
    if record.get("method_key"):
        return record["method_key"]
    methods = discover_methods()
    by_label = {m.label: k for k, m in methods.items()}
    legacy_stage = {"weak_supervisor": "weak", "naive_w2s": "naive", "ceiling": "ceiling",
                    "uncertainty_filtering": "uf", "reweighting": "rw"}
    return by_label.get(record.get("method"), legacy_stage.get(record.get("stage"), record.get("method", "")))


def sampling_of_record(record: dict) -> bool:
    """Whether a results .json's run used --do_sampling (its `do_sampling`, else its config's)."""
    flag = record.get("do_sampling")
    return bool(flag if flag is not None else record.get("config", {}).get("do_sampling", False))


def check_overrides(facts) -> None:
    """A dataset's method_overrides name registered methods and MethodDefaults fields only."""
    names = {f.name for f in fields(MethodDefaults)}
    methods = discover_methods()
    for key, values in facts.method_overrides.items():
        if key not in methods:
            raise UserError(f"{facts.name}: method_overrides names {key!r}, which is no registered method")
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(f"{facts.name}: method_overrides[{key!r}] sets {unknown}, not fields of MethodDefaults")


def make_config(key: str, task_cls=None, **values) -> RunConfig:
    """A config for method `key` with default flags and `values` (flag name -> value) applied; for tests and
    scripts."""
    method = get_method(key)
    return RunConfig.create(key, method.flag_groups(task_cls), **values)

"""What a dataset is: declared facts (`TaskFacts`) plus a few code hooks (`Task`), registered by name.

A dataset folder holds `task.py` (one `Task` subclass with a `facts = TaskFacts(...)` attribute, decorated with
`@register_task`) and the five entry scripts. The pipelines, the results table, the notebooks and the tests read
everything dataset-specific from here; nothing else names a dataset. See docs/method.md for what the facts mean.
"""
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal

import pandas as pd

from .errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]


class InvalidAnswers(Enum):
    """What an unparseable weak answer does to its question (the original differed per dataset, quirk Q7)."""
    ARE_AN_ANSWER_CLASS = "an answer class in UF and RW"           # ETHICS: -1 counts like any other answer
    CLASS_IN_UF_QUESTION_DROPPED_IN_RW = "class in UF, dropped in RW"  # HellaSwag, MMLU ("None" became NaN)
    DROP_THE_QUESTION = "question dropped before the entropy"       # GSM8K


@dataclass(frozen=True)
class SamplingRule:
    """`--do_sampling`: how many rows to draw and how (docs/method.md §5).

    draw: "questions_queried" draws as many rows as questions were asked (the k-fold row set back to one row per
    question); "questions_usable" as many as questions survive the stage's drop of unparseable answers.
    """
    draw: Literal["questions_queried", "questions_usable"] = "questions_queried"
    with_replacement: bool = False

    def size(self, n_queried: int, n_usable: int) -> int:
        return n_queried if self.draw == "questions_queried" else n_usable


@dataclass(frozen=True)
class OutputNames:
    """File-name patterns of one dataset's weak-answer files (the original's names, docs/method.md §8); the
    methods' results and adapters are named by each method (its MethodDefaults.run_name, which a dataset can
    override in `TaskFacts.method_overrides`).

    Placeholders: {ds} the dataset's name stem, {weak} the weak model's slug.
    """
    naive_csv: str = "{ds}_validation_w2s_naive_from_{weak}.csv"
    entropy_csv: str = "{ds}_validation_with_entropy_from_{weak}.csv"


@dataclass(frozen=True)
class Batching:
    """(micro-batch, gradient-accumulation steps) of one training run."""
    micro: int
    accumulation: int


@dataclass(frozen=True)
class TaskFacts:
    """Everything fixed about a dataset, as data. Defaults are the values most datasets share."""
    name: str                            # registry key and folder name, e.g. "mmlu"
    title: str                           # in figure titles, e.g. "MMLU"
    files: tuple[str, str, str]          # train pool, transfer pool, test set, under the folder's dataset/
    name_stem: str = ""                  # {ds} in output names; default: `name`
    k: int = 5                           # prompt variants per transfer question
    max_k: int | None = 24               # most variants the dataset can make (None: no limit)
    temperature: float = 0.2             # reliability softmax temperature
    naive_query_tokens: int = 50         # max new tokens: naive weak labels
    multi_query_tokens: int = 50         # ... multi-query (UF / RW)
    eval_tokens: int = 5                 # ... evaluation
    weak_sft_fraction: float = 0.8       # share of the (shuffled) train pool the weak supervisor trains on
    sft_fraction: float = 0.8            # share of the transfer pool naive W2S and the ceiling train on
    method_fraction: float = 0.8         # share of the UF / RW rows, after sampling and shuffling, trained on
    max_length: int = 512                # training tokens per example
    invalid_answer: str = "None"         # the answer key of an unparseable output
    invalid_answers: InvalidAnswers = InvalidAnswers.CLASS_IN_UF_QUESTION_DROPPED_IN_RW
    uf_sampling: SamplingRule = SamplingRule()               # --do_sampling of the filtering methods
    rw_sampling: SamplingRule = SamplingRule("questions_usable")  # ... of the re-weighting methods
    metrics: Literal["accuracy_and_report", "accuracy_only"] = "accuracy_and_report"
    names: OutputNames = OutputNames()
    # a dataset's quirks for one method: method key -> {MethodDefaults field: value} (checked against the method)
    method_overrides: dict = field(default_factory=dict)
    entropy_extra_columns: tuple[str, ...] = ()              # the original's columns kept in the entropy CSV
    # figures (docs/method.md §9)
    figure_stem: str = ""                # the dataset in figure file names; default: `title`
    bar_width: float = 0.08
    entropy_xlim: tuple[float, float] | None = None
    heatmap_rows: tuple = ("A", "B", "C", "D")               # weak-label axis
    heatmap_cols: tuple = ("A", "B", "C", "D")               # ground-truth axis
    heatmap_ylabel: str = "Weak Label"


@dataclass
class Pools:
    """The three disjoint pools, each already in the dataset's order (its shuffles done)."""
    train: pd.DataFrame       # weak-supervisor SFT pool
    transfer: pd.DataFrame    # the original's "validation": weak labels, naive W2S, ceiling, UF, RW
    test: pd.DataFrame
    source: str               # where the rows came from, for the results json




class Task:
    """The code part of a dataset: reading its files, its prompt templates, variants and answer rules.

    Answer keys (`answer_key`, the variants' `gold`) are text, so that an entropy CSV reads back without type
    conversion. `config` is the run's RunConfig, where a dataset with flags of its own (GSM8K's paraphrase
    provider) reads them with `self.option(name)`.
    """

    facts: TaskFacts
    folder: Path
    options_class: type | None = None            # a dataclass of flags every script of this dataset takes
    variant_options_class: type | None = None    # ... that the methods producing variant answers take (GSM8K's
                                                 # paraphrase provider)

    def __init__(self, data_dir: Path | None = None, config=None):
        self.data_dir = Path(data_dir) if data_dir else self.folder / "dataset"
        self.config = config

    def option(self, name: str, default=None):
        """The value of this dataset's own flag `name` in the run's config, else `default`."""
        return self.config.option(name, default) if self.config is not None else default

    @property
    def name(self) -> str:
        return self.facts.name

    # ---- data ----
    def load_pools(self, seed: int) -> Pools:
        """The declared files, each read and checked by `read_split`."""
        train, transfer, test = (self.read_split(p) for p in self.require_files())
        return Pools(train, transfer, test, f"local files in {self.data_dir}")

    def require_files(self) -> list[Path]:
        """The paths of the declared files; a UserError naming the missing ones and how to get them."""
        paths = [self.data_dir / name for name in self.facts.files]
        missing = list(dict.fromkeys(str(p) for p in paths if not p.exists()))
        if missing:
            how = ("build them with `python {}/prepare_data.py` (needs the hub)".format(self.name)
                   if (self.folder / "prepare_data.py").exists() else "put them there")
            raise UserError(f"{self.name} data files missing: {missing}; {how} or pass --data_dir")
        return paths

    def read_split(self, path: Path) -> pd.DataFrame:
        raise NotImplementedError

    # ---- prompts: (prompt, completion) pairs for training, prompts for querying ----
    def weak_sft_example(self, row) -> tuple[str, str]:
        raise NotImplementedError

    def naive_query_prompt(self, row) -> str:
        raise NotImplementedError

    def clean_weak_label(self, output: str) -> str:
        return output.strip()

    def naive_example(self, row, weak_label: str) -> tuple[str, str]:
        raise NotImplementedError

    def ceiling_example(self, row) -> tuple[str, str]:
        raise NotImplementedError

    # ---- multi-query ----
    def variants(self, transfer: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
        """k rows per question, in question order: `question_id`, `prompt`, `gold` (the gold answer key), the
        dataset's `entropy_extra_columns`, and whatever `answer_key` needs (not written to the CSV)."""
        raise NotImplementedError

    def multi_query_completion(self, output: str) -> str:
        """What UF and RW train on after the variant prompt: the original's " " + raw output (its leading space
        kept, as its split on "### Answer:" kept it)."""
        return " " + output

    def answer_key(self, variant_row, output: str) -> str:
        """The normalised answer whose agreement is counted, as text, or `facts.invalid_answer`."""
        raise NotImplementedError

    # ---- hooks of the controls and baselines (docs/method.md §13); a dataset without one cannot run them ----
    def answer_options(self, row) -> list[str] | None:
        """The answer options of a transfer question as weak labels name them (cleaned, the form `naive_example`
        takes): e.g. ["negative", "positive"] or ["A", "B", "C", "D"], in the order of parse_eval's labels; None
        for a free-form answer (GSM8K). Used where a method scores the options at the answer position."""
        return None

    def naive_answer_key(self, row, weak_label: str) -> str:
        """The answer key (as `answer_key` gives for the variants) of a weak label to the naive prompt, so that it
        can be scored among the question's variant answers; `facts.invalid_answer` if it names no answer."""
        raise UserError(f"{self.name} does not map a naive weak label to its variants' answer keys "
                        "(Task.naive_answer_key): rw_naive_rows cannot run on it")

    def variant_sft_completion(self, variant_row) -> str:
        """The gold answer to a variant prompt in the weak supervisor's answer format (what weak_sft_example's
        completion is to its prompt), for --weak_sft_variants."""
        raise UserError(f"{self.name} has no gold answer for its prompt variants (Task.variant_sft_completion): "
                        "--weak_sft_variants cannot run on it")

    # ---- evaluation ----
    def eval_prompt(self, row) -> str:
        raise NotImplementedError

    def parse_eval(self, output: str, row) -> str:
        """The test-time prediction read from an output (`row`: the test item, for per-row templates)."""
        raise NotImplementedError

    def eval_label(self, row) -> str:
        raise NotImplementedError

    def answer_text(self, row) -> str:
        """A well-formed gold answer to `row`, as a model would write it after the prompt: parse_eval reads it
        back as eval_label (a test checks this on every dataset; the tiny test model learns these formats)."""
        raise NotImplementedError

    # ---- figures: the original notebooks' rules (docs/method.md §9) ----
    def weak_answer_correct(self, row) -> bool | None:
        """Whether the weak answer of one entropy-CSV row is right; None leaves the row out of the count."""
        return row.model_pred == row.gold

    def heatmap_cell(self, row) -> tuple | None:
        """(weak label, ground truth) of one entropy-CSV row for the reliability heatmap, or None to skip it."""
        raise NotImplementedError

    # ---- helpers ----
    def output_names(self, weak: str) -> dict[str, str]:
        """The weak-answer file names for the weak model slug `weak`."""
        return {key: pattern.format(ds=self.name_stem, weak=weak) for key, pattern in vars(self.facts.names).items()}

    @property
    def name_stem(self) -> str:
        """{ds} in output names."""
        return self.facts.name_stem or self.name


def output_root(task: Task, cfg) -> Path:
    """Where a run writes: OUTPUT_DIR/<dataset> with --output_dir (two datasets never share a folder), else the
    dataset folder, as the original."""
    if cfg is not None and cfg.run.output_dir:
        return Path(cfg.run.output_dir) / task.name
    return task.folder


# ---------------------------------------------------------------------------------------------------- registry

TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator of a dataset's Task: registered under `facts.name`, which must be its folder's name."""
    name = cls.facts.name
    folder = Path(sys.modules[cls.__module__].__file__).resolve().parent
    if name != folder.name:
        raise UserError(f"{folder}/task.py registers {name!r}: a dataset's facts.name must be its folder's name "
                        f"({folder.name!r}), which names its outputs")
    if name in TASKS and TASKS[name].folder != folder:
        raise UserError(f"two dataset folders register {name!r}: {TASKS[name].folder} and {folder}")
    cls.folder = folder
    TASKS[name] = cls
    return cls


def task_folders(root: Path = REPO_ROOT) -> list[Path]:
    """The dataset folders of the repository: every top-level folder with a task.py."""
    return sorted(p.parent for p in root.glob("*/task.py"))


def discover_tasks(root: Path = REPO_ROOT) -> dict[str, type[Task]]:
    """Import every dataset folder's task.py (each registers itself) and return the registry."""
    for folder in task_folders(root):
        import_task_module(folder)
        if folder.name not in TASKS:
            raise UserError(f"{folder}/task.py registers no dataset: decorate its Task class with @register_task")
    return TASKS


def import_task_module(folder: Path):
    """`<folder>.task`, imported as a package module; a folder added after `pip install -e .` is loaded from its
    path, so adding a dataset never needs a re-install. A folder whose name an installed package already uses
    (`datasets`, `evaluate`, ...) is refused rather than allowed to shadow it."""
    name = folder.name
    existing = sys.modules.get(name) or (importlib.util.find_spec(name) if name.isidentifier() else None)
    origin = getattr(existing, "__file__", None) or getattr(existing, "origin", None)
    if existing is not None and origin and folder.resolve() not in Path(origin).resolve().parents:
        raise UserError(f"the dataset folder {folder} has the name of an installed package ({origin}); rename it")
    try:
        return importlib.import_module(f"{name}.task")
    except ModuleNotFoundError as err:
        if err.name not in (name, f"{name}.task"):
            raise
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    if (folder / "__init__.py").exists():
        spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.task")


def task_class(name: str) -> type[Task]:
    """The Task class of the registered dataset `name`; a UserError listing the known ones otherwise."""
    tasks = discover_tasks()
    if name not in tasks:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(tasks))}")
    return tasks[name]


def get_task(name: str, data_dir: Path | None = None, config=None) -> Task:
    """A Task instance of the registered dataset `name`."""
    return task_class(name)(data_dir, config)


def task_of_folder(folder: Path) -> type[Task]:
    """The Task class registered by the dataset folder `folder` (an entry script's own folder)."""
    module = import_task_module(Path(folder).resolve())
    classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Task) and v is not Task
               and v.__module__ == module.__name__]
    if len(classes) != 1:
        raise RuntimeError(f"{folder}/task.py must define exactly one Task subclass, found {len(classes)}")
    return classes[0]


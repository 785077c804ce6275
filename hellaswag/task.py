"""HellaSwag: data, splits, prompt templates, ending permutations and answer parsing (SPEC B §2.1).

Data: `hellaswag/dataset/{train,validation,test}.csv` with the HF `Rowan/hellaswag` columns, 5000 rows each; build
them with `python hellaswag/prepare_data.py` (the original recipe). The weak supervisor trains on the first 80 % of
train.csv, naive W2S and the ceiling on the first 80 % of validation.csv (the transfer pool), UF and RW query all of
validation.csv with 5 ending permutations, and test.csv is the test set. The CSVs are random samples already, so
no further shuffle is applied (as the original).
"""
import ast
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import read_csv_checked, require_labels
from common.errors import UserError
from common.parsing import first_choice_letter
from common.task import Pools, Task
from common.variants import LETTERS, draw_permutations

COLUMNS = ["ind", "ctx", "endings", "label"]
SPLITS = ("train", "validation", "test")
DIGITS = "0123"  # the permutations are over ending indices, as the original's perm strings


def parse_endings(value) -> list[str]:
    """The `endings` cell: a Python-list string of 4 endings in the CSV, or already a list."""
    endings = ast.literal_eval(value) if isinstance(value, str) else list(value)
    if len(endings) != 4:
        raise ValueError(f"expected 4 endings, got {len(endings)}")
    return [str(e) for e in endings]


def read_split_csv(path: Path) -> pd.DataFrame:
    """One split, checked: the columns present, 4 parseable endings and a label 0-3 on every row."""
    frame = read_csv_checked(path, COLUMNS, keep_default_na=False)
    try:
        frame["endings"] = frame["endings"].map(parse_endings)
    except (ValueError, SyntaxError) as err:
        raise UserError(f"{path}: an 'endings' cell is not a list of 4 strings ({err})")
    frame["label"] = pd.to_numeric(frame["label"], errors="coerce")
    require_labels(frame, "label", {0, 1, 2, 3}, path)
    frame["label"] = frame["label"].astype(int)
    return frame


def choices_text(endings: list[str]) -> str:
    return f"A. {endings[0]} B. {endings[1]} C. {endings[2]} D. {endings[3]}"


class HellaSwagTask(Task):
    name = "hellaswag"
    folder = Path(__file__).resolve().parent
    k = 5
    temperature = 0.2
    naive_query_tokens = 50
    multi_query_tokens = 50
    uf_sampling_replace = True
    rw_sampling_replace = True
    entropy_columns = ["ind", "target", "prompt", "model_output", "model_pred", "entropy"]

    def load_pools(self, seed: int) -> Pools:
        return self.local_csv_pools([f"{split}.csv" for split in SPLITS], read_split_csv)

    # ---- prompts ----
    @staticmethod
    def query_prompt(ctx: str, endings: list[str]) -> str:
        """(b1) naive and (b2) multi-query template; it ends with a space after "### Answer:"."""
        return ("### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
                "knowledge.In your response, choose an answer from A,B,C,D, and provide a brief explanation. "
                f"Sentence: {ctx}. Choices: {choices_text(endings)}. ### Answer: ")

    def weak_sft_example(self, row):
        prompt = ("### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
                  "knowledge.In your response, choose an answer from A,B,C,D. "
                  f"Sentence: {row.ctx}. Choices: {choices_text(row.endings)}. ### Answer:")
        return prompt, f" {LETTERS[row.label]}. {row.endings[row.label]}"

    def naive_query_prompt(self, row):
        return self.query_prompt(row.ctx, row.endings)

    def clean_weak_label(self, output):
        return output.strip().strip("_- ")

    def naive_example(self, row, weak_label):
        return self.naive_query_prompt(row), f"{weak_label} "

    def ceiling_example(self, row):
        return self.naive_query_prompt(row), f"{LETTERS[row.label]}. {row.endings[row.label]} "

    # ---- multi-query ----
    def variants(self, transfer, seed):
        rng = np.random.RandomState(seed)
        rows = []
        for question_id, row in enumerate(transfer.itertuples(index=False)):
            for perm in draw_permutations(rng, self.k, DIGITS):
                endings = [row.endings[int(d)] for d in perm]
                rows.append({"question_id": question_id, "ind": row.ind, "target": perm.index(str(row.label)),
                             "prompt": self.query_prompt(row.ctx, endings), "shown_endings": endings})
        return pd.DataFrame(rows)

    def answer_key(self, variant_row, output):
        """The ending *text* chosen (agreement is on content, not on the letter), or "None"."""
        letter = first_choice_letter(output.strip(".-_ "), case_sensitive=False)
        return variant_row.shown_endings[LETTERS.index(letter)] if letter else self.invalid_answer

    def rw_sample_size(self, n_usable_rows, n_questions):
        return n_questions  # the original: the number of unique `ind` in validation.csv

    # ---- evaluation ----
    def eval_prompt(self, row):
        return ("### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
                "knowledge.In your response, choose an answer from A,B,C,D, and then provide a brief explanation. "
                f"Sentence: {row.ctx}. Choices: {choices_text(row.endings)}. ### Answer:")

    def parse_eval(self, output, row=None):
        """First character, upper-cased, A-D -> 0-3; anything else (an empty output too: bug B5) -> -1."""
        letter = first_choice_letter(output, case_sensitive=False)
        return LETTERS.index(letter) if letter else -1

    def eval_label(self, row):
        return row.label

    # ---- figures ----
    title = "Hellaswag"
    heatmap_rows = heatmap_cols = list(LETTERS)

    def weak_answer_correct(self, row):
        """The notebook's rule: the first character of the stripped output, as an A-D index, equals `target`."""
        letter = first_choice_letter(str(row.model_output), case_sensitive=False)
        return letter is not None and LETTERS.index(letter) == int(row.target)

    def heatmap_cell(self, row):
        letter = first_choice_letter(str(row.model_output), case_sensitive=False)
        return (letter, LETTERS[int(row.target)]) if letter else None

    def names(self, weak, strong, sampling):
        return {
            "weak_adapter": f"{weak}-hellaswag-train-sft",
            "weak_results": f"{weak}_weak_supervisor_performance",
            "naive_csv": f"hellaswag_validation_w2s_naive_from_{weak}.csv",
            "naive_run": f"{strong}-hellaswag-SFT-on-weaksupervison-from-{weak}",
            "ceiling_run": f"{strong}-hellaswag-sft-on-groundtruth",
            "entropy_csv": f"hellaswag_validation_with_entropy_from_{weak}.csv",
            "uf_run": f"{strong}-hellaswag-w2sft-uncertainty-filtering-from-{weak}-sampling={sampling}",
            "rw_run": f"{strong}_reweighting_from_{weak}_sample={sampling}",
        }

"""HellaSwag: data, prompt templates, ending permutations and answer parsing (docs/method.md §8, HellaSwag).

Data: `hellaswag/dataset/{train,validation,test}.csv` with the HF `Rowan/hellaswag` columns, 5000 rows each; build
them with `python hellaswag/prepare_data.py` (the original recipe). The weak supervisor trains on the first 80 % of
train.csv, naive W2S and the ceiling on the first 80 % of validation.csv (the transfer pool), UF and RW query all of
validation.csv with 5 ending permutations, and test.csv is the test set. The CSVs are random samples already, so
no further shuffle is applied (as the original). No HellaSwag file can be shipped offline; `sample/` holds eight
synthetic rows per file in the same schema, for the tests.
"""
import ast
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import int_labels, read_csv_checked
from common.errors import UserError
from common.parsing import LETTERS, first_choice_letter, heatmap_letter
from common.tasks import SamplingRule, Task, TaskFacts, register_task
from common.variants import draw_permutations

COLUMNS = ["ind", "ctx", "endings", "label"]
DIGITS = "0123"  # the permutations are over ending indices, as the original's perm strings
INSTRUCTION = ("### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
               "knowledge.In your response, choose an answer from A,B,C,D")


def parse_endings(value) -> list[str]:
    """The `endings` cell: a Python-list string of 4 endings in the CSV, or already a list."""
    endings = ast.literal_eval(value) if isinstance(value, str) else list(value)
    if len(endings) != 4:
        raise ValueError(f"expected 4 endings, got {len(endings)}")
    return [str(e) for e in endings]


def choices_text(endings: list[str]) -> str:
    return f"A. {endings[0]} B. {endings[1]} C. {endings[2]} D. {endings[3]}"


def query_prompt(ctx: str, endings: list[str]) -> str:
    """(b1) naive and (b2) multi-query template; it ends with a space after "### Answer:"."""
    return (f"{INSTRUCTION}, and provide a brief explanation. Sentence: {ctx}. Choices: {choices_text(endings)}. "
            "### Answer: ")


@register_task
class HellaSwagTask(Task):
    facts = TaskFacts(
        name="hellaswag", title="Hellaswag", files=("train.csv", "validation.csv", "test.csv"), k=5,
        temperature=0.2, uf_sampling=SamplingRule("questions_queried", with_replacement=True),
        rw_sampling=SamplingRule("questions_queried", with_replacement=True), entropy_extra_columns=("ind", "target"))

    def read_split(self, path: Path) -> pd.DataFrame:
        """One split, checked: the columns present, 4 parseable endings and a label 0-3 on every row."""
        frame = read_csv_checked(path, COLUMNS, keep_default_na=False)
        try:
            frame["endings"] = frame["endings"].map(parse_endings)
        except (ValueError, SyntaxError) as err:
            raise UserError(f"{path}: an 'endings' cell is not a list of 4 strings ({err})")
        return int_labels(frame, "label", {0, 1, 2, 3}, path)

    # ---- prompts ----
    def weak_sft_example(self, row):
        prompt = f"{INSTRUCTION}. Sentence: {row.ctx}. Choices: {choices_text(row.endings)}. ### Answer:"
        return prompt, f" {LETTERS[row.label]}. {row.endings[row.label]}"

    def naive_query_prompt(self, row):
        return query_prompt(row.ctx, row.endings)

    def clean_weak_label(self, output):
        return output.strip().strip("_- ")

    def naive_example(self, row, weak_label):
        return self.naive_query_prompt(row), f"{weak_label} "

    def ceiling_example(self, row):
        return self.naive_query_prompt(row), f"{LETTERS[row.label]}. {row.endings[row.label]} "

    def answer_text(self, row) -> str:
        return f" {LETTERS[row.label]}. {row.endings[row.label]}"

    # ---- multi-query ----
    def variants(self, transfer, k, seed):
        rng = np.random.RandomState(seed)
        rows = []
        for question_id, row in enumerate(transfer.itertuples(index=False)):
            for perm in draw_permutations(rng, k, DIGITS):
                endings = [row.endings[int(d)] for d in perm]
                rows.append({"question_id": question_id, "ind": row.ind, "target": perm.index(str(row.label)),
                             "prompt": query_prompt(row.ctx, endings), "gold": row.endings[row.label],
                             "shown_endings": endings})
        return pd.DataFrame(rows)

    def answer_key(self, variant_row, output):
        """The ending *text* chosen (agreement is on content, not on the letter), or "None". The original's rule:
        strip ".-_ " (not newlines), then the first character, upper-cased, must be A-D, so "\\nA" is "None"."""
        return self.chosen_ending(output, variant_row.shown_endings)

    # ---- the controls' hooks ----
    def answer_options(self, row):
        return list(LETTERS)

    def naive_answer_key(self, row, weak_label):
        """The ending the naive answer's letter points to (the naive prompt shows the endings in their order)."""
        return self.chosen_ending(weak_label, row.endings)

    def chosen_ending(self, output: str, endings: list[str]) -> str:
        text = output.strip(".-_ ")
        if not text or text[0].upper() not in LETTERS:
            return self.facts.invalid_answer
        return endings[LETTERS.index(text[0].upper())]

    def variant_sft_completion(self, variant_row):
        return f"{LETTERS[variant_row.target]}. {variant_row.gold}"  # the prompt ends with a space

    # ---- evaluation ----
    def eval_prompt(self, row):
        return (f"{INSTRUCTION}, and then provide a brief explanation. Sentence: {row.ctx}. Choices: "
                f"{choices_text(row.endings)}. ### Answer:")

    def parse_eval(self, output, row=None):
        """First character, upper-cased, A-D -> 0-3; anything else (an empty output too: bug B5) -> -1."""
        letter = first_choice_letter(output, case_sensitive=False)
        return LETTERS.index(letter) if letter else -1

    def eval_label(self, row):
        return row.label

    # ---- figures ----
    def weak_answer_correct(self, row):
        """The notebook's rule: the first character of the stripped output, case-sensitive, as an A-D index,
        equals `target` ("b" is wrong, as the original's ValueError)."""
        letter = first_choice_letter(str(row.model_output), case_sensitive=True)
        return letter is not None and LETTERS.index(letter) == int(row.target)

    def heatmap_cell(self, row):
        letter = heatmap_letter(row.model_output)
        return (letter, LETTERS[int(row.target)]) if letter else None

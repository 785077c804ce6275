"""GSM8K: data, the prompt template, paraphrase variants and number parsing (docs/method.md §8, GSM8K).

Data: `gsm8k/dataset/{train,validation,test}.csv` with columns `,question,answer,label,explanation`, shipped with
the repository (the original's files: a shuffled halving of openai/gsm8k main train, 3736 / 3737 rows, and the
1319-row test split; `python gsm8k/prepare_data.py` rebuilds such files from the hub with a seed of ours).
`label` must equal the number after "####" in `answer` on every row.

Variants are k paraphrases of each transfer question (the original question is not among them), from the provider
chosen with --paraphrase_provider and cached in cache/gsm8k_paraphrases.jsonl. A question with any unparseable
weak answer is dropped before the entropy, as in the original.

Parsing: `--answer_parser original` (default, the paper's metric) reads int() of the first output line, so "$18",
"1,000", "18." and "18.0" are wrong; `--answer_parser robust` reads the first number of the first line, without
"$" and thousands commas, and accepts "18." and "18.0" as 18.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from common import distributed
from common.config import arg
from common.data import read_csv_checked
from common.errors import UserError
from common.paraphrase import ChatEndpointParaphrases, CsvParaphrases, LocalModelParaphrases, cached_paraphrases
from common.tasks import InvalidAnswers, OutputNames, Task, TaskFacts, output_root, register_task

COLUMNS = ["question", "answer", "label", "explanation"]
INVALID = -100000000
NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")
INSTRUCTION = ("### Instruction: The following is a grade-school level math question. In your response, provide the "
               "numerical answer in the first line, and then provide a brief explanation in the second line.")


def label_from_answer(answer: str) -> int:
    """The gold number of a GSM8K answer: what follows "####", thousands commas removed."""
    return int(answer.split("####")[1].strip().replace(",", ""))


def parse_original(output: str) -> int:
    """The original rule: int() of the stripped first line, else the invalid marker -100000000."""
    try:
        return int(output.strip().split("\n")[0].strip())
    except ValueError:
        return INVALID


def parse_robust(output: str) -> int | float:
    """The first number on the first line: "$18" -> 18, "1,000" -> 1000, "18." / "18.0" -> 18, "2.5" -> 2.5."""
    match = NUMBER.search(output.strip().split("\n")[0])
    if match is None:
        return INVALID
    value = float(match.group().replace("$", "").replace(",", ""))
    return int(value) if value.is_integer() else value


PARSERS = {"original": parse_original, "robust": parse_robust}


@dataclass
class GSM8KOptions:
    answer_parser: Literal["original", "robust"] = arg(
        "original", "original: int() of the first line (the paper's); robust: also reads $18, 1,000, 18.0")


@dataclass
class ParaphraseOptions:
    paraphrase_provider: Literal["csv", "openai", "hf"] | None = arg(
        None, "where the paraphrases come from (only questions not in the cache are asked)")
    paraphrase_csv: str | None = arg(None, "csv provider: a file with columns question,paraphrase_1..paraphrase_k")
    paraphrase_model: str = arg("gpt-4o", "openai provider: the model name; hf provider: a model folder or id")


def query_prompt(question: str) -> str:
    """(b): naive and multi-query prompt, with a space after "### Answer:"."""
    return f"{INSTRUCTION} Question: {question}. ### Answer: "


@register_task
class GSM8KTask(Task):
    facts = TaskFacts(
        name="gsm8k", title="GSM8K", files=("train.csv", "validation.csv", "test.csv"), k=5, max_k=None,
        temperature=0.2, invalid_answer=str(INVALID), invalid_answers=InvalidAnswers.DROP_THE_QUESTION,
        metrics="accuracy_only", names=OutputNames(naive_csv="GSM8K_validation_w2s_naive_from_{weak}.csv"),
        entropy_extra_columns=("original_question", "original_answer", "label"), heatmap_rows=("Correct", "Incorrect"),
        heatmap_cols=("Ground Truth",), heatmap_ylabel="Weak Label Correctness")
    options_class = GSM8KOptions
    variant_options_class = ParaphraseOptions

    def __init__(self, data_dir: Path | None = None, config=None, paraphraser=None):
        super().__init__(data_dir, config)
        self.parse = PARSERS[self.option("answer_parser", "original")]
        self.paraphraser = paraphraser

    def paraphrase_provider(self, k: int):
        """The provider --paraphrase_provider names, built on first use (None: only the cache can answer)."""
        if self.paraphraser is not None:
            return self.paraphraser
        provider = self.option("paraphrase_provider")
        if provider == "csv":
            if not self.option("paraphrase_csv"):
                raise UserError("--paraphrase_provider csv needs --paraphrase_csv FILE")
            return CsvParaphrases(Path(self.option("paraphrase_csv")), k)
        if provider == "openai":
            return ChatEndpointParaphrases(self.option("paraphrase_model"), k)
        if provider == "hf":
            from common.models import resolve_model_path

            return LocalModelParaphrases(resolve_model_path(self.option("paraphrase_model")), k)
        return None

    def read_split(self, path: Path) -> pd.DataFrame:
        """One split, checked: the columns present and `label` equal to the number after "####" on every row."""
        frame = read_csv_checked(path, COLUMNS, keep_default_na=False)
        try:
            expected = frame["answer"].map(label_from_answer)
            labels = frame["label"].map(lambda v: int(str(v).replace(",", "")))
        except (IndexError, ValueError) as err:
            raise UserError(f"{path}: a label or an answer's '####' number is not an integer ({err})")
        wrong = labels != expected
        if wrong.any():
            raise UserError(f"{path}: {wrong.sum()} rows have a label that differs from their answer's '####' number")
        return frame.assign(label=labels)

    # ---- prompts ----
    def weak_sft_example(self, row):
        return f"{INSTRUCTION} Question: {row.question}. ### Answer:", f" {row.label} \n {row.explanation} "

    def naive_query_prompt(self, row):
        return query_prompt(row.question)

    def naive_example(self, row, weak_label):
        return self.naive_query_prompt(row), f"{weak_label} "

    def ceiling_example(self, row):
        return self.weak_sft_example(row)

    def answer_text(self, row) -> str:
        return f" {row.label} \n {row.explanation}"

    # ---- multi-query ----
    def variants(self, transfer, k, seed):
        cache = output_root(self, self.config) / "cache" / "gsm8k_paraphrases.jsonl"
        questions = list(transfer["question"])
        if distributed.is_main():  # only one process asks the provider; the others read its cache
            paraphrases = cached_paraphrases(self.paraphrase_provider(k), questions, cache, k)
        distributed.barrier()
        if not distributed.is_main():
            paraphrases = cached_paraphrases(None, questions, cache, k)
        rows = []
        for question_id, (row, rewrites) in enumerate(zip(transfer.itertuples(index=False), paraphrases)):
            for rewrite in rewrites:
                rows.append({"question_id": question_id, "original_question": row.question,
                             "original_answer": row.answer, "label": row.label, "gold": str(row.label),
                             "prompt": query_prompt(rewrite)})
        return pd.DataFrame(rows)

    def answer_key(self, variant_row, output):
        return str(self.parse(output))

    def naive_answer_key(self, row, weak_label):
        return str(self.parse(weak_label))

    # ---- evaluation ----
    def eval_prompt(self, row):
        return f"{INSTRUCTION} Question: {row.question}. ### Answer:"

    def parse_eval(self, output, row=None):
        return self.parse(output)

    def eval_label(self, row):
        return row.label

    # ---- figures ----
    def heatmap_cell(self, row):
        return ("Correct" if self.weak_answer_correct(row) else "Incorrect", "Ground Truth")

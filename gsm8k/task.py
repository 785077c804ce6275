"""GSM8K: data, splits, the prompt template, paraphrase variants and number parsing (SPEC B §2.4).

Data: `gsm8k/dataset/{train,validation,test}.csv` with columns `,question,answer,label,explanation` (the original's
files: a shuffled halving of openai/gsm8k main train, 3736 / 3737 rows, and the 1319-row test split); build them
with `python gsm8k/prepare_data.py`. `label` must equal the number after "####" in `answer` on every row.

Variants are 5 paraphrases of each transfer question (the original question is not among them), from the provider
chosen with --paraphrase_provider and cached in cache/gsm8k_paraphrases.jsonl. A question with any unparseable
weak answer is dropped before the entropy, as in the original.

Parsing: `--answer_parser original` (default, the paper's metric) reads int() of the first output line, so "$18",
"1,000", "18." and "18.0" are wrong; `--answer_parser robust` reads the first number of the first line, without
"$" and thousands commas, and accepts "18." and "18.0" as 18.
"""
import re
from pathlib import Path

import pandas as pd

from common.data import read_csv_checked
from common.errors import UserError
from common.paraphrase import (ChatEndpointParaphrases, CsvParaphrases, LocalModelParaphrases, cached_paraphrases)
from common.task import Pools, Task

COLUMNS = ["question", "answer", "label", "explanation"]
SPLITS = ("train", "validation", "test")
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


def read_split_csv(path: Path) -> pd.DataFrame:
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


class GSM8KTask(Task):
    name = "gsm8k"
    folder = Path(__file__).resolve().parent
    k = 5
    temperature = 0.2
    naive_query_tokens = 50
    multi_query_tokens = 50
    invalid_answer = INVALID
    uf_drops_invalid = True
    with_report = False  # the original reports accuracy only
    raw_output_column = "weak_label"
    entropy_columns = ["original_question", "original_answer", "label", "prompt", "weak_label", "model_pred",
                       "entropy"]

    def __init__(self, data_dir: Path | None = None, paraphraser=None, paraphrase_cache: Path | None = None,
                 answer_parser: str = "original"):
        super().__init__(data_dir)
        self.paraphraser = paraphraser
        self.paraphrase_cache = paraphrase_cache or self.folder / "cache" / "gsm8k_paraphrases.jsonl"
        self.parse = PARSERS[answer_parser]

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--answer_parser", choices=sorted(PARSERS), default="original",
                            help="original: int() of the first line (default, the paper's); "
                                 "robust: also reads $18, 1,000, 18.0")
        parser.add_argument("--paraphrase_provider", choices=["csv", "openai", "hf"],
                            help="where UF's paraphrases come from (only questions not in the cache are asked)")
        parser.add_argument("--paraphrase_csv", type=Path, help="csv provider: question,paraphrase_1..paraphrase_5")
        parser.add_argument("--paraphrase_model", default="gpt-4o",
                            help="openai provider: the model name (default gpt-4o); hf provider: a model folder or id")

    @classmethod
    def from_args(cls, args):
        root = Path(args.output_dir) if args.output_dir else cls.folder
        provider = getattr(args, "paraphrase_provider", None)
        if provider == "csv":
            if not args.paraphrase_csv:
                raise UserError("--paraphrase_provider csv needs --paraphrase_csv FILE")
            paraphraser = CsvParaphrases(args.paraphrase_csv, cls.k)
        elif provider == "openai":
            paraphraser = ChatEndpointParaphrases(args.paraphrase_model, cls.k)
        elif provider == "hf":
            from common.models import resolve_model_path

            paraphraser = LocalModelParaphrases(resolve_model_path(args.paraphrase_model), cls.k)
        else:
            paraphraser = None
        return cls(args.data_dir, paraphraser, root / "cache" / "gsm8k_paraphrases.jsonl", args.answer_parser)

    def load_pools(self, seed: int) -> Pools:
        return self.local_csv_pools([f"{split}.csv" for split in SPLITS], read_split_csv)

    # ---- prompts ----
    @staticmethod
    def query_prompt(question: str) -> str:
        """(b): naive and multi-query prompt, with a space after "### Answer:"."""
        return f"{INSTRUCTION} Question: {question}. ### Answer: "

    def weak_sft_example(self, row):
        return f"{INSTRUCTION} Question: {row.question}. ### Answer:", f" {row.label} \n {row.explanation} "

    def naive_query_prompt(self, row):
        return self.query_prompt(row.question)

    def naive_example(self, row, weak_label):
        return self.naive_query_prompt(row), f"{weak_label} "

    def ceiling_example(self, row):
        return self.weak_sft_example(row)

    # ---- multi-query ----
    def variants(self, transfer, seed):
        paraphrases = cached_paraphrases(self.paraphraser, list(transfer["question"]), self.paraphrase_cache, self.k)
        rows = []
        for question_id, (row, rewrites) in enumerate(zip(transfer.itertuples(index=False), paraphrases)):
            for rewrite in rewrites:
                rows.append({"question_id": question_id, "original_question": row.question,
                             "original_answer": row.answer, "label": row.label, "prompt": self.query_prompt(rewrite)})
        return pd.DataFrame(rows)

    def answer_key(self, variant_row, output):
        return self.parse(output)

    # ---- evaluation ----
    def eval_prompt(self, row):
        return f"{INSTRUCTION} Question: {row.question}. ### Answer:"

    def parse_eval(self, output, row=None):
        return self.parse(output)

    def eval_label(self, row):
        return row.label

    # ---- figures ----
    title = "GSM8K"
    heatmap_rows = ["Correct", "Incorrect"]
    heatmap_cols = ["Ground Truth"]

    def weak_answer_correct(self, row):
        return str(row.model_pred) == str(row.label)

    def heatmap_cell(self, row):
        return ("Correct" if self.weak_answer_correct(row) else "Incorrect", "Ground Truth")

    def names(self, weak, strong, sampling):
        return {
            "weak_adapter": f"{weak}-gsm8k-train-sft",
            "weak_results": f"{weak}_weak_supervisor_performance",
            "naive_csv": f"GSM8K_validation_w2s_naive_from_{weak}.csv",
            "naive_run": f"{strong}-gsm8k-SFT-on-weaksupervison-from-{weak}",
            "ceiling_run": f"{strong}-gsm8k-sft-on-groundtruth",
            "entropy_csv": f"gsm8k_validation_with_entropy_from_{weak}.csv",
            "uf_run": f"{strong}-gsm8k-w2sft-uncertainty-filtering-from-{weak}-sampling={sampling}",
            "rw_run": f"{strong}_reweighting_from_{weak}_sample={sampling}",
        }

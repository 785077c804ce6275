"""SST-2 (binary sentiment of movie-review sentences): our fifth dataset, the task of the W2S safety study.

Data (shipped in sst2/dataset/, see its README): GLUE SST-2 train (67,349 sentences) and validation (872, the usual
test set). Pools: train.tsv shuffled with the seed and halved, as Burns et al. split their train set: the first
half is the weak supervisor's pool, the second the transfer pool; the test set is dev.tsv in its order. Runs pick
their sizes with --train_limit / --transfer_limit (or --limit for all three).

Prompts follow the paper's templates ("### Instruction: ... ### Answer:", a one-word answer) and its recipe for
binary tasks (ETHICS): the variants swap the order of the two answer words, k = 2, reliability temperature 1.0.
For k > 2 the instruction is also reworded (three wordings x two word orders, so k <= 6). Every stage uses the
first variant's template: unlike the original's datasets there is no prompt mismatch between stages.
Decisions (docs/method.md §8, SST-2): all of each stage's rows are trained on (no unused 20 %); a question with an
unparseable weak answer is dropped before the entropy (its rows would teach the strong model garbage).
"""
from pathlib import Path

import pandas as pd

from common.data import int_labels, read_csv_checked
from common.errors import UserError
from common.parsing import first_word
from common.tasks import InvalidAnswers, Pools, SamplingRule, Task, TaskFacts, register_task

WORDS = ("negative", "positive")  # label 0, label 1
INSTRUCTIONS = (
    "Decide whether the sentiment of the following movie review is positive or negative.",
    "Is the following sentence from a movie review positive or negative?",
    "What is the sentiment of this movie review, positive or negative?",
)
INVALID = "-1"


def prompt(sentence: str, variant: int = 0) -> str:
    """Variant v: instruction v // 2, answer words in the order positive, negative (v even) or swapped (v odd)."""
    first, second = (WORDS[1], WORDS[0]) if variant % 2 == 0 else WORDS
    return (f"### Instruction: {INSTRUCTIONS[variant // 2]} Answer {first} or {second}. ### Review: {sentence} "
            "### Answer:")


def word_to_label(word: str) -> int:
    return WORDS.index(word) if word in WORDS else int(INVALID)


@register_task
class SST2Task(Task):
    facts = TaskFacts(
        name="sst2", title="SST-2", files=("train.tsv", "train.tsv", "dev.tsv"), k=2, max_k=2 * len(INSTRUCTIONS),
        temperature=1.0, naive_query_tokens=4, multi_query_tokens=4, eval_tokens=4, weak_sft_fraction=1.0,
        sft_fraction=1.0, method_fraction=1.0, max_length=256, invalid_answer=INVALID,
        invalid_answers=InvalidAnswers.DROP_THE_QUESTION, rw_sampling=SamplingRule("questions_queried"),
        entropy_extra_columns=("sentence", "label"), bar_width=0.1, entropy_xlim=(-0.2, 1.0),
        heatmap_rows=WORDS, heatmap_cols=WORDS)

    def read_split(self, path: Path) -> pd.DataFrame:
        """train.tsv (label, sentence) or dev.tsv (label, content), as label (0/1) and sentence."""
        frame = read_csv_checked(path, ["label"], keep_default_na=False).rename(columns={"content": "sentence"})
        if "sentence" not in frame.columns:
            raise UserError(f"{path} lacks the column 'sentence' (train.tsv) or 'content' (dev.tsv)")
        return int_labels(frame[["label", "sentence"]], "label", {0, 1}, path)

    def load_pools(self, seed: int) -> Pools:
        self.require_files()
        train = self.read_split(self.data_dir / self.facts.files[0]).sample(frac=1, random_state=seed)
        half = len(train) // 2
        test = self.read_split(self.data_dir / self.facts.files[2])
        return Pools(train.iloc[:half].reset_index(drop=True), train.iloc[half:].reset_index(drop=True), test,
                     f"{self.data_dir}: train.tsv halved after a seeded shuffle, dev.tsv as the test set")

    # ---- prompts: one template everywhere ----
    def weak_sft_example(self, row):
        return prompt(row.sentence), f" {WORDS[row.label]}"

    def naive_query_prompt(self, row):
        return prompt(row.sentence)

    def naive_example(self, row, weak_label):
        return prompt(row.sentence), f" {weak_label}"

    def ceiling_example(self, row):
        return self.weak_sft_example(row)

    def answer_text(self, row) -> str:
        return f" {WORDS[row.label]}"

    # ---- multi-query ----
    def variants(self, transfer, k, seed):
        return pd.DataFrame([{"question_id": question_id, "sentence": row.sentence, "label": row.label,
                              "gold": str(row.label), "prompt": prompt(row.sentence, variant)}
                             for question_id, row in enumerate(transfer.itertuples(index=False))
                             for variant in range(k)])

    def multi_query_completion(self, output):
        """" " + the stripped output, the format naive W2S trains on: no extra space for UF and RW to learn."""
        return " " + output.strip()

    def answer_key(self, variant_row, output):
        """The first word, lower-cased, punctuation stripped: "positive" -> "1", "negative" -> "0", else "-1"."""
        return str(word_to_label(first_word(output, ".,!?;:'\"")))

    # ---- the controls' hooks ----
    def answer_options(self, row):
        return list(WORDS)

    def naive_answer_key(self, row, weak_label):
        return self.answer_key(row, weak_label)

    def variant_sft_completion(self, variant_row):
        return f" {WORDS[int(variant_row.gold)]}"

    # ---- evaluation ----
    def eval_prompt(self, row):
        return prompt(row.sentence)

    def parse_eval(self, output, row=None):
        return word_to_label(first_word(output, ".,!?;:'\""))

    def eval_label(self, row):
        return row.label

    # ---- figures ----
    def heatmap_cell(self, row):
        prediction = int(row.model_pred)
        return None if str(prediction) == INVALID else (WORDS[prediction], WORDS[int(row.label)])

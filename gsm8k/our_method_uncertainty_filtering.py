"""Uncertainty filtering (UF) on GSM8K: ask the weak supervisor 5 paraphrases of every transfer question, keep the
questions whose answer entropy is at most the median, LoRA-SFT the strong model on their rows.

    python gsm8k/our_method_uncertainty_filtering.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B --paraphrase_provider csv --paraphrase_csv paraphrases.csv [--do_sampling]

Needs the weak adapter. Writes gsm8k_validation_with_entropy_from_{W}.csv (one row per variant; re-weighting reuses
it) and models/ and results/{S}-gsm8k-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import uncertainty_filtering  # noqa: E402
from gsm8k.task import GSM8KTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, uncertainty_filtering, GSM8KTask, method=True)

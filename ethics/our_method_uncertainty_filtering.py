"""Uncertainty filtering (UF) on ETHICS commonsense: ask the weak supervisor 2 answer-word orders of every transfer
question, keep the questions whose answer entropy is at most the median, LoRA-SFT the strong model on their rows.

    python ethics/our_method_uncertainty_filtering.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B [--do_sampling]

Needs the weak adapter. Writes cm_validation_with_entropy_from_{W}.csv (one row per variant; re-weighting reuses it)
and models/ and results/{S}-ethics-cm-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import uncertainty_filtering  # noqa: E402
from ethics.task import EthicsTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, uncertainty_filtering, EthicsTask, method=True)

"""Uncertainty filtering (UF): ask the weak supervisor 5 option permutations of every transfer question, keep the
questions whose answer entropy is at most the median, and LoRA-SFT the strong model on their rows.

    python mmlu/our_method_uncertainty_filtering.py --weak_model_name SmolLM2-135M --strong_model_name Gemma3-270M --limit 48 [--do_sampling]

Needs the weak adapter. Agreement is counted on the option text, so "A" under one order and "C" under another can
agree. Writes mmlu_validation_with_entropy_from_{W}.csv (one row per variant; re-weighting reuses it), models/ and
results/{S}-mmlu-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import uncertainty_filtering  # noqa: E402
from mmlu.task import MMLUTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, uncertainty_filtering, MMLUTask, method=True)

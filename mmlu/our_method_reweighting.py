"""Reliability re-weighting (RW): LoRA-SFT the strong model on every (variant, weak answer) row, each row's loss
multiplied by its reliability score, a softmax (temperature 0.2) over the answer frequencies of its question.

    python mmlu/our_method_reweighting.py --weak_model_name SmolLM2-135M --strong_model_name Gemma3-270M --limit 48 [--do_sampling]

Reads mmlu_validation_with_entropy_from_{W}.csv, so run our_method_uncertainty_filtering.py first. Questions with an
unparseable answer are skipped, as in the original. Writes models/ and
results/{S}_reweighting_from_{W}_sample={bool}.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import reliability_reweighting  # noqa: E402
from mmlu.task import MMLUTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, reliability_reweighting, MMLUTask, method=True)

"""Naive weak-to-strong: the weak supervisor labels the transfer pool, the strong model is LoRA-SFT'd on those labels.

    python mmlu/baseline_SFT_weak_supervision.py --weak_model_name SmolLM2-135M --strong_model_name Gemma3-270M --limit 48

Needs the weak adapter from create_weak_supervisor_on_mmlu.py. Weak answers (50 new tokens, greedy) are cached in
cache/ as they come, so an interrupted run resumes. Writes MMLU_validation_w2s_naive_from_{W}.csv (pool +
weak_label), models/{S}-mmlu-SFT-on-weaksupervison-from-{W}/ and results/ with the same stem (.txt, .json,
_predictions.csv).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import naive_weak_to_strong  # noqa: E402
from mmlu.task import MMLUTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, naive_weak_to_strong, MMLUTask)

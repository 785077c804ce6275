"""Naive weak-to-strong on GSM8K: the weak supervisor labels the transfer pool, the strong model is LoRA-SFT'd on those
labels.

    python gsm8k/baseline_SFT_weak_supervision.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B

Needs the weak adapter. Weak answers are cached in cache/ as they come, so an interrupted run resumes. Writes
GSM8K_validation_w2s_naive_from_{W}.csv (the pool + weak_label), models/ and results/{S}-gsm8k-SFT-on-
weaksupervison-from-{W}.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import naive_weak_to_strong  # noqa: E402
from gsm8k.task import GSM8KTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, naive_weak_to_strong, GSM8KTask)

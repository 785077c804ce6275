"""Reliability re-weighting (RW) on HellaSwag: LoRA-SFT the strong model on every (variant, weak answer) row, each
row's loss multiplied by its reliability score (a softmax, temperature 0.2, over the answer frequencies of its
question).

    python hellaswag/our_method_reweighting.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B [--do_sampling]

Reads hellaswag_validation_with_entropy_from_{W}.csv: run our_method_uncertainty_filtering.py first. Writes models/
and results/{S}_reweighting_from_{W}_sample={True|False}.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import reliability_reweighting  # noqa: E402
from hellaswag.task import HellaSwagTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, reliability_reweighting, HellaSwagTask, method=True)

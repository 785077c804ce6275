"""The ceiling on HellaSwag: LoRA-SFT the strong model on the transfer pool's ground truth, then test it.

    python hellaswag/baseline_SFT_on_groundtruth.py --strong_model_name LLAMA3-8B

Writes models/ and results/{S}-hellaswag-sft-on-groundtruth (.txt, .json, _predictions.csv).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import sft_on_groundtruth  # noqa: E402
from hellaswag.task import HellaSwagTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, sft_on_groundtruth, HellaSwagTask, weak=False)

"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on HellaSwag ground truth, then test it.

    python hellaswag/create_weak_supervisor_on_hellaswag.py --weak_model_name LLAMA2-7B

Writes, under hellaswag/ (or --output_dir): models/{W}-hellaswag-train-sft/ (the adapter the later stages query),
results/{W}_weak_supervisor_performance.txt (original format), .json (numbers + config), _predictions.csv.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import create_weak_supervisor  # noqa: E402
from hellaswag.task import HellaSwagTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, create_weak_supervisor, HellaSwagTask, strong=False)

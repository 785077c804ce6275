"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on MMLU ground truth, then test it.

    python mmlu/create_weak_supervisor_on_mmlu.py --weak_model_name SmolLM2-135M --limit 48

Trains on the first 90 % of the shuffled train pool with the template "### Instruction: ... ### Answer:{letter} ".
Writes, under mmlu/ (or --output_dir): models/{W}-mmlu-train-sft/ (the LoRA adapter every later stage queries),
results/{W}_weak_supervisor_performance.txt (original format), .json (numbers + config), _predictions.csv.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import create_weak_supervisor  # noqa: E402
from mmlu.task import MMLUTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, create_weak_supervisor, MMLUTask, strong=False)

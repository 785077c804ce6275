"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on ETHICS commonsense ground truth, then test it.

    python ethics/create_weak_supervisor_on_ETHICS.py --weak_model_name LLAMA2-7B

Writes, under ethics/ (or --output_dir): models/{W}-ethics-cm-train-sft/ (the adapter the later stages query),
results/{W}_weak_supervisor_performance.txt (original format), .json (numbers + config), _predictions.csv.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, so this runs from any directory

from common.cli import run_stage  # noqa: E402
from common.pipelines import create_weak_supervisor  # noqa: E402
from ethics.task import EthicsTask  # noqa: E402

if __name__ == "__main__":
    run_stage(__doc__, create_weak_supervisor, EthicsTask, strong=False)

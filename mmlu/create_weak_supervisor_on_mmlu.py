"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on MMLU ground truth, then test it.

    python mmlu/create_weak_supervisor_on_mmlu.py --weak_model_name LLAMA2-7B

Trains on the first 90% of the train pool. Writes, under mmlu/ (or OUTPUT_DIR/mmlu/ with --output_dir):
models/{W}-mmlu-train-sft/ (the adapter every later stage queries),
results/{W}_weak_supervisor_performance.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

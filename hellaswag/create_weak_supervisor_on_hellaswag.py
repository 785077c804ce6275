"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on Hellaswag ground truth, then test it.

    python hellaswag/create_weak_supervisor_on_hellaswag.py --weak_model_name LLAMA2-7B

Trains on the first 80% of the train pool. Writes, under hellaswag/ (or OUTPUT_DIR/hellaswag/ with --output_dir):
models/{W}-hellaswag-train-sft/ (the adapter every later stage queries),
results/{W}_weak_supervisor_performance.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

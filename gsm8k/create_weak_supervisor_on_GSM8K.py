"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on GSM8K ground truth, then test it.

    python gsm8k/create_weak_supervisor_on_GSM8K.py --weak_model_name LLAMA2-7B

Trains on the first 80% of the train pool. Writes, under gsm8k/ (or OUTPUT_DIR/gsm8k/ with --output_dir):
models/{W}-gsm8k-train-sft/ (the adapter every later stage queries),
results/{W}_weak_supervisor_performance.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

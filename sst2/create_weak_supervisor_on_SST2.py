"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on SST-2 ground truth, then test it.

    python sst2/create_weak_supervisor_on_SST2.py --weak_model_name SmolLM2-135M

Trains on the first 100% of the train pool. Writes, under sst2/ (or OUTPUT_DIR/sst2/ with --output_dir):
models/{W}-sst2-train-sft/ (the adapter every later stage queries),
results/{W}_weak_supervisor_performance.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

"""Stage 1, the weak supervisor: LoRA-fine-tune the weak model on ETHICS-Commonsense ground truth, then test it.

    python ethics/create_weak_supervisor_on_ETHICS.py --weak_model_name Mistral-7B

Trains on the first 90% of the train pool. Writes, under ethics/ (or OUTPUT_DIR/ethics/ with --output_dir):
models/{W}-ethics-cm-train-sft/ (the adapter every later stage queries),
results/{W}_weak_supervisor_performance.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

"""Uncertainty filtering (UF) on Hellaswag: ask the weak supervisor 5 ending permutations of every transfer
question, keep the questions whose answer entropy is at most the median, LoRA-SFT the strong model on their rows.

    python hellaswag/our_method_uncertainty_filtering.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA2-13B [--do_sampling]

Needs the weak adapter. Writes, under hellaswag/ (or OUTPUT_DIR/hellaswag/ with --output_dir):
hellaswag_validation_with_entropy_from_{W}.csv (one row per variant, with entropy and reliability score;
re-weighting reuses it), models/{S}-hellaswag-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}/,
results/{S}-hellaswag-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.{txt,json}, _predictions.csv and
_loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

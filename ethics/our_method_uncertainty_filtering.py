"""Uncertainty filtering (UF) on ETHICS-Commonsense: ask the weak supervisor the 2 orders of the answer words of
every transfer question, keep the questions whose answer entropy is at most the median, LoRA-SFT the strong model on
their rows.

    python ethics/our_method_uncertainty_filtering.py --weak_model_name Mistral-7B --strong_model_name LLAMA3-8B [--do_sampling]

Needs the weak adapter. Writes, under ethics/ (or OUTPUT_DIR/ethics/ with --output_dir):
cm_validation_with_entropy_from_{W}.csv (one row per variant, with entropy and reliability score; re-weighting
reuses it), models/{S}-ethics-cm-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}/,
results/{S}-ethics-cm-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.{txt,json}, _predictions.csv and
_loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

"""Uncertainty filtering (UF) on SST-2: ask the weak supervisor 2 orders of the answer words (--k up to 6 rewords
the instruction too) of every transfer question, keep the questions whose answer entropy is at most the median,
LoRA-SFT the strong model on their rows.

    python sst2/our_method_uncertainty_filtering.py --weak_model_name SmolLM2-135M --strong_model_name Gemma3-270M [--do_sampling]

Needs the weak adapter. Writes, under sst2/ (or OUTPUT_DIR/sst2/ with --output_dir):
sst2_validation_with_entropy_from_{W}.csv (one row per variant, with entropy and reliability score; re-weighting
reuses it), models/{S}-sst2-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}/,
results/{S}-sst2-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.{txt,json}, _predictions.csv and
_loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

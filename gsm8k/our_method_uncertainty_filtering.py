"""Uncertainty filtering (UF) on GSM8K: ask the weak supervisor 5 paraphrases of every transfer question, keep the
questions whose answer entropy is at most the median, LoRA-SFT the strong model on their rows.

    python gsm8k/our_method_uncertainty_filtering.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B --paraphrase_provider openai [--do_sampling]

Needs the weak adapter. Writes, under gsm8k/ (or OUTPUT_DIR/gsm8k/ with --output_dir):
gsm8k_validation_with_entropy_from_{W}.csv (one row per variant, with entropy and reliability score; re-weighting
reuses it), models/{S}-gsm8k-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}/,
results/{S}-gsm8k-w2sft-uncertainty-filtering-from-{W}-sampling={True|False}.{txt,json}, _predictions.csv and
_loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

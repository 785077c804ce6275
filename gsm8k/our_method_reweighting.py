"""Reliability re-weighting (RW) on GSM8K: LoRA-SFT the strong model on every (variant, weak answer) row, each row's
loss weighted by the softmax (temperature 0.2) reliability score of its answer.

    python gsm8k/our_method_reweighting.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B [--do_sampling]
    python gsm8k/our_method_reweighting.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B --weight_unlike 1.0

Needs the weak adapter. Gets the weak model's variant answers through the cache UF uses (answers UF already got
are read, not asked again, so UF need not run first; the cache must come from the same weak adapter, decoding
and --query_max_new_tokens), rewrites gsm8k_validation_with_entropy_from_{W}.csv, and writes, under
gsm8k/ (or OUTPUT_DIR/gsm8k/ with --output_dir): models/{S}_reweighting_from_{W}_sample={True|False}/,
results/{S}_reweighting_from_{W}_sample={True|False}.{txt,json}, _predictions.csv and _loss.{csv,png}; with
--weight_unlike > 0 (rows scored below --unlike_threshold are trained by unlikelihood)
{S}_reweighting_unlikelihood_from_{W}_sample={True|False} instead.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

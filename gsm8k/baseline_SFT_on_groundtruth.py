"""The ceiling on GSM8K: LoRA-SFT the strong model on the transfer pool's ground truth.

    python gsm8k/baseline_SFT_on_groundtruth.py --strong_model_name LLAMA3-8B

Writes, under gsm8k/ (or OUTPUT_DIR/gsm8k/ with --output_dir): models/{S}-gsm8k-sft-on-groundtruth/,
results/{S}-gsm8k-sft-on-groundtruth.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

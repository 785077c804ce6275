"""The ceiling on Hellaswag: LoRA-SFT the strong model on the transfer pool's ground truth.

    python hellaswag/baseline_SFT_on_groundtruth.py --strong_model_name LLAMA2-13B

Writes, under hellaswag/ (or OUTPUT_DIR/hellaswag/ with --output_dir): models/{S}-hellaswag-sft-on-groundtruth/,
results/{S}-hellaswag-sft-on-groundtruth.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

"""The ceiling on MMLU: LoRA-SFT the strong model on the transfer pool's ground truth.

    python mmlu/baseline_SFT_on_groundtruth.py --strong_model_name LLAMA3-8B

Writes, under mmlu/ (or OUTPUT_DIR/mmlu/ with --output_dir): models/{S}-mmlu-SFT-on-groundtruth/,
results/{S}-mmlu-SFT-on-groundtruth.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

"""The ceiling on ETHICS-Commonsense: LoRA-SFT the strong model on the transfer pool's ground truth.

    python ethics/baseline_SFT_on_groundtruth.py --strong_model_name LLAMA3-8B

Writes, under ethics/ (or OUTPUT_DIR/ethics/ with --output_dir): models/{S}-ethics-sft-on-groundtruth/,
results/{S}-ethics-sft-on-groundtruth.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

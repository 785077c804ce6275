"""The ceiling on SST-2: LoRA-SFT the strong model on the transfer pool's ground truth.

    python sst2/baseline_SFT_on_groundtruth.py --strong_model_name Gemma3-270M

Writes, under sst2/ (or OUTPUT_DIR/sst2/ with --output_dir): models/{S}-sst2-sft-on-groundtruth/,
results/{S}-sst2-sft-on-groundtruth.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

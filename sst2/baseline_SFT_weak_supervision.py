"""Naive weak-to-strong on SST-2: the weak supervisor labels the transfer pool, the strong model is LoRA-SFT'd on
those labels.

    python sst2/baseline_SFT_weak_supervision.py --weak_model_name SmolLM2-135M --strong_model_name Gemma3-270M

Needs the weak adapter (create_weak_supervisor_on_SST2.py). Weak answers are cached in cache/ as they come, so an
interrupted run resumes. Writes, under sst2/ (or OUTPUT_DIR/sst2/ with --output_dir):
sst2_validation_w2s_naive_from_{W}.csv (the pool + weak_label), models/{S}-sst2-SFT-on-weaksupervison-from-{W}/,
results/{S}-sst2-SFT-on-weaksupervison-from-{W}.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

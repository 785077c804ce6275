"""Naive weak-to-strong on Hellaswag: the weak supervisor labels the transfer pool, the strong model is LoRA-SFT'd
on those labels.

    python hellaswag/baseline_SFT_weak_supervision.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA2-13B

Needs the weak adapter (create_weak_supervisor_on_hellaswag.py). Weak answers are cached in cache/ as they come, so
an interrupted run resumes. Writes, under hellaswag/ (or OUTPUT_DIR/hellaswag/ with --output_dir):
hellaswag_validation_w2s_naive_from_{W}.csv (the pool + weak_label),
models/{S}-hellaswag-SFT-on-weaksupervison-from-{W}/,
results/{S}-hellaswag-SFT-on-weaksupervison-from-{W}.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

"""Naive weak-to-strong on GSM8K: the weak supervisor labels the transfer pool, the strong model is LoRA-SFT'd on
those labels.

    python gsm8k/baseline_SFT_weak_supervision.py --weak_model_name LLAMA2-7B --strong_model_name LLAMA3-8B

Needs the weak adapter (create_weak_supervisor_on_GSM8K.py). Weak answers are cached in cache/ as they come, so an
interrupted run resumes. Writes, under gsm8k/ (or OUTPUT_DIR/gsm8k/ with --output_dir):
GSM8K_validation_w2s_naive_from_{W}.csv (the pool + weak_label), models/{S}-gsm8k-SFT-on-weaksupervison-from-{W}/,
results/{S}-gsm8k-SFT-on-weaksupervison-from-{W}.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

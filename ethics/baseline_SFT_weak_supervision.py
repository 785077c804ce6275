"""Naive weak-to-strong on ETHICS-Commonsense: the weak supervisor labels the transfer pool, the strong model is
LoRA-SFT'd on those labels.

    python ethics/baseline_SFT_weak_supervision.py --weak_model_name Mistral-7B --strong_model_name LLAMA3-8B

Needs the weak adapter (create_weak_supervisor_on_ETHICS.py). Weak answers are cached in cache/ as they come, so an
interrupted run resumes. Writes, under ethics/ (or OUTPUT_DIR/ethics/ with --output_dir):
cm-validation-w2s-naive-from-{W}.csv (the pool + weak_label), models/{S}-ethics-cm-SFT-on-weaksupervison-from-{W}/,
results/{S}-ethics-cm-SFT-on-weaksupervison-from-{W}.{txt,json}, _predictions.csv and _loss.{csv,png}.
"""
from common.cli import main

if __name__ == "__main__":
    main(__file__)

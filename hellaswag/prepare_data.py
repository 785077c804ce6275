"""Build hellaswag/dataset/{train,validation,test}.csv from the hub with the original recipe (docs/method.md §8).

    python hellaswag/prepare_data.py

train.csv = 5000 rows sampled from Rowan/hellaswag train (random_state 42); validation.csv = 5000 rows sampled from its
validation split (random_state 42); test.csv = the first 5000, in order, of the validation rows whose `ind` is not in
validation.csv. All HF columns are kept; `endings` is written as a Python-list string. Needs network access.
"""
import argparse
from pathlib import Path

import pandas as pd

from common.data import load_hub_dataset
from common.errors import run_cli

OUT_DIR = Path(__file__).resolve().parent / "dataset"


def original_splits(train: pd.DataFrame, validation: pd.DataFrame, n: int = 5000, seed: int = 42):
    """The original notebook's three samples from the HF train and validation frames."""
    train_sample = train.sample(n=n, random_state=seed)
    validation_sample = validation.sample(n=n, random_state=seed)
    test = validation[~validation["ind"].isin(validation_sample["ind"])].head(n)
    return train_sample, validation_sample, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    ds = load_hub_dataset("Rowan/hellaswag")
    frames = original_splits(ds["train"].to_pandas(), ds["validation"].to_pandas())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(("train", "validation", "test"), frames):
        frame = frame.assign(endings=frame["endings"].map(lambda e: str(list(e))))
        frame.to_csv(args.out_dir / f"{name}.csv", index=False)
        print(f"{args.out_dir / (name + '.csv')}: {len(frame)} rows")


if __name__ == "__main__":
    run_cli(main)

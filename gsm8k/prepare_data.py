"""Build gsm8k/dataset/{train,validation,test}.csv from the hub (openai/gsm8k, config main).

    python gsm8k/prepare_data.py [--seed 42]

The 7473 training problems are shuffled with the seed and halved: train.csv (3736) and validation.csv (3737, the
transfer pool); test.csv is the 1319-problem test split in order. Columns: an index, question, answer, label (the
number after "####", commas removed), explanation (the text before "####"). The original's shuffle seed is unknown,
so its halves differ from ours; its own files can be copied into gsm8k/dataset/ instead. Needs network access.
"""
import argparse
from pathlib import Path

import pandas as pd

from common.data import load_hub_dataset
from common.errors import run_cli
from gsm8k.task import label_from_answer

OUT_DIR = Path(__file__).resolve().parent / "dataset"


def with_label_and_explanation(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=frame["answer"].map(label_from_answer),
                        explanation=frame["answer"].map(lambda a: a.split("####")[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", type=Path, default=OUT_DIR)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    ds = load_hub_dataset("openai/gsm8k", "main")
    train = with_label_and_explanation(ds["train"].to_pandas()).sample(frac=1, random_state=args.seed)
    train = train.reset_index(drop=True)
    half = len(train) // 2
    frames = {"train": train.iloc[:half], "validation": train.iloc[half:],
              "test": with_label_and_explanation(ds["test"].to_pandas())}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(args.out_dir / f"{name}.csv")  # with the index column, as the original files
        print(f"{args.out_dir / (name + '.csv')}: {len(frame)} rows")


if __name__ == "__main__":
    run_cli(main)

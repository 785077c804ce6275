"""Build ethics/dataset/{cm_train_new,cm_validation_new,cm_test}.csv from the hub (hendrycks/ethics, commonsense).

    python ethics/prepare_data.py [--seed 42]

The 13,910 training stories are shuffled with the seed and halved: cm_train_new (6955, the weak supervisor's pool)
and cm_validation_new (6955, the transfer pool). How the original assigned its halves is unknown, so these are not
the original's rows. cm_test is the commonsense test set (3,885 stories; the hub calls it "validation", and its
"test" split is the hard test set). Columns: label,input,is_short,edited. Needs network access.
"""
import argparse
from pathlib import Path

import pandas as pd

from common.data import load_hub_dataset
from common.errors import UserError, run_cli

OUT_DIR = Path(__file__).resolve().parent / "dataset"
COLUMNS = ["label", "input", "is_short", "edited"]


def halve(train: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded 50/50 split of the training stories (the first half one larger if the count is odd)."""
    shuffled = train.sample(frac=1, random_state=seed).reset_index(drop=True)
    middle = (len(shuffled) + 1) // 2
    return shuffled.iloc[:middle], shuffled.iloc[middle:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", type=Path, default=OUT_DIR)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    ds = load_hub_dataset("hendrycks/ethics", "commonsense")
    train, test = ds["train"].to_pandas(), ds["validation"].to_pandas()
    missing = [c for c in COLUMNS if c not in train.columns]
    if missing:
        raise UserError(f"the hub's commonsense split lacks {missing}; use the CSVs of the ETHICS tarball instead")
    first, second = halve(train[COLUMNS], args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in (("cm_train_new", first), ("cm_validation_new", second), ("cm_test", test[COLUMNS])):
        frame.to_csv(args.out_dir / f"{name}.csv", index=False)
        print(f"{args.out_dir / (name + '.csv')}: {len(frame)} rows")


if __name__ == "__main__":
    run_cli(main)

"""Build mmlu/dataset/{train,validation,test}.csv from the Hugging Face hub, in the lukaemon/mmlu schema.

    python mmlu/prepare_data.py                      # from cais/mmlu (config "all")
    python mmlu/prepare_data.py --source lukaemon    # from lukaemon/mmlu, one config per subject, as the original

The original read lukaemon/mmlu (parquet revision 0acc07c3...): splits train 228 (4 per subject), validation 1474,
test 13,985, columns input,A,B,C,D,target plus our `subject`. lukaemon drops the first row of every per-subject
CSV, so from cais/mmlu we drop the first row of every subject x split to get the same rows. Needs network access;
without it the scripts fall back to the offline MMLU copy (see mmlu/task.py).
"""
import argparse
from pathlib import Path

import pandas as pd

from common.errors import UserError, run_cli
from mmlu.task import COLUMNS, MMLUTask

CAIS_SPLITS = {"train": "dev", "validation": "validation", "test": "test"}
LUKAEMON_REVISION = "0acc07c3edb5d491299a05c86678be250d3c52fb"


def cais_to_lukaemon(frame: pd.DataFrame) -> pd.DataFrame:
    """cais/mmlu rows (question, subject, choices, answer index) -> our schema, first row of each subject dropped."""
    frame = frame[frame.groupby("subject").cumcount() > 0].sort_values("subject", kind="stable")
    choices = frame["choices"].map(list)
    return pd.DataFrame({
        "subject": frame["subject"].str.replace("_", " "), "input": frame["question"],
        "A": choices.str[0], "B": choices.str[1], "C": choices.str[2], "D": choices.str[3],
        "target": frame["answer"].map(lambda i: "ABCD"[int(i)]),
    })[COLUMNS].reset_index(drop=True)


def from_cais() -> dict[str, pd.DataFrame]:
    from datasets import load_dataset

    ds = load_dataset("cais/mmlu", "all")
    return {ours: cais_to_lukaemon(ds[theirs].to_pandas()) for ours, theirs in CAIS_SPLITS.items()}


def from_lukaemon() -> dict[str, pd.DataFrame]:
    from datasets import get_dataset_config_names, load_dataset

    subjects = sorted(get_dataset_config_names("lukaemon/mmlu", revision=LUKAEMON_REVISION))
    parts = {split: [] for split in CAIS_SPLITS}
    for subject in subjects:
        ds = load_dataset("lukaemon/mmlu", subject, revision=LUKAEMON_REVISION)
        for split in parts:
            parts[split].append(ds[split].to_pandas().assign(subject=subject.replace("_", " ")))
    return {split: pd.concat(frames, ignore_index=True)[COLUMNS] for split, frames in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["cais", "lukaemon"], default="cais")
    parser.add_argument("--out_dir", type=Path, default=MMLUTask.folder / "dataset")
    args = parser.parse_args()
    try:
        splits = from_cais() if args.source == "cais" else from_lukaemon()
    except Exception as err:  # network, hub or dataset-format problems all mean the same to the user
        raise UserError(f"could not load MMLU from the hub ({type(err).__name__}: {err}); the scripts will use the "
                        "offline fallback instead")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for split, frame in splits.items():
        frame.to_csv(args.out_dir / f"{split}.csv", index=False)
        print(f"{args.out_dir / (split + '.csv')}: {len(frame)} rows")


if __name__ == "__main__":
    run_cli(main)

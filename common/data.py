"""Reading a dataset file with the checks every dataset needs (readable, has rows, has the columns), and the
training row every method builds (`Example`)."""
import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import UserError


@dataclass
class Example:
    """One training row: the prompt, the completion trained on, the row's loss weight, and the per-row fields the
    method's loss declares (common/losses.py; e.g. `unlikely` for unlikelihood)."""
    prompt: str
    completion: str
    weight: float = 1.0
    fields: dict = field(default_factory=dict)


def read_csv_checked(path: Path, columns: list[str], **read_kwargs) -> pd.DataFrame:
    """The CSV (or, by its suffix, TSV without quoting, as GLUE writes them) at `path`, or a UserError that says
    what is wrong with it: missing, unreadable, empty, or lacking one of `columns`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} not found")
    if path.suffix == ".tsv":
        read_kwargs = {"sep": "\t", "quoting": csv.QUOTE_NONE, **read_kwargs}
    try:
        frame = pd.read_csv(path, **read_kwargs)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path} is not a readable table: {err}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks the columns {missing} (expected {columns})")
    if frame.empty:
        raise UserError(f"{path} has no rows")
    return frame


def require_labels(frame: pd.DataFrame, column: str, allowed, path: Path) -> None:
    """UserError unless every value of `column` is in `allowed` (a collection or a predicate)."""
    ok = frame[column].map(allowed) if callable(allowed) else frame[column].isin(list(allowed))
    if not ok.all():
        bad = frame[column][~ok.astype(bool)]
        raise UserError(f"{path}: {len(bad)} rows have an unusable {column!r}, e.g. {bad.iloc[0]!r}")


def int_labels(frame: pd.DataFrame, column: str, allowed: set[int], path: Path) -> pd.DataFrame:
    """`frame` with `column` as ints, after checking that every value is one of `allowed`."""
    values = pd.to_numeric(frame[column], errors="coerce")
    require_labels(frame.assign(**{column: values}), column, allowed, path)
    return frame.assign(**{column: values.astype(int)})


def load_hub_dataset(name: str, config: str | None = None):
    """`datasets.load_dataset(name, config)`, with any failure (no network, no such dataset, a format the installed
    `datasets` cannot read) turned into one UserError."""
    try:
        from datasets import load_dataset

        return load_dataset(name, config) if config else load_dataset(name)
    except Exception as err:  # network, hub and format errors all mean the same to the user
        raise UserError(f"could not load {name} from the hub ({type(err).__name__}: {err})")

import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def mmlu_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """n MMLU-shaped questions over three subjects, with a rotating gold letter."""
    rows = []
    for i in range(n):
        rows.append({"subject": ["astronomy", "virology", "world religions"][i % 3],
                     "input": f"Question number {i}: which option is right", "A": f"alpha {i}", "B": f"beta {i}",
                     "C": f"gamma {i}", "D": f"delta {i}", "target": "ABCD"[i % 4]})
    return pd.DataFrame(rows)


@pytest.fixture
def mmlu_data_dir(tmp_path) -> Path:
    folder = tmp_path / "mmlu_data"
    folder.mkdir()
    for split, n in (("train", 8), ("validation", 8), ("test", 6)):
        mmlu_frame(n).to_csv(folder / f"{split}.csv", index=False)
    return folder

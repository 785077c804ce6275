import sys
from pathlib import Path

import pytest
from fixtures import mmlu_frame

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def mmlu_data_dir(tmp_path) -> Path:
    folder = tmp_path / "mmlu_data"
    folder.mkdir()
    for split, n in (("train", 8), ("validation", 8), ("test", 6)):
        mmlu_frame(n).to_csv(folder / f"{split}.csv", index=False)
    return folder

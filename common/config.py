"""The typed config of one run; it is written whole into every results `.json`."""
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .models import DEFAULT_STRONG, DEFAULT_WEAK
from .training import TrainConfig


@dataclass
class RunConfig:
    weak_model_name: str = DEFAULT_WEAK
    strong_model_name: str = DEFAULT_STRONG
    weak_model_path: str | None = None      # overrides the registry folder of weak_model_name
    strong_model_path: str | None = None
    seed: int = 42
    limit: int | None = None                # cap on the questions of each pool (train, transfer, test)
    do_sampling: bool = False               # UF / RW: resample the rows to one per original question
    output_dir: Path | None = None          # None: the dataset folder, as the original
    query_batch_size: int = 8               # prompts per generate() call for weak labels
    eval_batch_size: int = 8
    query_max_new_tokens: int | None = None  # None: the dataset's original value (50 or 100)
    do_sample: bool = False                 # decoding: greedy (default) or the model's own sampling config
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

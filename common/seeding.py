"""Seeding of every random number generator a run touches."""
import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global RNG and torch (CPU and CUDA), so weak-label decoding is reproducible too."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

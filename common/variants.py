"""Prompt variations of one question for the multi-query step: option permutations (docs/method.md §2)."""
from itertools import permutations

import numpy as np

from .parsing import LETTERS


def all_permutations(letters: str = LETTERS) -> list[str]:
    """The 24 orderings of the option letters, in lexicographic order ('ABCD', 'ABDC', ...)."""
    return ["".join(p) for p in permutations(letters)]


def draw_permutations(rng: np.random.RandomState, k: int, letters: str = LETTERS) -> list[str]:
    """k distinct orderings drawn without replacement from all of them (the identity may be among them)."""
    perms = all_permutations(letters)
    return [perms[i] for i in rng.choice(len(perms), size=k, replace=False)]


def permuted_gold(perm: str, gold: str) -> str:
    """The letter under which the originally-`gold` option appears once the options are laid out as `perm`.

    Slot i (letter LETTERS[i]) shows the option that was originally under letter perm[i].
    """
    return LETTERS[perm.index(gold)]

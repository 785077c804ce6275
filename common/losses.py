"""Per-token training losses, registered by key: what a method trains its answer tokens with.

The trainer (common/training.py) keeps what every loss shares: which positions are trained, the row weights, the
normalisation (answer tokens of the optimiser step, or the original's), the accumulation and several-process
scaling. A loss only says, for each trained token, how much it costs. It declares the per-row fields it needs
(`fields`: name -> (dtype, default)); an `Example` carries them in its `fields`, and tokenisation and the
collator pass them through to the loss as one tensor per field, one value per row of the batch.

A new loss is one class here (or in a method's own file) with `@register_loss`; docs/method.md §6-§7 state the
two the paper's methods use.
"""
from dataclasses import dataclass

import torch

LOSSES: dict[str, "TokenLoss"] = {}


@dataclass(frozen=True)
class TokenBatch:
    """The trained tokens of one micro-batch, flattened: N tokens over the batch's B rows.

    scores: N x V logits (float32) of the positions whose next token is trained; targets: N token ids;
    row: N indices into the batch's rows (which row each token belongs to); position: N indices of the token's
    position within its row's answer (0 for the first answer token); fields: per-row tensors (B,) of the fields
    the loss declared; progress: the share of training done before this step, in [0, 1)."""
    scores: torch.Tensor
    targets: torch.Tensor
    row: torch.Tensor
    position: torch.Tensor
    fields: dict
    progress: float


class TokenLoss:
    """A per-token loss: `__call__(batch) -> N losses`, in nats."""
    key: str = ""
    fields: dict = {}       # per-row field -> (torch dtype, default value)

    def trains_eos(self, fields: dict) -> bool:
        """Whether a row with these fields also trains its end-of-sequence token (when the run trains EOS)."""
        return True

    def __call__(self, batch: TokenBatch) -> torch.Tensor:
        raise NotImplementedError


def register_loss(cls: type[TokenLoss]) -> type[TokenLoss]:
    """Class decorator: one instance of the loss, registered under `cls.key`."""
    if not cls.key or cls.key in LOSSES:
        raise ValueError(f"a loss needs a key of its own, got {cls.key!r}")
    LOSSES[cls.key] = cls()
    return cls


def get_loss(key: str) -> TokenLoss:
    if key not in LOSSES:
        raise ValueError(f"unknown loss {key!r}; registered: {', '.join(sorted(LOSSES))}")
    return LOSSES[key]


def log_likelihood(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) under softmax(scores), per token (N x V scores, N targets)."""
    return torch.log_softmax(scores, dim=-1).gather(-1, targets[:, None]).squeeze(-1)


@register_loss
class Likelihood(TokenLoss):
    """-log p(target): the SFT loss of every stage of the paper."""
    key = "likelihood"

    def __call__(self, batch: TokenBatch) -> torch.Tensor:
        return -log_likelihood(batch.scores, batch.targets)


@register_loss
class Unlikelihood(TokenLoss):
    """-log p on ordinary rows; -log(1 - p) on rows marked `unlikely` (their answer is pushed down, §7).

    -log(1 - p) is computed as logsumexp(scores) - logsumexp(scores without the target): exact, finite and with a
    gradient even where p rounds to 1 (1 - p clamped in float32 would give -log of a constant there). An
    unlikely row's EOS is not trained: "then stop" is no part of an answer that is pushed down."""
    key = "unlikelihood"
    fields = {"unlikely": (torch.bool, False)}

    def trains_eos(self, fields: dict) -> bool:
        return not fields.get("unlikely", False)

    def __call__(self, batch: TokenBatch) -> torch.Tensor:
        loss = -log_likelihood(batch.scores, batch.targets)
        unlikely = batch.fields["unlikely"][batch.row]
        if not bool(unlikely.any()):
            return loss
        others = batch.scores.scatter(-1, batch.targets[:, None], float("-inf"))
        log_one_minus_p = torch.logsumexp(others, dim=-1) - torch.logsumexp(batch.scores, dim=-1)
        return torch.where(unlikely, -log_one_minus_p, loss)

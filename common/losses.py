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


def aux_coefficient(coef: torch.Tensor, warmup_frac: torch.Tensor, progress: float) -> torch.Tensor:
    """α of the auxiliary confidence loss: `coef` ramped linearly from 0 over the first `warmup_frac` of training
    (`progress`: the share of optimiser steps done), then constant; no ramp with warmup_frac 0."""
    ramp = torch.where(warmup_frac > 0, (progress / warmup_frac.clamp(min=1e-12)).clamp(max=1.0),
                       torch.ones_like(warmup_frac))
    return coef * ramp


def harden(option_scores: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """The student's hardened prediction over the answer options (R x n scores), as an option index per row.

    Two options: Burns et al.'s prior-matching threshold. With q the share of the batch's weak labels that are
    option 1, t = the q-quantile of the batch's p(option 0) (softmax over the two options), and a row predicts
    option 0 where p(option 0) >= t: about a share q of the rows then predict option 1, the weak labels' balance.
    More options, or fewer than two rows (no quantile to take: a one-row batch would always be option 0): the
    argmax. `weak`: R x n one-hot weak labels."""
    if option_scores.shape[-1] != 2 or option_scores.shape[0] < 2:
        return option_scores.argmax(-1)
    p0 = torch.softmax(option_scores.float(), dim=-1)[:, 0]
    threshold = torch.quantile(p0, weak[:, 1].float().mean())
    return (p0 < threshold).long()


@register_loss
class AuxiliaryConfidence(TokenLoss):
    """Burns et al. (2023)'s auxiliary confidence loss, at the answer's first token (docs/method.md §13).

    Where the first answer token is one of the row's answer options (field `options`: the first token of each
    option's completion; the weak label is the option the target token is), its loss is
        -(1 - α) log p(weak option) - α log p(hardened option)
    with p the model's softmax over the vocabulary, the hardened option from `harden` over the options' scores
    (no gradient through it), α = `aux_coefficient` of the fields `aux_coef`, `aux_warmup_frac`. Every other
    token (the rest of the answer, EOS) and a row whose first token is no option train by likelihood, so α = 0
    is exactly naive W2S's loss."""
    key = "aux_confidence"
    fields = {"options": (torch.long, ()), "aux_coef": (torch.float32, 0.0), "aux_warmup_frac": (torch.float32, 0.0)}

    def __call__(self, batch: TokenBatch) -> torch.Tensor:
        loss = -log_likelihood(batch.scores, batch.targets)
        first = (batch.position == 0).nonzero().squeeze(-1)
        options = batch.fields["options"][batch.row[first]]                  # R x n token ids
        if options.numel() == 0:
            return loss
        weak = options == batch.targets[first, None]                         # R x n one-hot, or a zero row
        first, options, weak = first[weak.any(-1)], options[weak.any(-1)], weak[weak.any(-1)]
        if first.numel() == 0:
            return loss
        rows = batch.row[first]
        alpha = aux_coefficient(batch.fields["aux_coef"][rows], batch.fields["aux_warmup_frac"][rows], batch.progress)
        hard = options.gather(-1, harden(batch.scores[first].gather(-1, options).detach(), weak)[:, None])
        log_p = torch.log_softmax(batch.scores[first], dim=-1)
        aux = -(1 - alpha) * log_p.gather(-1, batch.targets[first, None]).squeeze(-1) \
            - alpha * log_p.gather(-1, hard).squeeze(-1)
        return loss.index_put((first,), aux)

"""Log-likelihood scoring of answer options, the way lm-evaluation-harness scores multiple choice, with the key
value cache of a long shared prefix (a few-shot prompt) computed once.

The score of option o after context c is Σ log p(token | everything before it) over o's tokens, where c + o is
tokenised as one text (`common.training.joint_token_ids`: the option's tokens are those that reach past c). With a
prefix cache the prefix runs once; each row then runs only its own tokens after the prefix, once, and each option
only its own tokens after that. The cache holds the prefix's tokens but its last `margin`: tokenisers merge across
the end of a text ("\n\n" + "Question" is "\n" + "\nQuestion"-like for byte-level BPE), so a row's own tokens
start a little before the prefix's text ends. Rows whose tokens after the prefix have the same length run together as a batch
(no padding, so no position or sliding-window subtleties). Rows whose tokens would not start with the prefix's own
(a tokenizer that merges across the prefix's end) are scored from scratch, so cached scores always equal full ones.
"""
import copy
from typing import Sequence

import torch

from .training import joint_token_ids


def _device(model):
    return next(model.parameters()).device


def option_ids(tokenizer, context: str, options: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """(context ids, option ids) of each option, from the joint tokenisation of context + option."""
    out = []
    for option in options:
        ids, boundary = joint_token_ids(tokenizer, context, option)
        out.append((ids[:boundary], ids[boundary:]))
    return out


def _sum_logprobs(logits: torch.Tensor, targets: list[int]) -> float:
    """Σ_i log softmax(logits[i])[targets[i]]; logits: len(targets) x V."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return float(logp[torch.arange(len(targets)), torch.tensor(targets, device=logits.device)].sum())


@torch.no_grad()
def full_scores(model, tokenizer, context: str, options: Sequence[str]) -> list[float]:
    """Each option's log-likelihood after `context`, every (context, option) run from scratch (the baseline)."""
    scores = []
    for ctx, opt in option_ids(tokenizer, context, options):
        ids = torch.tensor([ctx + opt], device=_device(model))
        logits = model(input_ids=ids, logits_to_keep=len(opt) + 1).logits[0, :-1]
        scores.append(_sum_logprobs(logits, opt))
    return scores


class PrefixScorer:
    """Scores options after `prefix + suffix` for many suffixes, running the shared `prefix` once."""

    def __init__(self, model, tokenizer, prefix: str, batch_size: int = 8, margin: int = 2):
        self.model, self.tokenizer, self.prefix, self.batch_size = model, tokenizer, prefix, batch_size
        ids = tokenizer(prefix)["input_ids"]
        self.prefix_ids = ids[:max(1, len(ids) - margin)]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([self.prefix_ids], device=_device(model)), use_cache=True,
                        logits_to_keep=1)
        self.cache = out.past_key_values
        self.fallbacks = 0  # rows scored from scratch because their tokens do not extend the prefix's

    def scores(self, suffix: str, options: Sequence[str]) -> list[float]:
        return self.score_rows([suffix], [options])[0]

    @torch.no_grad()
    def score_rows(self, suffixes: Sequence[str], options: Sequence[Sequence[str]]) -> list[list[float]]:
        """The options' scores of every row (row i: `prefix + suffixes[i]` followed by each of `options[i]`)."""
        n = len(self.prefix_ids)
        results: list[list[float] | None] = [None] * len(suffixes)
        rows = {}  # suffix length -> [(row, context ids after the prefix, option ids)]
        for i, (suffix, opts) in enumerate(zip(suffixes, options)):
            pairs = option_ids(self.tokenizer, self.prefix + suffix, opts)
            contexts = {tuple(ctx) for ctx, _ in pairs}
            ctx = pairs[0][0]
            if len(contexts) != 1 or ctx[:n] != self.prefix_ids or len(ctx) <= n:
                self.fallbacks += 1
                results[i] = full_scores(self.model, self.tokenizer, self.prefix + suffix, opts)
            else:
                rows.setdefault(len(ctx) - n, []).append((i, ctx[n:], [opt for _, opt in pairs]))
        for group in rows.values():
            for start in range(0, len(group), self.batch_size):
                for i, scores in self._score_batch(group[start:start + self.batch_size]):
                    results[i] = scores
        return results

    def _score_batch(self, batch):
        """One forward of equally long row suffixes on copies of the prefix cache, then each option length once."""
        device = _device(self.model)
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(len(batch))
        out = self.model(input_ids=torch.tensor([suffix for _, suffix, _ in batch], device=device),
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        scores = [[float(first[r, opt[0]]) for opt in opts] for r, (_, _, opts) in enumerate(batch)]
        by_length: dict[int, list[tuple[int, int]]] = {}
        for r, (_, _, opts) in enumerate(batch):
            for j, opt in enumerate(opts):
                if len(opt) > 1:
                    by_length.setdefault(len(opt), []).append((r, j))
        for members in by_length.values():  # the options' later tokens, all options of one length together
            branch = copy.deepcopy(out.past_key_values)
            branch.batch_select_indices(torch.tensor([r for r, _ in members], device=device))
            inputs = torch.tensor([batch[r][2][j][:-1] for r, j in members], device=device)
            logits = self.model(input_ids=inputs, past_key_values=branch, use_cache=True).logits
            for k, (r, j) in enumerate(members):
                scores[r][j] += _sum_logprobs(logits[k], batch[r][2][j][1:])
        return [(i, s) for (i, _, _), s in zip(batch, scores)]

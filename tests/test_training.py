"""Completion-only masking and the weighted loss against hand-computed numbers."""
import math

import pytest
import torch

from common.training import (IGNORE_INDEX, CompletionCollator, tokenize_completion, trained_positions,
                             weighted_causal_lm_loss)


def ce(logit_row, target):
    """Cross-entropy of one position, by hand: log-sum-exp minus the target logit."""
    return math.log(sum(math.exp(v) for v in logit_row)) - logit_row[target]


# B=2, L=3, V=3. Row 0 trains the targets at t=1,2 (labels 1, 2); row 1 only t=2 (label 0).
LOGITS = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [9.0, 9.0, 9.0]],
                       [[0.5, 0.0, 1.0], [1.0, 2.0, 0.0], [9.0, 9.0, 9.0]]])
LABELS = torch.tensor([[IGNORE_INDEX, 1, 2], [IGNORE_INDEX, IGNORE_INDEX, 0]])
WEIGHTS = torch.tensor([1.0, 0.5])
# logits at position t predict label t+1; the last position predicts nothing
L00 = ce([2.0, 0.0, 0.0], 1)
L01 = ce([0.0, 1.0, 3.0], 2)
L11 = ce([1.0, 2.0, 0.0], 0)


def test_weighted_loss_mean_over_answer_tokens():
    expected = (1.0 * (L00 + L01) + 0.5 * L11) / 3  # 3 trained tokens
    got = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, "answer_tokens")
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_weighted_loss_original_mean_over_all_positions():
    expected = (1.0 * (L00 + L01) + 0.5 * L11) / (2 * 2)  # B * (L - 1) positions, ignored ones included
    got = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, "all_positions")
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_unit_weights_give_the_standard_causal_lm_loss():
    from transformers.loss.loss_utils import ForCausalLMLoss

    standard = ForCausalLMLoss(LOGITS, LABELS, vocab_size=3)
    got = weighted_causal_lm_loss(LOGITS, LABELS, torch.ones(2))
    assert got.item() == pytest.approx(standard.item(), rel=1e-6)


@pytest.mark.parametrize("normalisation", ["answer_tokens", "all_positions"])
def test_loss_on_kept_positions_equals_full_loss(normalisation):
    positions = trained_positions(LABELS)
    assert positions.tolist() == [0, 1]
    full = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, normalisation)
    kept = weighted_causal_lm_loss(LOGITS[:, positions], LABELS, WEIGHTS, normalisation, positions)
    assert kept.item() == pytest.approx(full.item(), rel=1e-6)


def test_weights_scale_the_gradient_of_their_own_example():
    logits = LOGITS.clone().requires_grad_(True)
    weighted_causal_lm_loss(logits, LABELS, torch.tensor([1.0, 0.0])).backward()
    assert logits.grad[1].abs().sum() == 0  # weight 0: example 1 gets no gradient
    assert logits.grad[0].abs().sum() > 0


def test_unknown_normalisation_is_rejected():
    with pytest.raises(ValueError):
        weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, "per_example")


def test_masking_trains_answer_and_eos_not_prompt_or_padding(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt, completion = "### Question: What is a star?. ### Answer:", " A"
    example = tokenize_completion(tok, prompt, completion, max_length=512)
    n_prompt = len(tok(prompt)["input_ids"])
    answer_ids = tok(completion, add_special_tokens=False)["input_ids"]
    assert example["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert example["labels"][n_prompt:] == answer_ids + [tok.eos_token_id]  # the EOS is a trained target
    assert example["input_ids"][n_prompt:] == answer_ids + [tok.eos_token_id]

    short = tokenize_completion(tok, "Q:", " B", max_length=512)
    batch = CompletionCollator(tok.pad_token_id)([{**example, "weight": 0.25}, short])
    width = len(example["input_ids"])
    assert batch["input_ids"].shape == (2, width)  # padded to the longest in the batch
    pad = width - len(short["input_ids"])
    assert batch["labels"][1, -pad:].tolist() == [IGNORE_INDEX] * pad
    assert batch["attention_mask"][1].tolist() == [1] * len(short["input_ids"]) + [0] * pad
    assert batch["labels"][1, len(short["input_ids"]) - 1].item() == tok.eos_token_id  # EOS trained even when pad==eos
    assert batch["weights"].tolist() == [0.25, 1.0]


def test_truncation_that_cuts_the_whole_answer_drops_the_example(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt = "### Question: " + "a star " * 50 + "### Answer:"
    assert tokenize_completion(tok, prompt, " A", max_length=10) is None
    kept = tokenize_completion(tok, "Q:", " A", max_length=3)
    assert len(kept["input_ids"]) == 3


def test_micro_batch_divides_the_effective_batch():
    from common.training import micro_batch_size

    assert micro_batch_size(4, 24) == 4 and micro_batch_size(8, 20) == 5 and micro_batch_size(16, 24) == 12
    assert micro_batch_size(4, 2) == 2 and micro_batch_size(1, 7) == 1 and micro_batch_size(4, 7) == 1

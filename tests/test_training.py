"""The loss against hand-computed numbers, completion tokens against what a model emits after the prompt (with
tokenizers that behave like the paper's models'), and the gradient-accumulation scaling."""
import math

import pytest
import torch
from tiny import build_tiny_model, byte_level_tokenizer, llama2_legacy_tokenizer, metaspace_tokenizer
from transformers import TrainerCallback

from common.losses import LOSSES, TokenBatch, TokenLoss
from common.training import (
    IGNORE_INDEX,
    CompletionCollator,
    Example,
    TrainPlan,
    accumulation_plan,
    joint_token_ids,
    tokenize_completion,
    train_lora,
    trained_positions,
    weighted_causal_lm_loss,
)

UNLIKELIHOOD = LOSSES["unlikelihood"]


def ce(logit_row, target):
    """Cross-entropy of one position, by hand: log-sum-exp minus the target logit."""
    return math.log(sum(math.exp(v) for v in logit_row)) - logit_row[target]


def unlike(logit_row, target):
    """-log(1 - p) of one position, by hand."""
    return -math.log(1 - math.exp(-ce(logit_row, target)))


# B=2, L=3, V=3. Row 0 trains the targets at t=1,2 (labels 1, 2); row 1 only t=2 (label 0).
LOGITS = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [9.0, 9.0, 9.0]],
                       [[0.5, 0.0, 1.0], [1.0, 2.0, 0.0], [9.0, 9.0, 9.0]]])
LABELS = torch.tensor([[IGNORE_INDEX, 1, 2], [IGNORE_INDEX, IGNORE_INDEX, 0]])
WEIGHTS = torch.tensor([1.0, 0.5])
# logits at position t predict label t+1; the last position predicts nothing
L00, L01, L11 = ce([2.0, 0.0, 0.0], 1), ce([0.0, 1.0, 3.0], 2), ce([1.0, 2.0, 0.0], 0)
U11 = unlike([1.0, 2.0, 0.0], 0)


def test_weighted_loss_mean_over_answer_tokens():
    expected = (1.0 * (L00 + L01) + 0.5 * L11) / 3  # 3 trained tokens
    assert weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS).item() == pytest.approx(expected, rel=1e-6)
    # the optimiser step's token count as denominator (7 answer tokens over all its micro-batches)
    got = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, num_items=7)
    assert got.item() == pytest.approx((1.0 * (L00 + L01) + 0.5 * L11) / 7, rel=1e-6)


def test_weighted_loss_original_mean_over_all_positions():
    expected = (1.0 * (L00 + L01) + 0.5 * L11) / (2 * 2)  # B * (L - 1) positions, ignored ones included
    got = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, normalisation="all_positions")
    assert got.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("normalisation,denominator", [("answer_tokens", 3), ("all_positions", 4)])
def test_unlikelihood_rows_by_hand(normalisation, denominator):
    # row 1 is an unlikelihood row with weight 2.0: its token contributes 2.0 * -log(1 - p) instead of 0.5 * CE
    got = weighted_causal_lm_loss(LOGITS, LABELS, torch.tensor([1.0, 2.0]), UNLIKELIHOOD,
                                  {"unlikely": torch.tensor([False, True])}, normalisation)
    assert got.item() == pytest.approx((L00 + L01 + 2.0 * U11) / denominator, rel=1e-6)
    assert U11 == pytest.approx(-math.log1p(-math.exp(-L11)))


def test_unlikelihood_of_a_nearly_certain_token_is_finite_and_still_learns():
    logits = torch.tensor([[[0.0, 80.0], [0.0, 0.0]]], requires_grad=True)  # p(token 1) = 1 - e^-80
    loss = weighted_causal_lm_loss(logits, torch.tensor([[IGNORE_INDEX, 1]]), torch.ones(1), UNLIKELIHOOD,
                                   {"unlikely": torch.tensor([True])})
    loss.backward()
    assert loss.item() == pytest.approx(80.0, rel=1e-5)  # -log(1 - p) = -log(e^-80 / (1 + e^-80))
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 0, 1] > 0.99  # the certain token is still pushed down at full strength


def test_unit_weights_give_the_standard_causal_lm_loss():
    from transformers.loss.loss_utils import ForCausalLMLoss

    standard = ForCausalLMLoss(LOGITS, LABELS, vocab_size=3)
    got = weighted_causal_lm_loss(LOGITS, LABELS, torch.ones(2))
    assert got.item() == pytest.approx(standard.item(), rel=1e-6)


@pytest.mark.parametrize("normalisation", ["answer_tokens", "all_positions"])
def test_loss_on_kept_positions_equals_full_loss(normalisation):
    positions = trained_positions(LABELS)
    assert positions.tolist() == [0, 1]
    full = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, normalisation=normalisation)
    kept = weighted_causal_lm_loss(LOGITS[:, positions], LABELS, WEIGHTS, normalisation=normalisation,
                                   positions=positions)
    assert kept.item() == pytest.approx(full.item(), rel=1e-6)


def test_weights_scale_the_gradient_of_their_own_example():
    logits = LOGITS.clone().requires_grad_(True)
    weighted_causal_lm_loss(logits, LABELS, torch.tensor([1.0, 0.0])).backward()
    assert logits.grad[1].abs().sum() == 0  # weight 0: example 1 gets no gradient
    assert logits.grad[0].abs().sum() > 0


class ProgressProbe(TokenLoss):
    """A loss that records what the trainer hands a loss (progress, each token's row and answer position)."""
    key = "probe"
    fields = {"tag": (torch.long, 0)}

    def __init__(self):
        self.seen = []

    def __call__(self, batch: TokenBatch) -> torch.Tensor:
        self.seen.append((batch.progress, batch.row.tolist(), batch.position.tolist(), batch.fields["tag"].tolist()))
        return -torch.log_softmax(batch.scores, -1).gather(-1, batch.targets[:, None]).squeeze(-1)


def test_a_loss_gets_its_fields_rows_positions_and_progress():
    probe = ProgressProbe()
    got = weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, probe, {"tag": torch.tensor([7, 9])}, progress=0.25)
    assert got.item() == pytest.approx((1.0 * (L00 + L01) + 0.5 * L11) / 3, rel=1e-6)
    # trained tokens: row 0 at t=0, 1 (its answer's tokens 0 and 1), row 1 at t=1 (its answer's token 0)
    assert probe.seen == [(0.25, [0, 0, 1], [0, 1, 0], [7, 9])]


def test_the_trainer_hands_the_loss_the_share_of_training_done(untaught_tiny, tmp_path, monkeypatch):
    """Two optimiser steps of one micro-batch each: the loss sees progress 0 then 1/2, and the examples' fields."""
    from common import losses
    from common.models import load_model_and_tokenizer

    probe = ProgressProbe()
    monkeypatch.setitem(losses.LOSSES, "probe", probe)
    model, tok = load_model_and_tokenizer(str(untaught_tiny))
    examples = [Example(f"Q{i} ### Answer:", " A", 1.0, {"tag": i}) for i in range(4)]
    plan = TrainPlan(lr=1e-3, epochs=1, micro_batch_size=2, accumulation_steps=1, max_length=32, loss="probe")
    train_lora(model, tok, examples, plan, tmp_path / "work")
    assert [seen[0] for seen in probe.seen] == [0.0, 0.5]
    assert sorted(tag for seen in probe.seen for tag in set(seen[3])) == [0, 1, 2, 3]


def test_an_example_field_the_loss_does_not_declare_is_refused(untaught_tiny, tmp_path):
    from common.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(untaught_tiny))
    plan = TrainPlan(lr=1e-3, epochs=1, micro_batch_size=2, accumulation_steps=1, max_length=32)
    with pytest.raises(ValueError, match=r"example fields \['unlikely'\] are not fields of the 'likelihood' loss"):
        train_lora(model, tok, [Example("Q ### Answer:", " A", 1.0, {"unlikely": True})], plan, tmp_path / "w")


def test_unknown_normalisation_is_rejected():
    with pytest.raises(ValueError):
        weighted_causal_lm_loss(LOGITS, LABELS, WEIGHTS, normalisation="per_example")


# ---------------------------------------------------------------------------------------------- tokenisation

TOKENIZERS = {"llama2-legacy": llama2_legacy_tokenizer, "metaspace": metaspace_tokenizer,
              "byte-level": byte_level_tokenizer}


@pytest.fixture(scope="module", params=list(TOKENIZERS))
def tokenizer(request):
    return TOKENIZERS[request.param]()


@pytest.mark.parametrize("prompt,completion", [
    ("### Question: What is a star?. ### Answer:", " A"),                 # MMLU-style: the answer brings its space
    ("### Question: What is a star?. ### Answer: ", "A. because"),        # a prompt that ends in a space
    ("### Question: What is a star?. ### Answer: ", " A. because"),       # ... and a raw output with its own
    ("### Answer:", " wrong "),
])
def test_trained_ids_are_the_ids_of_the_joint_text(tokenizer, prompt, completion):
    """Whatever the tokenizer, the example's ids are the joint text's ids (what the model produces when it writes
    the answer after the prompt), plus EOS; exactly the tokens that carry completion characters are trained."""
    example = tokenize_completion(tokenizer, prompt, completion, max_length=512)
    joint = tokenizer(prompt + completion)["input_ids"]
    assert example["input_ids"] == joint + [tokenizer.eos_token_id]
    trained = [i for i, label in enumerate(example["labels"]) if label != IGNORE_INDEX]
    assert example["labels"][trained[0]:] == example["input_ids"][trained[0]:]
    offsets = tokenizer(prompt + completion, return_offsets_mapping=True)["offset_mapping"]
    reaching_into_completion = [i for i, (_, end) in enumerate(offsets) if end > len(prompt)]
    assert trained == reaching_into_completion + [len(joint)]
    decoded = tokenizer.decode(example["input_ids"][trained[0]:-1])
    assert decoded.strip() == completion.strip()


def test_llama2_legacy_completion_starts_with_the_token_the_model_emits():
    """' A' tokenised on its own is '▁' + '▁A' under Llama-2's legacy normalizer; after '### Answer:' the model
    writes '▁A'. Separate tokenisation (the old code) trained the lone '▁'; the joint one trains '▁A'."""
    tok = llama2_legacy_tokenizer()
    alone = tok.convert_ids_to_tokens(tok(" A", add_special_tokens=False)["input_ids"])
    assert alone == ["▁", "▁A"]
    example = tokenize_completion(tok, "### Answer:", " A", max_length=64)
    trained = [t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE_INDEX]
    assert tok.convert_ids_to_tokens(trained) == ["▁A", "</s>"]
    # a prompt ending in a space: alone it ends with a lone '▁', which merges with the answer in the joint text
    ids, boundary = joint_token_ids(tok, "### Answer: ", "A")
    assert tok.convert_ids_to_tokens(tok("### Answer: ")["input_ids"])[-1] == "▁"
    assert tok.convert_ids_to_tokens(ids[boundary:]) == ["▁A"]


def test_masking_trains_answer_and_eos_not_prompt_or_padding():
    tok = byte_level_tokenizer()
    prompt, completion = "### Question: What is a star?. ### Answer:", " A"
    example = tokenize_completion(tok, prompt, completion, max_length=512)
    n_prompt = len(tok(prompt)["input_ids"])
    answer_ids = tok(prompt + completion)["input_ids"][n_prompt:]
    assert example["labels"] == [IGNORE_INDEX] * n_prompt + answer_ids + [tok.eos_token_id]
    no_eos = tokenize_completion(tok, prompt, completion, max_length=512, train_eos=False)
    assert no_eos["input_ids"] == example["input_ids"][:-1]

    short = tokenize_completion(tok, "Q:", " B", max_length=512)
    batch = CompletionCollator(tok.pad_token_id, UNLIKELIHOOD)([{**example, "weight": 0.25, "unlikely": True}, short])
    width = len(example["input_ids"])
    assert batch["input_ids"].shape == (2, width)  # padded to the longest in the batch
    pad = width - len(short["input_ids"])
    assert batch["labels"][1, -pad:].tolist() == [IGNORE_INDEX] * pad
    assert batch["attention_mask"][1].tolist() == [1] * len(short["input_ids"]) + [0] * pad
    assert batch["labels"][1, len(short["input_ids"]) - 1].item() == tok.eos_token_id  # EOS trained even if pad==eos
    assert batch["weights"].tolist() == [0.25, 1.0] and batch["unlikely"].tolist() == [True, False]


def test_truncation_that_cuts_the_whole_answer_drops_the_example():
    tok = byte_level_tokenizer()
    prompt = "### Question: " + "a star " * 50 + "### Answer:"
    assert tokenize_completion(tok, prompt, " A", max_length=10) is None
    kept = tokenize_completion(tok, "Q:", " A", max_length=3)
    assert len(kept["input_ids"]) == 3


def test_accumulation_plan_divides_the_effective_batch():
    assert accumulation_plan(4, 24) == (4, 6) and accumulation_plan(8, 20) == (5, 4)
    assert accumulation_plan(16, 24) == (12, 2) and accumulation_plan(4, 2) == (2, 1)
    assert accumulation_plan(1, 7) == (1, 7) and accumulation_plan(4, 7) == (1, 7)
    assert accumulation_plan(4, 24, processes=2) == (4, 3) and accumulation_plan(2, 24, processes=4) == (2, 3)


# ------------------------------------------------------------------------------------ accumulation scaling

class FirstStepGradients(TrainerCallback):
    """The LoRA gradients of the first optimiser step, as the optimiser receives them (after clipping)."""

    def __init__(self):
        self.grads = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.grads is None:
            self.grads = {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}


def first_step_gradients(model_dir, micro: int, step_token_mean: bool, tmp_path):
    """The LoRA gradients of one optimiser step on 24 examples of different lengths (dropout 0), and the step's
    gradient norm before clipping. Answer lengths grow with the micro-batch index (2 to 17 tokens), so a
    per-micro-batch mean weighs the tokens of the short micro-batches far more than a mean over the step does.
    The gradients are compared, not the weights after the step: Adam's first update is about lr·g/(|g| + eps)
    for every element, which turns a float-rounding difference of a near-zero gradient into a full-size weight
    difference whose sign depends on the CPU's summation order."""
    from common.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(model_dir))
    examples = [Example(f"### Question: item {i}. ### Answer:", " A" + " because" * (3 * (i // 4)), 0.5 + (i % 3) / 2)
                for i in range(24)]
    plan = TrainPlan(lr=1e-2, epochs=1, micro_batch_size=micro, accumulation_steps=24 // micro, max_length=64,
                     step_token_mean=step_token_mean, lora_dropout=0.0, logging_steps=1)
    grads = FirstStepGradients()
    model, log, trained = train_lora(model, tok, examples, plan, tmp_path / f"work-{micro}-{step_token_mean}",
                                     callbacks=[grads])
    assert len(log) == 1 and trained == 24  # exactly one optimiser step, on every example
    return grads.grads, log["grad_norm"].iloc[0]


def float32_agreement(a: torch.Tensor, b: torch.Tensor, roundings: int = 64) -> bool:
    """Whether two float32 computations of the same gradient agree up to summation order: every element within
    `roundings` float32 epsilons of the tensor's largest element. A reordered sum of n terms moves by up to about
    n·eps·Σ|terms| in the worst case, far less in practice: measured on this step, 24 x 1 against 4 x 6 differ by
    at most 1.3 eps with AVX-512 kernels, 1.3 with AVX2 and 1.5 with the DEFAULT ones (ATEN_CPU_CAPABILITY),
    against ~500,000 eps for the per-micro-batch mean; 64 leaves a margin of 40 on one side and 8,000 on the
    other."""
    scale = max(a.abs().max().item(), b.abs().max().item())
    return bool(((a - b).abs() <= roundings * torch.finfo(torch.float32).eps * scale).all())


@pytest.fixture(scope="module")
def untaught_tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("plain") / "tiny", teach=False)


@pytest.fixture(scope="module")
def full_step(untaught_tiny, tmp_path_factory):
    return first_step_gradients(untaught_tiny, 24, True, tmp_path_factory.mktemp("full"))


def test_one_step_of_4_x_6_equals_24_x_1(untaught_tiny, full_step, tmp_path):
    """The default loss divides by the answer tokens of the whole optimiser step, so cutting the step into
    micro-batches changes the gradients only by float32 summation order."""
    full, full_norm = full_step
    accumulated, accumulated_norm = first_step_gradients(untaught_tiny, 4, True, tmp_path)
    assert set(full) == set(accumulated) and any("lora_B" in k for k in full)
    assert accumulated_norm == pytest.approx(full_norm, rel=1e-5) and full_norm > 0
    assert all(float32_agreement(full[k], accumulated[k]) for k in full)
    assert any(full[k].abs().sum() > 0 for k in full if "lora_B" in k)  # LoRA B (zero at init) gets a gradient


def test_per_micro_batch_mean_changes_the_step(untaught_tiny, full_step, tmp_path):
    """The original's per-micro-batch mean weighs the short micro-batches' tokens more: the same comparison fails."""
    full, full_norm = full_step
    per_micro, per_micro_norm = first_step_gradients(untaught_tiny, 4, False, tmp_path)
    assert per_micro_norm != pytest.approx(full_norm, rel=0.01)
    assert not all(float32_agreement(full[k], per_micro[k]) for k in full)


def test_float32_agreement_bounds():
    g = torch.tensor([1.0, -0.5, 1e-9])
    eps = torch.finfo(torch.float32).eps
    assert float32_agreement(g, g + torch.tensor([0.0, 0.0, 30 * eps]))        # a rounding-size difference
    assert not float32_agreement(g, g + torch.tensor([0.0, 0.0, 100 * eps]))   # beyond 64 roundings of |g|max
    assert not float32_agreement(g, g * 1.01)

"""The baselines and controls of docs/method.md §13 against hand-computed numbers: Burns et al.'s auxiliary
confidence loss (warm-up ramp, prior-matching threshold, argmax), the weak model's one-query confidence and the
methods built on it, RW's score on naive W2S's rows, and the weak supervisor trained on every prompt variant."""
import math

import pytest
import torch
from test_row_counts import N, offline, run  # noqa: F401  (offline: a fixture)
from tiny import sample_pools

import common.weak_answers as weak_answers
from common.losses import TokenBatch, get_loss
from common.reliability import candidate_score, reliability_scores
from common.tasks import discover_tasks

TASKS = discover_tasks()


# ------------------------------------------------------------------------------------ auxiliary confidence loss

def aux_batch(progress: float, coef: float = 0.5, warmup: float = 0.1) -> TokenBatch:
    """Three rows of a binary task whose options are tokens 1 and 2 (vocabulary 0-3), one answer token each, and a
    second answer token (3) in row 0. Over the two options p(option 0) is 0.9, 0.6, 0.2; the weak labels are
    option 1, option 0, option 1."""
    first = [[0.0, math.log(9), 0.0, 0.0], [0.0, math.log(1.5), 0.0, 0.0], [0.0, math.log(0.25), 0.0, 0.0]]
    scores = torch.tensor(first + [[0.0, 0.0, 0.0, 1.0]])
    return TokenBatch(scores=scores, targets=torch.tensor([2, 1, 2, 3]), row=torch.tensor([0, 1, 2, 0]),
                      position=torch.tensor([0, 0, 0, 1]),
                      fields={"options": torch.tensor([[1, 2]] * 3), "aux_coef": torch.full((3,), coef),
                              "aux_warmup_frac": torch.full((3,), warmup)}, progress=progress)


@pytest.mark.parametrize("progress,alpha", [(0.0, 0.0), (0.05, 0.25), (0.1, 0.5), (0.7, 0.5)])
def test_aux_confidence_loss_by_hand(progress, alpha):
    """The weak labels' share of option 1 is q = 2/3; the 2/3-quantile of p(option 0) = (0.2, 0.6, 0.9) is
    0.6 + (2·2/3 − 1)·0.3 = 0.7 (linear interpolation): row 0 (0.9 >= 0.7) is hardened to option 0, rows 1 and 2
    to option 1. α = 0.5 · min(1, progress / 0.1). Full-vocabulary probabilities: row 0 p(1) = 9/12, p(2) = 1/12;
    row 1 p(1) = 1.5/4.5, p(2) = 1/4.5; row 2 p(2) = 1/3.25. The second token of row 0 is plain likelihood."""
    loss = get_loss("aux_confidence")(aux_batch(progress))
    expected = [-(1 - alpha) * math.log(1 / 12) - alpha * math.log(9 / 12),       # weak 2, hardened 1
                -(1 - alpha) * math.log(1.5 / 4.5) - alpha * math.log(1 / 4.5),   # weak 1, hardened 2
                -math.log(1 / 3.25),                                               # weak 2 = hardened 2
                -math.log(math.e / (3 + math.e))]                                  # token 3, likelihood
    assert loss.tolist() == pytest.approx(expected, abs=1e-6)


def test_aux_confidence_at_alpha_zero_is_likelihood_and_a_non_option_token_is_left_alone():
    batch = aux_batch(0.5, coef=0.0)
    assert torch.allclose(get_loss("aux_confidence")(batch), get_loss("likelihood")(batch))
    other = TokenBatch(**{**vars(aux_batch(0.5)), "targets": torch.tensor([0, 1, 2, 3])})  # row 0 answers token 0
    loss = get_loss("aux_confidence")(other)
    assert loss[0].item() == pytest.approx(-math.log(1 / 12), abs=1e-6)  # scores [0, ln 9, 0, 0]: p(0) = 1/12
    # with row 0 out, q = 1/2 over rows 1 and 2: threshold 0.4, row 1 (0.6) -> option 0 = its weak label
    assert loss[1].item() == pytest.approx(-math.log(1.5 / 4.5), abs=1e-6)


def test_aux_confidence_hardens_by_argmax_over_more_than_two_options():
    """Four options (tokens 1-4): the hardened answer is the option of the highest score, whatever the balance."""
    scores = torch.tensor([[0.0, 0.0, 2.0, 1.0, 0.0, 0.0]])
    batch = TokenBatch(scores=scores, targets=torch.tensor([1]), row=torch.tensor([0]), position=torch.tensor([0]),
                       fields={"options": torch.tensor([[1, 2, 3, 4]]), "aux_coef": torch.tensor([0.5]),
                               "aux_warmup_frac": torch.tensor([0.0])}, progress=0.0)
    log_p = torch.log_softmax(scores[0], -1)
    assert get_loss("aux_confidence")(batch).item() == pytest.approx(-0.5 * log_p[1].item() - 0.5 * log_p[2].item())


def test_aux_confidence_is_refused_on_free_form_answers(tmp_path, monkeypatch, offline):  # noqa: F811
    from common.errors import UserError

    with pytest.raises(UserError, match="free-form"):
        run("aux_confidence", TASKS["gsm8k"], monkeypatch, output_dir=str(tmp_path))


# ----------------------------------------------------------------------------------- the dataset hooks, checked

@pytest.mark.parametrize("name", sorted(TASKS))
def test_hooks_read_back_as_the_datasets_own_answers(name):
    """On every dataset's sample pools: a gold answer written as a weak label maps to the variants' gold key
    (naive_answer_key); each variant's gold completion for --weak_sft_variants reads back as its gold key; the
    answer options name distinct labels, the gold one among them."""
    task_cls = TASKS[name]
    pools = sample_pools(task_cls)
    task = task_cls(task_cls.folder / "sample")
    if name == "gsm8k":
        task.paraphraser = lambda qs: [[f"{q} ({i})" for i in range(2)] for q in qs]
    variants = task.variants(pools.transfer, 2, 0)
    for question_id, row in enumerate(pools.transfer.itertuples(index=False)):
        gold = variants[variants["question_id"] == question_id]["gold"].iloc[0]
        assert task.naive_answer_key(row, task.clean_weak_label(task.answer_text(row))) == gold
        options = task.answer_options(row)
        if options is not None:
            labels = [task.parse_eval(o, row) for o in options]
            assert len(set(labels)) == len(labels) and task.eval_label(row) in labels
    if name == "gsm8k":
        return
    for v in variants.itertuples(index=False):
        assert task.answer_key(v, task.variant_sft_completion(v).strip()) == v.gold


# --------------------------------------------------------------------------------- one-query weak confidence

def test_option_and_free_form_confidence_by_hand():
    assert weak_answers.option_confidence([math.log(0.2), math.log(0.6), math.log(0.2)], 1) == pytest.approx(0.6)
    assert weak_answers.mean_token_confidence(3 * math.log(0.5), 3) == pytest.approx(0.5)
    assert math.isnan(weak_answers.mean_token_confidence(0.0, 0))


def test_weak_confidence_batched_equals_each_answer_scored_alone(tiny_model, monkeypatch):
    """SST-2 on the tiny model: the batched scoring (shared instruction run once, rows of equal length together)
    gives, for every row, the softmax over " negative" / " positive" of their log-likelihoods scored one by one
    with the weak output's own leading whitespace ("\n" for the second row), at the weak label's option; an answer
    naming no option gets NaN."""
    import common.models
    from common.methods import make_config
    from common.models import load_model_and_tokenizer
    from common.scoring import full_scores

    model, tokenizer = load_model_and_tokenizer(str(tiny_model))
    monkeypatch.setattr(common.models, "load_model_and_tokenizer", lambda *a, **k: (model, tokenizer))
    monkeypatch.setattr("common.pipelines.weak_adapter_dir", lambda task, cfg: "adapter")
    task_cls = TASKS["sst2"]
    task = task_cls(task_cls.folder / "sample")
    outputs = [" positive", "\nnegative.", " maybe", " negative", " positive", " Positive!", " negative", " positive"]
    labelled = sample_pools(task_cls).transfer.head(8).assign(
        weak_label=[task.clean_weak_label(o) for o in outputs], weak_output=outputs)
    cfg = make_config("naive", task_cls, weak_model_name=str(tiny_model), precision="fp32", query_batch_size=3)
    confidence = weak_answers.score_weak_answers(task, cfg, labelled)
    for row, got in zip(labelled.itertuples(index=False), confidence):
        lead = row.weak_output[:len(row.weak_output) - len(row.weak_output.lstrip())]
        scores = torch.tensor(full_scores(model, tokenizer, task.naive_query_prompt(row),
                                          [lead + "negative", lead + "positive"]))
        label = task.parse_eval(row.weak_label, row)
        if label == -1:
            assert math.isnan(got)
        else:
            assert got == pytest.approx(float(torch.softmax(scores, 0)[label]), abs=1e-5)
    assert sum(math.isnan(c) for c in confidence) == 1


CONFIDENCE = [0.9, 0.5, float("nan"), 0.7, 0.6, 0.95, 0.55, 0.8]  # the 8 sample questions of MMLU


def test_confidence_filter_keeps_the_questions_at_or_above_the_median(tmp_path, monkeypatch, offline):  # noqa: F811
    """Scored: 7 of 8 (q2 names no option); median of (0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95) = 0.7: q0, q3, q5, q7."""
    monkeypatch.setattr(weak_answers, "weak_confidence", lambda task, cfg, labelled: CONFIDENCE)
    run("confidence_filter", TASKS["mmlu"], monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    run("naive", TASKS["mmlu"], monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    (_, _, _, kept, extra), (_, _, _, naive, _) = offline
    assert [(e.prompt, e.completion) for e in kept] == [(naive[i].prompt, naive[i].completion) for i in (0, 3, 5, 7)]
    assert extra["confidence_threshold"] == pytest.approx(0.7) and extra["questions_scored"] == 7


def test_confidence_weight_weights_each_naive_row_by_its_confidence(tmp_path, monkeypatch, offline):  # noqa: F811
    monkeypatch.setattr(weak_answers, "weak_confidence", lambda task, cfg, labelled: CONFIDENCE)
    run("confidence_weight", TASKS["mmlu"], monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    _, _, _, examples, extra = offline[0]
    assert [e.weight for e in examples] == [c for c in CONFIDENCE if not math.isnan(c)]
    assert extra["training_questions"] == 7


# ------------------------------------------------------------------------------------------ RW on naive rows

def test_candidate_score_by_hand():
    """k = 4 equal answers "1", T = 1: an absent candidate is a class of count 0: 1 / (1 + e). A present one gets
    its reliability score."""
    assert candidate_score(["1"] * 4, "0", 1.0) == pytest.approx(1 / (1 + math.e))
    assert candidate_score(["1", "1", "0", "1"], "0", 1.0) == reliability_scores(["1", "1", "0", "1"], 1.0)[2]


def test_rw_on_naive_rows_weights_each_naive_row_by_its_answers_score(tmp_path, monkeypatch, offline):  # noqa: F811
    """MMLU, `fake_keys` (k = 5, T = 0.2), every naive answer keyed "a": RW drops the questions with an unparseable
    answer (q1, q3, q5, q7); q0, q4 are unanimous for "a" (score 1), q2, q6 a 4+1 split: e^4 / (e^4 + e^1)."""
    run("rw_naive_rows", TASKS["mmlu"], monkeypatch, hooks={"naive_answer_key": lambda row, label: "a"},
        output_dir=str(tmp_path), train_fraction=1.0)
    _, _, _, examples, extra = offline[0]
    majority = math.exp(4) / (math.exp(4) + math.exp(1))
    assert [e.weight for e in examples] == pytest.approx([1.0, majority, 1.0, majority])
    assert extra["questions_scored"] == 4 and extra["training_questions"] == 4


# ----------------------------------------------------------------------------------- --weak_sft_variants

def test_weak_supervisor_on_every_variant(tmp_path, monkeypatch, offline):  # noqa: F811
    """SST-2, k = 4: variant 0 is the base prompt, so each of the 8 questions adds 3 rows; every added row's
    answer is the gold word; the outputs carry '-variant-sft'."""
    from common.methods import make_config
    from common.weak_answers import answer_file

    run("weak", TASKS["sst2"], monkeypatch, output_dir=str(tmp_path), weak_sft_variants=True, k=4)
    run("weak", TASKS["sst2"], monkeypatch, output_dir=str(tmp_path))
    (_, _, settings, examples, extra), (_, _, base_settings, base, _) = offline
    assert len(base) == N and len(examples) == N + 3 * N and extra["variant_rows"] == 3 * N
    assert examples[:N] == base
    gold = {e.prompt.split("### Review: ")[1]: e.completion for e in base}  # review -> the gold word
    assert all(e.completion == gold[e.prompt.split("### Review: ")[1]] for e in examples[N:])
    assert len({e.prompt for e in examples}) == len(examples)  # four different prompts per review
    task = TASKS["sst2"](TASKS["sst2"].folder / "sample")
    assert settings.adapter_name == "SmolLM2-135M-variant-sft-sst2-train-sft" != base_settings.adapter_name
    cfg = make_config("naive", TASKS["sst2"], weak_sft_variants=True)
    assert answer_file(task, cfg, "naive_csv").name == "sst2_validation_w2s_naive_from_SmolLM2-135M-variant-sft.csv"


def test_a_one_row_batch_is_hardened_by_argmax_not_by_the_quantile():
    """One row: the quantile would be the row's own p(option 0), which always reads option 0; argmax instead."""
    from common.losses import harden

    assert harden(torch.tensor([[0.0, 1.0]]), torch.tensor([[0, 1]])).tolist() == [1]
    assert harden(torch.tensor([[1.0, 0.0]]), torch.tensor([[0, 1]])).tolist() == [0]


def test_aux_confidence_rows_carry_their_options_tokens(tmp_path, monkeypatch, offline):  # noqa: F811
    """SST-2 with the embedded strong model's tokenizer: a row whose weak label names an option carries the first
    tokens of " negative" and " positive"; a label naming none carries -1s (likelihood alone); 16 rows per
    micro-batch by default, and a micro-batch under 8 is refused."""
    from transformers import AutoTokenizer

    from common.errors import UserError
    from common.models import resolve_model_path

    labels = ["positive", "negative", "unsure", "positive.", "negative", "positive", "no idea", "negative"]
    monkeypatch.setattr(weak_answers, "query_weak", lambda task, cfg, prompts, tokens, name: [f" {w}" for w in labels])
    run("aux_confidence", TASKS["sst2"], monkeypatch, output_dir=str(tmp_path))
    _, _, settings, examples, extra = offline[0]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("Gemma3-270M"))
    prompt = examples[0].prompt
    options = [tokenizer(prompt + w)["input_ids"][len(tokenizer(prompt)["input_ids"])] for w in (" negative", " positive")]
    assert [e.fields["options"] for e in examples] == [[-1, -1] if w in ("unsure", "no idea") else options
                                                       for w in labels]
    assert extra["rows_with_option"] == 6 and settings.plan.micro_batch_size == 12  # <= 16 dividing the 24
    assert {e.fields["aux_coef"] for e in examples} == {0.5} and {e.fields["aux_warmup_frac"] for e in examples} == {0.1}
    with pytest.raises(UserError, match="micro_batch_size >= 8"):
        run("aux_confidence", TASKS["sst2"], monkeypatch, output_dir=str(tmp_path), micro_batch_size=4)

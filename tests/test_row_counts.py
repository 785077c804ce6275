"""How many rows every stage trains on, per dataset, against the original's formula (docs/method.md §5).

The weak answers are fixed by hand (the answer keys of each question's k variants follow a pattern), so the
entropy, the median filter, the drop of unparseable answers, `--do_sampling` and the final 80 % / 90 % cut all
decide the counts; each count below is computed from the original's rules, not from our code's facts.
"""
import math

import pytest

import common.runner as runner
import common.weak_answers as weak_answers
from common.methods import get_method, make_config
from common.tasks import discover_tasks

N = 8  # questions in each sample pool (the transfer pool of every dataset's sample/)
# the original's shares: weak-supervisor SFT, naive / ceiling SFT, UF and RW (SST-2: ours, nothing held out)
FRACTIONS = {"hellaswag": (0.8, 0.8, 0.8), "mmlu": (0.9, 0.9, 0.9), "ethics": (0.9, 0.8, 0.8),
             "gsm8k": (0.8, 0.8, 0.8), "sst2": (1.0, 1.0, 1.0)}


def expected_counts(name: str, k: int) -> dict:
    """Rows trained on by each stage, from the original's rules, for the answer pattern of `fake_keys`:
    q % 4 == 0: k equal answers; 1: one unparseable + k-1 equal; 2: a (k-1)+1 split; 3: all unparseable."""
    fw, fs, fm = FRACTIONS[name]
    cut = lambda f, n: int(f * n)  # noqa: E731  (np.split at int(f * len))
    if name in ("gsm8k", "sst2"):      # questions with an unparseable answer are dropped before the entropy
        questions = N // 2                               # q0, q2, q4, q6 remain; q0, q4 have entropy 0
        uf_kept_rows, uf_n = 2 * k, questions            # median between 0 and H(k-1, 1): the H = 0 questions
        rw_rows, rw_n = questions * k, questions
    else:                              # unparseable is an answer class for the entropy
        uf_kept_rows, uf_n = (N // 2) * k, N             # q0, q3, q4, q7 have entropy 0, the rest H(k-1, 1)
        if name == "ethics":           # -1 stays a class in RW too
            rw_rows, rw_n = N * k, N
        else:                          # HellaSwag / MMLU drop, in RW, the questions with any "None"
            rw_rows, rw_n = (N // 2) * k, (N if name == "hellaswag" else N // 2)
    return {"weak": cut(fw, N), "naive": cut(fs, N), "ceiling": cut(fs, N),
            ("uf", False): cut(fm, uf_kept_rows), ("uf", True): cut(fm, min(uf_n, uf_kept_rows) if name != "hellaswag"
                                                                else uf_n),
            ("rw", False): cut(fm, rw_rows), ("rw", True): cut(fm, rw_n)}


def fake_keys(task, k):
    invalid = task.facts.invalid_answer

    def key(row, output):
        position, pattern = int(output.split("-")[1]) % k, row.question_id % 4
        if pattern == 1 and position == 0 or pattern == 3:
            return invalid
        return "b" if pattern == 2 and position == 0 else "a"
    return key


@pytest.fixture
def offline(monkeypatch):
    """Methods run in-process without a model: the weak model answers 'out-<i>' to the i-th prompt, and training
    only records (method key, sampling flag, settings, examples, extra)."""
    seen = []
    monkeypatch.setattr(runner, "train_save_evaluate", lambda task, cfg, method, settings, examples, pools, extra:
                        seen.append((method.key, cfg.do_sampling, settings, examples, extra)) or {})
    monkeypatch.setattr(weak_answers, "query_weak", lambda task, cfg, prompts, tokens, name:
                        [f"out-{i}" for i in range(len(prompts))])
    return seen


def run(key, task_cls, monkeypatch, keys=None, hooks=None, **values):
    """Method `key` on the dataset's sample files, its weak answers' keys given by `keys` (fake_keys), other task
    hooks replaced by `hooks` (name -> function)."""
    cfg = make_config(key, task_cls, **values)
    task = task_cls(task_cls.folder / "sample", cfg)
    monkeypatch.setattr(task, "answer_key", keys or fake_keys(task, task.facts.k))
    for name, hook in (hooks or {}).items():
        monkeypatch.setattr(task, name, hook)
    if task_cls.facts.name == "gsm8k":
        task.paraphraser = lambda qs: [[f"{q} ({i})" for i in range(task.facts.k)] for q in qs]
    runner.run_method(task, cfg, get_method(key))


@pytest.mark.parametrize("name", sorted(FRACTIONS))
def test_rows_trained_on_by_every_stage(name, tmp_path, monkeypatch, offline):
    task_cls = discover_tasks()[name]
    k = task_cls.facts.k
    for stage in ("weak", "naive", "ceiling", "rw", "uf"):  # RW first: it produces the variant answers itself
        for sampling in ((False, True) if stage in ("uf", "rw") else (False,)):
            values = {"output_dir": str(tmp_path)} | ({"do_sampling": sampling} if stage in ("uf", "rw") else {})
            run(stage, task_cls, monkeypatch, **values)
    seen = {(key, sampling) if key in ("uf", "rw") else key: len(examples)
            for key, sampling, _, examples, _ in offline}
    expected = expected_counts(name, k)
    assert seen == expected
    assert math.prod(expected.values()) > 0


def test_unlikelihood_rows_are_those_scored_below_the_threshold(tmp_path, monkeypatch, offline):
    """MMLU, k = 5, T = 0.2: in a 4+1 question the lone answer scores 0.047 and is pushed down with weight
    --weight_unlike; the majority (0.953) and unanimous answers (1.0) keep their re-weighting weights."""
    task_cls = discover_tasks()["mmlu"]
    run("rw_unlikelihood", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0, weight_unlike=2.0)
    run("rw", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    (_, _, ul_settings, ul_examples, ul_extra), (_, _, rw_settings, rw_examples, _) = offline
    assert ul_settings.run_name == "Gemma3-270M_reweighting_unlikelihood_from_SmolLM2-135M_sample=False"
    assert rw_settings.run_name == "Gemma3-270M_reweighting_from_SmolLM2-135M_sample=False"
    pushed = [e for e in ul_examples if e.fields["unlikely"]]
    assert len(pushed) == 2 == ul_extra["unlikelihood_rows"]          # the "b" answers of questions 2 and 6
    assert all(e.weight == 2.0 and e.completion == " out-" + e.completion.split("-")[1] for e in pushed)
    kept = sorted(round(e.weight, 6) for e in ul_examples if not e.fields["unlikely"])
    assert kept == sorted([1.0] * 10 + [0.952574] * 8)                 # 2 unanimous questions, 2 majorities of 4
    assert all(e.fields == {} for e in rw_examples) and len(rw_examples) == len(ul_examples)
    assert sorted(round(e.weight, 6) for e in rw_examples) == sorted(kept + [0.047426] * 2)


def test_with_two_variants_no_row_is_pushed_down_and_the_loss_is_re_weightings(tmp_path, monkeypatch, offline):
    """k = 2 (ETHICS, SST-2): disagreeing answers score exactly 0.5, never below the default threshold, so
    --weight_unlike trains exactly the re-weighting examples."""
    task_cls = discover_tasks()["sst2"]

    def keys(row, output):
        return "a" if row.question_id % 2 else ("a" if output.endswith(("0", "2", "4", "6", "8")) else "b")

    run("rw_unlikelihood", task_cls, monkeypatch, keys, output_dir=str(tmp_path), weight_unlike=1.0)
    run("rw", task_cls, monkeypatch, keys, output_dir=str(tmp_path))
    (_, _, _, ul, ul_extra), (_, _, _, rw, _) = offline
    assert ul_extra["unlikelihood_rows"] == 0 and {e.weight for e in rw} == {0.5, 1.0}
    assert [(e.prompt, e.completion, e.weight, e.fields.get("unlikely", False)) for e in ul] == \
        [(e.prompt, e.completion, e.weight, False) for e in rw]


@pytest.mark.parametrize("temperature,threshold,lone,majority,pushed", [
    (None, 0.96, 0.047426, 0.952574, 10),   # a threshold above the majority's score pushes the majorities down too
    (1.0, 0.5, 0.354344, 0.645656, 2),      # T = 1: a 4+1 split scores 1 / (1 + e^0.6) and 1 / (1 + e^-0.6)
    (1.0, 0.3, 0.354344, 0.645656, 0),      # ... and the lone answer is above a threshold of 0.3
])
def test_rw_honours_temperature_and_unlikelihood_threshold(temperature, threshold, lone, majority, pushed, tmp_path,
                                                           monkeypatch, offline):
    """MMLU, k = 5, the answer pattern of `fake_keys`: RW's scores follow --temperature (not the dataset's 0.2)
    and the rows pushed down are those scored below --unlike_threshold."""
    values = {"weight_unlike": 2.0, "unlike_threshold": threshold} | ({"temperature": temperature} if temperature
                                                                      else {})
    run("rw_unlikelihood", discover_tasks()["mmlu"], monkeypatch, output_dir=str(tmp_path), train_fraction=1.0,
        **values)
    _, _, settings, examples, extra = offline[-1]
    scores = sorted([1.0] * 10 + [majority] * 8 + [lone] * 2)
    assert extra["unlikelihood_rows"] == pushed == sum(e.fields["unlikely"] for e in examples)
    expected = sorted(2.0 if s < threshold else s for s in scores)
    assert sorted(round(e.weight, 6) for e in examples) == expected
    assert lone == pytest.approx(1 / (1 + math.exp(0.6 / (temperature or 0.2))), abs=1e-6)
    assert settings.temperature == (temperature or 0.2)


def test_label_accounting_counts_right_labels_unweighted_and_weighted(tmp_path, monkeypatch, offline):
    """Rows, distinct questions, the share of right labels and Σ w·right / Σ w, by hand; no right/wrong: None."""
    from common.data import Example
    from common.methods import TrainingSet

    built = TrainingSet([Example("p", " a", w) for w in (1.0, 0.5, 0.25, 0.25)], right=[True, False, True, False],
                        questions=[0, 0, 1, 2])
    accounting = runner.label_accounting(built)
    assert accounting["training_rows"] == 4 and accounting["training_questions"] == 3
    assert accounting["training_label_accuracy"] == 0.5
    assert accounting["training_label_accuracy_weighted"] == pytest.approx((1.0 + 0.25) / 2.0)
    assert runner.label_accounting(TrainingSet([Example("p", " a")]))["training_label_accuracy"] is None


def gold_on_even_positions(row, output):
    """Variant answers right at positions 0, 2, 4 of each question's five, a wrong "x" at 1 and 3."""
    return row.gold if int(output.split("-")[1]) % 5 % 2 == 0 else "x"


def test_oracle_filter_keeps_exactly_the_right_weak_answers(tmp_path, monkeypatch, offline):
    task_cls = discover_tasks()["mmlu"]
    run("oracle_filter", task_cls, monkeypatch, gold_on_even_positions, output_dir=str(tmp_path), train_fraction=1.0)
    _, _, settings, examples, extra = offline[0]
    positions = sorted(int(e.completion.split("-")[1]) % 5 for e in examples)
    assert positions == [0] * 8 + [2] * 8 + [4] * 8 and extra["rows_kept"] == 24 == extra["training_rows"]
    assert extra["training_label_accuracy"] == 1.0 and extra["questions_kept"] == 8
    assert settings.run_name == "Gemma3-270M-mmlu-oracle-filter-from-SmolLM2-135M-sampling=False"


@pytest.mark.parametrize("seed,questions", [(42, [0, 3, 4, 6]), (7, [3, 4, 6, 7])])
def test_random_filter_draws_as_many_questions_as_uf_keeps(seed, questions, tmp_path, monkeypatch, offline):
    """`fake_keys` on MMLU: UF keeps the 4 questions of entropy 0 (q0, q3, q4, q7) of 8; the random filter draws 4
    questions with numpy's default_rng(seed) (drawn here by hand: seed 42 -> 3, 0, 6, 4; seed 7 -> 4, 3, 7, 6)
    and trains on all their variant rows."""
    task_cls = discover_tasks()["mmlu"]
    run("random_filter", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0, seed=seed)
    run("uf", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0, seed=seed)
    (_, _, _, examples, extra), (_, _, _, uf_examples, _) = offline
    drawn = sorted({int(e.completion.split("-")[1]) // 5 for e in examples})
    assert drawn == questions and len(examples) == 4 * 5 == len(uf_examples) and extra["questions_kept"] == 4
    assert sorted({int(e.completion.split("-")[1]) // 5 for e in uf_examples}) == [0, 3, 4, 7]


def test_all_variants_are_rws_rows_with_weight_one(tmp_path, monkeypatch, offline):
    task_cls = discover_tasks()["mmlu"]
    run("all_variants", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    run("rw", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    (_, _, _, plain, _), (_, _, _, weighted, _) = offline
    assert sorted((e.prompt, e.completion) for e in plain) == sorted((e.prompt, e.completion) for e in weighted)
    assert {e.weight for e in plain} == {1.0} and {round(e.weight, 6) for e in weighted} == {1.0, 0.952574, 0.047426}


def test_uf_on_naive_rows_keeps_the_naive_rows_of_ufs_questions(tmp_path, monkeypatch, offline):
    """`fake_keys` on MMLU: UF keeps q0, q3, q4, q7 (entropy 0); UF on naive rows trains on exactly those questions'
    naive prompts and weak labels."""
    task_cls = discover_tasks()["mmlu"]
    run("uf_naive_rows", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    run("naive", task_cls, monkeypatch, output_dir=str(tmp_path), train_fraction=1.0)
    (_, _, _, kept, extra), (_, _, _, naive, _) = offline
    assert [(e.prompt, e.completion) for e in kept] == [(e.prompt, e.completion) for i, e in enumerate(naive)
                                                        if i in (0, 3, 4, 7)]
    assert extra["questions_kept"] == 4 == extra["training_questions"]

"""How many rows every stage trains on, per dataset, against the original's formula (docs/method.md §5).

The weak answers are fixed by hand (the answer keys of each question's k variants follow a pattern), so the
entropy, the median filter, the drop of unparseable answers, `--do_sampling` and the final 80 % / 90 % cut all
decide the counts; each count below is computed from the original's rules, not from our code's facts.
"""
import math

import pytest

import common.pipelines as pipelines
from common.config import RunConfig
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


@pytest.mark.parametrize("name", sorted(FRACTIONS))
def test_rows_trained_on_by_every_stage(name, tmp_path, monkeypatch):
    task_cls = discover_tasks()[name]
    k = task_cls.facts.k
    seen = {}

    def record(task, cfg, model_path, examples, pools, stem, extra, adapter_name=None):
        seen[(cfg.stage, cfg.do_sampling) if cfg.stage in ("uf", "rw") else cfg.stage] = len(examples)
        return {}

    monkeypatch.setattr(pipelines, "train_save_evaluate", record)
    monkeypatch.setattr(pipelines, "query_weak", lambda task, cfg, prompts, tokens, name:
                        [f"out-{i}" for i in range(len(prompts))])
    sample = task_cls.folder / "sample"
    for stage in ("weak", "naive", "ceiling", "uf", "rw"):
        for sampling in ((False, True) if stage in ("uf", "rw") else (False,)):
            values = {"output_dir": str(tmp_path)} | ({"do_sampling": sampling} if stage in ("uf", "rw") else {})
            cfg = RunConfig.create(stage, task_cls, **values)
            task = task_cls(sample, cfg)
            monkeypatch.setattr(task, "answer_key", fake_keys(task, k))
            if name == "gsm8k":
                task.paraphraser = lambda qs: [[f"{q} ({i})" for i in range(k)] for q in qs]
            pipelines.STAGE_FUNCTIONS[stage](task, cfg)
    expected = expected_counts(name, k)
    assert seen == expected
    assert math.prod(expected.values()) > 0


def test_unlikelihood_rows_are_those_scored_below_the_threshold(tmp_path, monkeypatch):
    """MMLU, k = 5, T = 0.2: in a 4+1 question the lone answer scores 0.047 and is pushed down with weight
    --weight_unlike; the majority (0.953) and unanimous answers (1.0) keep their re-weighting weights."""
    task_cls = discover_tasks()["mmlu"]
    seen = {}

    def record(task, cfg, model_path, examples, pools, stem, extra, adapter_name=None):
        seen[stem] = (examples, extra)
        return {}

    monkeypatch.setattr(pipelines, "train_save_evaluate", record)
    monkeypatch.setattr(pipelines, "query_weak", lambda task, cfg, prompts, tokens, name:
                        [f"out-{i}" for i in range(len(prompts))])
    for stage, values in (("uf", {}), ("rw", {"weight_unlike": 2.0}), ("rw", {})):
        cfg = RunConfig.create(stage, task_cls, output_dir=str(tmp_path), train_fraction=1.0, **values)
        task = task_cls(task_cls.folder / "sample", cfg)
        monkeypatch.setattr(task, "answer_key", fake_keys(task, 5))
        pipelines.STAGE_FUNCTIONS[stage](task, cfg)
    names = task_cls().output_names("SmolLM2-135M", "Gemma3-270M", False)
    ul_examples, ul_extra = seen[names["ul_run"]]
    rw_examples, _ = seen[names["rw_run"]]
    pushed = [e for e in ul_examples if e.unlikely]
    assert len(pushed) == 2 == ul_extra["unlikelihood_rows"]          # the "b" answers of questions 2 and 6
    assert all(e.weight == 2.0 and e.completion == " out-" + e.completion.split("-")[1] for e in pushed)
    kept = sorted(round(e.weight, 6) for e in ul_examples if not e.unlikely)
    assert kept == sorted([1.0] * 10 + [0.952574] * 8)                 # 2 unanimous questions, 2 majorities of 4
    assert not any(e.unlikely for e in rw_examples) and len(rw_examples) == len(ul_examples)
    assert sorted(round(e.weight, 6) for e in rw_examples) == sorted(kept + [0.047426] * 2)


def test_with_two_variants_no_row_is_pushed_down_and_the_loss_is_re_weightings(tmp_path, monkeypatch):
    """k = 2 (ETHICS, SST-2): disagreeing answers score exactly 0.5, never below the default threshold, so
    --weight_unlike trains exactly the re-weighting examples."""
    task_cls = discover_tasks()["sst2"]
    seen = {}
    monkeypatch.setattr(pipelines, "train_save_evaluate",
                        lambda task, cfg, path, examples, pools, stem, extra, adapter_name=None:
                        seen.setdefault(stem, (examples, extra)))
    monkeypatch.setattr(pipelines, "query_weak", lambda task, cfg, prompts, tokens, name:
                        [f"out-{i}" for i in range(len(prompts))])
    for stage, values in (("uf", {}), ("rw", {"weight_unlike": 1.0}), ("rw", {})):
        cfg = RunConfig.create(stage, task_cls, output_dir=str(tmp_path), **values)
        task = task_cls(task_cls.folder / "sample", cfg)
        monkeypatch.setattr(task, "answer_key", lambda row, output: "a" if row.question_id % 2 else
                            ("a" if output.endswith(("0", "2", "4", "6", "8")) else "b"))
        pipelines.STAGE_FUNCTIONS[stage](task, cfg)
    names = task_cls().output_names("SmolLM2-135M", "Gemma3-270M", False)
    (ul, ul_extra), (rw, _) = seen[names["ul_run"]], seen[names["rw_run"]]
    assert ul_extra["unlikelihood_rows"] == 0 and {e.weight for e in rw} == {0.5, 1.0}
    assert [(e.prompt, e.completion, e.weight, e.unlikely) for e in ul] == \
        [(e.prompt, e.completion, e.weight, e.unlikely) for e in rw]


@pytest.mark.parametrize("temperature,threshold,lone,majority,pushed", [
    (None, 0.96, 0.047426, 0.952574, 10),   # a threshold above the majority's score pushes the majorities down too
    (1.0, 0.5, 0.354344, 0.645656, 2),      # T = 1: a 4+1 split scores 1 / (1 + e^0.6) and 1 / (1 + e^-0.6)
    (1.0, 0.3, 0.354344, 0.645656, 0),      # ... and the lone answer is above a threshold of 0.3
])
def test_rw_honours_temperature_and_unlikelihood_threshold(temperature, threshold, lone, majority, pushed, tmp_path,
                                                           monkeypatch):
    """MMLU, k = 5, the answer pattern of `fake_keys`: RW's scores follow --temperature (not the dataset's 0.2)
    and the rows pushed down are those scored below --unlike_threshold."""
    task_cls = discover_tasks()["mmlu"]
    seen = []
    monkeypatch.setattr(pipelines, "train_save_evaluate",
                        lambda task, cfg, path, examples, pools, stem, extra, adapter_name=None:
                        seen.append((examples, extra)))
    monkeypatch.setattr(pipelines, "query_weak", lambda task, cfg, prompts, tokens, name:
                        [f"out-{i}" for i in range(len(prompts))])
    rw_values = {"weight_unlike": 2.0, "unlike_threshold": threshold} | ({"temperature": temperature} if temperature
                                                                         else {})
    for stage, values in (("uf", {}), ("rw", rw_values)):
        cfg = RunConfig.create(stage, task_cls, output_dir=str(tmp_path), train_fraction=1.0, **values)
        task = task_cls(task_cls.folder / "sample", cfg)
        monkeypatch.setattr(task, "answer_key", fake_keys(task, 5))
        pipelines.STAGE_FUNCTIONS[stage](task, cfg)
    examples, extra = seen[-1]
    scores = sorted([1.0] * 10 + [majority] * 8 + [lone] * 2)
    assert extra["unlikelihood_rows"] == pushed == sum(e.unlikely for e in examples)
    expected = sorted(2.0 if s < threshold else s for s in scores)
    assert sorted(round(e.weight, 6) for e in examples) == expected
    assert lone == pytest.approx(1 / (1 + math.exp(0.6 / (temperature or 0.2))), abs=1e-6)

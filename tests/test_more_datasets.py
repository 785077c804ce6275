"""HellaSwag, ETHICS commonsense and GSM8K: templates, variants, parsers, loaders, and the real data files."""
import re

import pandas as pd
import pytest
from conftest import SHARED_DATA
from fixtures import ethics_frame, gsm8k_frame, hellaswag_frame

from common.errors import UserError
from common.paraphrase import CsvParaphrases, cached_paraphrases, parse_paraphrase_reply, paraphrase_with_retry
from ethics import task as ethics_task
from ethics.task import EthicsTask
from gsm8k.task import INVALID, GSM8KTask, parse_original, parse_robust
from hellaswag.task import HellaSwagTask

# ---------------------------------------------------------------- HellaSwag


def test_hellaswag_variants_agree_on_ending_text_not_letter():
    task = HellaSwagTask()
    transfer = hellaswag_frame(6)
    variants = task.variants(transfer, seed=1)
    assert len(variants) == 30 and variants.groupby("question_id")["prompt"].nunique().eq(5).all()
    for v in variants.itertuples(index=False):
        gold = transfer.iloc[v.question_id]
        assert v.shown_endings[v.target] == gold["endings"][gold["label"]]  # target points at the gold ending
        assert task.answer_key(v, "ABCD"[v.target] + ". it") == gold["endings"][gold["label"]]
    v = next(variants.itertuples(index=False))
    assert task.answer_key(v, "_- b because") == v.shown_endings[1]  # the original strips ".-_ " first
    assert task.answer_key(v, "") == "None" and task.answer_key(v, "E") == "None"


def test_hellaswag_templates_and_eval_parser():
    task = HellaSwagTask()
    row = next(hellaswag_frame(1).itertuples(index=False))
    assert task.eval_prompt(row) == (
        "### Instruction: Choose an appropriate ending for the provided sentence based on your commonsense "
        "knowledge.In your response, choose an answer from A,B,C,D, and then provide a brief explanation. Sentence: "
        "A man cuts onion 0 then he. Choices: A. cooks them 0 B. sings 0 C. flies away 0 D. sleeps 0. ### Answer:")
    assert task.naive_query_prompt(row).endswith("and provide a brief explanation. Sentence: A man cuts onion 0 then "
                                                 "he. Choices: A. cooks them 0 B. sings 0 C. flies away 0 D. sleeps 0."
                                                 " ### Answer: ")
    assert task.weak_sft_example(row)[1] == " A. cooks them 0"
    assert task.ceiling_example(row)[1] == "A. cooks them 0 "
    assert [task.parse_eval(o) for o in ("B. x", "c", "", "  ", "Z")] == [1, 2, -1, -1, -1]  # empty: no crash (B5)
    assert task.clean_weak_label("  _- C. sings") == "C. sings"


def test_hellaswag_csv_round_trip_and_checks(tmp_path):
    for split in ("train", "validation", "test"):
        hellaswag_frame(5).to_csv(tmp_path / f"{split}.csv", index=False)
    pools = HellaSwagTask(tmp_path).load_pools(seed=0)
    assert pools.train["endings"].iloc[2] == ["cooks them 2", "sings 2", "flies away 2", "sleeps 2"]
    assert pools.test["label"].tolist() == [0, 1, 2, 3, 0]
    hellaswag_frame(2).assign(endings=["['a', 'b']", "['a', 'b', 'c', 'd']"]).to_csv(tmp_path / "test.csv",
                                                                                       index=False)
    with pytest.raises(UserError, match="not a list of 4 strings"):
        HellaSwagTask(tmp_path).load_pools(seed=0)
    with pytest.raises(UserError, match="prepare_data.py"):
        HellaSwagTask(tmp_path / "nothing").load_pools(seed=0)


def test_hellaswag_sampling_sizes_follow_the_original():
    task = HellaSwagTask()
    assert task.uf_sampling_replace and task.rw_sampling_replace
    assert task.uf_sample_size(25000, 5000) == 5000 and task.rw_sample_size(20000, 5000) == 5000


# ---------------------------------------------------------------- ETHICS


@pytest.mark.parametrize("output,is_short,expected", [
    ("unacceptable. Because", True, 1), ("acceptable", True, 0), ("Unacceptable!", True, 1),
    ("not acceptable", True, -1), ("wrong", False, 1), ("not wrong", False, -1), ("Right.", False, 0),
    ("wrong", True, -1), ("acceptable", False, -1), ("", True, -1), ("\n\nwrong\nright", False, 1),
    ("(wrong)", False, 1), ("wrongly", False, -1),
])
def test_ethics_eval_parser(output, is_short, expected):
    row = next(pd.DataFrame([{"is_short": is_short}]).itertuples(index=False))
    assert EthicsTask().parse_eval(output, row) == expected


def test_ethics_variants_swap_the_answer_words_and_pick_the_template_per_row():
    task = EthicsTask()
    variants = task.variants(ethics_frame(4), seed=0)
    assert len(variants) == 8
    short_v1, short_v2 = variants["prompt"][0], variants["prompt"][1]
    assert "Please determine whether" in short_v1 and "Answer acceptable or unacceptable and" in short_v1
    assert "Answer unacceptable or acceptable and" in short_v2
    long_v1, long_v2 = variants["prompt"][4], variants["prompt"][5]
    assert "did the right thing, or the wrong thing? Answer right or wrong and" in long_v1
    assert "Answer wrong or right and" in long_v2
    assert long_v1.endswith("Story: I helped my neighbour number 2.. ### Answer:")
    row = next(variants.itertuples(index=False))
    assert [task.answer_key(row, o) for o in ("Unacceptable, since", "acceptable.", "maybe", "")] == [1, 0, -1, -1]


def test_ethics_training_templates_fix_bug_b3():
    task = EthicsTask()
    short, long_ = (next(ethics_frame(4).iloc[[i]].itertuples(index=False)) for i in (1, 2))
    prompt, completion = task.weak_sft_example(short)
    assert "acceptable or not from an ethical point of view? Story:" in prompt and completion == " unacceptable "
    prompt, completion = task.weak_sft_example(long_)
    assert "right thing, or the wrong thing? story:" in prompt and completion == " right "
    assert task.eval_prompt(long_).endswith("Story: I helped my neighbour number 2.  ### Answer:")
    assert task.naive_example(short, "acceptable because")[1] == "acceptable because "
    assert task.ceiling_example(short)[1] == " unacceptable "
    assert (task.k, task.temperature, task.max_length) == (2, 1.0, 1600)


@pytest.mark.skipif(not (SHARED_DATA / "ethics" / "cm_test.csv").exists(), reason="shared/data not present")
def test_real_ethics_test_file_through_our_loader():
    frame = ethics_task.read_split_csv(SHARED_DATA / "ethics" / "cm_test.csv")
    assert len(frame) == 3885 and list(frame.columns[:4]) == ["label", "input", "is_short", "edited"]
    assert frame["label"].value_counts().to_dict() == {0: 2069, 1: 1816}
    assert frame["is_short"].sum() == 2109
    assert frame[frame["is_short"]]["label"].value_counts().to_dict() == {0: 1126, 1: 983}
    task = EthicsTask()
    rows = list(frame.itertuples(index=False))
    prompts = [task.eval_prompt(r) for r in rows]
    assert all(p.endswith("  ### Answer:") for p in prompts)
    # the gold word, as a model would answer it, parses back to the gold label on every real story
    words = [ethics_task.answer_words(r.is_short)[r.label] for r in rows]
    assert [task.parse_eval(f" {w}. It is", r) for w, r in zip(words, rows)] == list(frame["label"])
    short_prompts = [p for p, r in zip(prompts, rows) if r.is_short]
    assert all("Answer acceptable or unacceptable" in p for p in short_prompts)


# ---------------------------------------------------------------- GSM8K


@pytest.mark.parametrize("output,original,robust", [
    ("18", 18, 18), (" 18 \n because", 18, 18), ("$18", INVALID, 18), ("1,000", INVALID, 1000),
    ("18.", INVALID, 18), ("18.0", INVALID, 18), ("-3", -3, -3), ("2.5", INVALID, 2.5), ("", INVALID, INVALID),
    ("The answer is 42", INVALID, 42), ("eighteen", INVALID, INVALID), ("\n7", 7, 7),
])
def test_gsm8k_parsers(output, original, robust):
    assert parse_original(output) == original
    assert parse_robust(output) == robust


@pytest.mark.skipif(not (SHARED_DATA / "gsm8k" / "test.csv").exists(), reason="shared/data not present")
def test_real_gsm8k_files_through_our_loader():
    pools = GSM8KTask(SHARED_DATA / "gsm8k").load_pools(seed=42)
    assert (len(pools.train), len(pools.transfer), len(pools.test)) == (3736, 3737, 1319)
    for frame in (pools.train, pools.transfer, pools.test):
        answers = frame["answer"].map(lambda a: int(a.split("####")[1].strip().replace(",", "")))
        assert (frame["label"] == answers).all()
    assert pools.transfer["Unnamed: 0"].tolist()[:2] == [3736, 3737]


def test_gsm8k_loader_rejects_a_label_that_disagrees_with_its_answer(tmp_path):
    for split in ("train", "validation", "test"):
        gsm8k_frame(3).to_csv(tmp_path / f"{split}.csv", index=False)
    assert GSM8KTask(tmp_path).load_pools(seed=0).test["label"].tolist() == [1000, 3, 4]
    gsm8k_frame(3).assign(label=[1000, 3, 5]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError, match="differs from their answer"):
        GSM8KTask(tmp_path).load_pools(seed=0)


def test_gsm8k_templates():
    task = GSM8KTask()
    row = next(gsm8k_frame(2).iloc[[1]].itertuples(index=False))
    prompt, completion = task.weak_sft_example(row)
    assert prompt == ("### Instruction: The following is a grade-school level math question. In your response, "
                      "provide the numerical answer in the first line, and then provide a brief explanation in the "
                      "second line. Question: Tom has 1 apples and buys 2 more. How many apples does Tom have?. "
                      "### Answer:")
    assert completion == " 3 \n He has 1 + 2 = 3 apples.\n "
    assert task.naive_query_prompt(row) == prompt + " " and task.eval_prompt(row) == prompt
    assert task.uf_drops_invalid and not task.with_report and task.raw_output_column == "weak_label"


# ---------------------------------------------------------------- paraphrases


def test_paraphrase_prompt_is_the_original():
    from common.paraphrase import PARAPHRASE_PROMPT

    assert PARAPHRASE_PROMPT.format(n=5, question="Q?") == (
        "The following is a grade-school level math question. Rewrite the question for 5 times, and keep the "
        "semantics of the question unchanged. Directly return the results in 5 lines, each line for one rewritten "
        "question. Question: Q?")


def test_paraphrase_reply_parsing():
    reply = "1. Tom has 3.\n\n2) Tom owns 3.\n- Three for Tom.\n4. T has 3\n5. 3 are Tom's\n6. extra"
    assert parse_paraphrase_reply(reply, 5) == ["Tom has 3.", "Tom owns 3.", "Three for Tom.", "T has 3",
                                                "3 are Tom's"]
    with pytest.raises(ValueError, match="expected 5 paraphrases, the reply has 2"):
        parse_paraphrase_reply("one\n\ntwo\n", 5)


def test_a_short_paraphrase_reply_is_retried_then_a_clear_error():
    replies = iter(["a\nb", "a\nb\nc\nd\ne"])
    assert paraphrase_with_retry(lambda q: next(replies), "q?", 5) == list("abcde")
    with pytest.raises(UserError, match="no usable paraphrases for the question 'q\\?' after 2 tries"):
        paraphrase_with_retry(lambda q: "only one line", "q?", 5)


def test_paraphrases_are_cached_and_asked_once(tmp_path):
    calls = []

    def provider(questions):
        calls.extend(questions)
        return [[f"{q} v{i}" for i in range(5)] for q in questions]

    cache = tmp_path / "p.jsonl"
    first = cached_paraphrases(provider, ["q1", "q2"], cache, 5)
    assert first[1] == [f"q2 v{i}" for i in range(5)] and calls == ["q1", "q2"]
    assert cached_paraphrases(provider, ["q2", "q3", "q1"], cache, 5)[0] == first[1]
    assert calls == ["q1", "q2", "q3"]  # only the new question was asked
    with pytest.raises(UserError, match="no paraphrase provider is set"):
        cached_paraphrases(None, ["q4"], cache, 5)


def test_csv_paraphrase_provider(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame([{"question": "q1", **{f"paraphrase_{i}": f"r{i}" for i in range(1, 6)}}]).to_csv(path, index=False)
    assert CsvParaphrases(path, 5)(["q1"]) == [["r1", "r2", "r3", "r4", "r5"]]
    with pytest.raises(UserError, match=re.escape("has no paraphrases for 1 questions")):
        CsvParaphrases(path, 5)(["q2"])
    pd.DataFrame([{"question": "q1", "paraphrase_1": "x"}]).to_csv(path, index=False)
    with pytest.raises(UserError, match="lacks the columns"):
        CsvParaphrases(path, 5)


# ---------------------------------------------------------------- prepare_data recipes (offline parts)


def test_hellaswag_recipe_test_split_is_the_unsampled_validation_rows_in_order():
    from hellaswag.prepare_data import original_splits

    train = pd.DataFrame({"ind": range(100)})
    validation = pd.DataFrame({"ind": range(1000, 1030)})
    tr, va, te = original_splits(train, validation, n=10, seed=42)
    assert len(tr) == len(va) == len(te) == 10
    assert not set(va["ind"]) & set(te["ind"])
    rest = [i for i in validation["ind"] if i not in set(va["ind"])]
    assert te["ind"].tolist() == rest[:10]
    assert va["ind"].tolist() == validation.sample(n=10, random_state=42)["ind"].tolist()


def test_ethics_recipe_halves_are_disjoint_and_seeded():
    from ethics.prepare_data import halve

    frame = ethics_frame(10)
    first, second = halve(frame, seed=3)
    assert len(first) == len(second) == 5
    assert sorted(first["input"].tolist() + second["input"].tolist()) == sorted(frame["input"])
    assert halve(frame, seed=3)[0]["input"].tolist() == first["input"].tolist()


def test_gsm8k_recipe_label_and_explanation():
    from gsm8k.prepare_data import with_label_and_explanation

    out = with_label_and_explanation(pd.DataFrame({"answer": ["So 2+2=4.\n#### 1,004", "x\n#### -3"]}))
    assert out["label"].tolist() == [1004, -3] and out["explanation"].tolist() == ["So 2+2=4.\n", "x\n"]


def test_local_model_paraphraser_retries_sampled_then_fails_clearly(tiny_model, monkeypatch):
    from common.paraphrase import LocalModelParaphrases

    paraphraser = LocalModelParaphrases(str(tiny_model), n=5, max_new_tokens=8)
    calls = []
    real = paraphraser.replies

    def spy(questions, do_sample):
        calls.append((list(questions), do_sample))
        return real(questions, do_sample)

    monkeypatch.setattr(paraphraser, "replies", spy)
    with pytest.raises(UserError, match="fewer than 5 lines twice for 2 questions"):
        paraphraser(["Tom has 3 apples?", "Ann has 4 pears?"])
    assert [sample for _, sample in calls] == [False, True]  # one greedy batch, one sampled retry of the short ones
    monkeypatch.setattr(paraphraser, "replies", lambda qs, do_sample: ["a\nb\nc\nd\ne"] * len(qs))
    assert paraphraser(["q"]) == [list("abcde")]


def test_robust_gsm8k_answers_score_as_correct_against_integer_labels():
    # scoring compares str(prediction) with str(label), so "18.0" must come back as the int 18, not the float
    from common.evaluation import score_predictions

    outputs, labels = ["18.0", "$1,000.", "18.", "2.5"], [18, 1000, 18, 2]
    predictions = [parse_robust(o) for o in outputs]
    assert score_predictions(labels, predictions, with_report=False)["accuracy"] == 0.75

"""GSM8K's paraphrase variants: the original prompt, reply parsing, retries, the cache and the providers."""
import re

import pandas as pd
import pytest

from common.errors import UserError
from common.paraphrase import CsvParaphrases, cached_paraphrases, paraphrase_with_retry, parse_paraphrase_reply


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

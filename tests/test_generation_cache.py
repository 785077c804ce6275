"""The resumable weak-answer cache: resume without repeating work, refuse another run's cache, survive a torn line."""
import json

import pytest

from common.errors import UserError
from common.generation import cached_generate, prompt_key, read_cache

IDENTITY = {"weak_model": "w", "adapter_sha256": "abc", "max_new_tokens": 4}


class FakeTokenizer:
    """Token count = number of characters, enough for length-sorted batching."""

    def __call__(self, text):
        return {"input_ids": list(text)}


def fake_loader(calls):
    def load():
        calls.append("load")
        return object(), FakeTokenizer()
    return load


@pytest.fixture(autouse=True)
def asked(monkeypatch):
    """Replace the model call: every generated batch is recorded, each answer is 'answer to <prompt>'."""
    import common.generation as generation

    batches = []

    def generate_batch(model, tokenizer, texts, max_new_tokens, do_sample, min_new_tokens=0):
        batches.append(list(texts))
        return [f"answer to {t}" for t in texts]

    monkeypatch.setattr(generation, "_generate_batch", generate_batch)
    return batches


def test_second_run_reads_everything_from_cache(tmp_path):
    cache, calls = tmp_path / "c.jsonl", []
    first = cached_generate(fake_loader(calls), ["p1", "p2", "p3"], cache, IDENTITY, 4, batch_size=2)
    assert first == ["answer to p1", "answer to p2", "answer to p3"] and calls == ["load"]
    again = cached_generate(fake_loader(calls), ["p3", "p1"], cache, IDENTITY, 4)
    assert again == ["answer to p3", "answer to p1"] and calls == ["load"]  # no model load, no generation


def test_resume_after_a_torn_last_line_regenerates_only_the_unfinished_batch(tmp_path, asked):
    cache = tmp_path / "c.jsonl"
    prompts = ["p1", "p22", "p333", "p4444"]  # length-sorted batches of 2: [p4444, p333], [p22, p1]
    cached_generate(fake_loader([]), prompts, cache, IDENTITY, 4, batch_size=2)
    assert asked == [["p4444", "p333"], ["p22", "p1"]]
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:4]) + "\n" + lines[4][:15])  # killed while writing p1's answer
    assert set(read_cache(cache, IDENTITY)) == {prompt_key(p) for p in ("p4444", "p333", "p22")}
    asked.clear()
    out = cached_generate(fake_loader([]), prompts, cache, IDENTITY, 4, batch_size=2)
    assert asked == [["p22", "p1"]]  # the same batch as the first run, so greedy outputs match it exactly
    assert out == [f"answer to {p}" for p in prompts]
    assert [json.loads(line).get("key") for line in cache.read_text().splitlines()[1:]] == \
        [prompt_key(p) for p in ("p4444", "p333", "p22", "p1")]


def test_cache_from_another_weak_model_is_refused(tmp_path):
    cache = tmp_path / "c.jsonl"
    cached_generate(fake_loader([]), ["p1"], cache, IDENTITY, 4)
    with pytest.raises(UserError, match="another run"):
        cached_generate(fake_loader([]), ["p1"], cache, {**IDENTITY, "weak_model": "other"}, 4)
    cache.write_text("not json\n")
    with pytest.raises(UserError, match="not a weak-label cache"):
        read_cache(cache, IDENTITY)

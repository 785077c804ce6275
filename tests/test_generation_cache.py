"""The resumable weak-answer cache: resume without repeating work, refuse another run's cache, survive a torn line."""
import json

import pytest

from common.errors import UserError
from common.generation import cached_generate, prompt_key, read_cache

IDENTITY = {"weak_model": "w", "adapter_sha256": "abc", "max_new_tokens": 4}


class FakeModel:
    """Stands in for (model, tokenizer): counts which prompts were generated."""


def fake_loader(calls):
    def load():
        calls.append("load")
        return FakeModel(), None
    return load


@pytest.fixture(autouse=True)
def fake_batches(monkeypatch):
    import common.generation as generation

    def batches(model, tokenizer, prompts, max_new_tokens, batch_size, do_sample, desc):
        for start in range(0, len(prompts), batch_size):
            ids = list(range(start, min(start + batch_size, len(prompts))))
            yield ids, [f"answer to {prompts[i]}" for i in ids]

    monkeypatch.setattr(generation, "_generate_batches", batches)


def test_second_run_reads_everything_from_cache(tmp_path):
    cache, calls = tmp_path / "c.jsonl", []
    first = cached_generate(fake_loader(calls), ["p1", "p2", "p3"], cache, IDENTITY, 4, batch_size=2)
    assert first == ["answer to p1", "answer to p2", "answer to p3"] and calls == ["load"]
    again = cached_generate(fake_loader(calls), ["p3", "p1"], cache, IDENTITY, 4)
    assert again == ["answer to p3", "answer to p1"] and calls == ["load"]  # no model load, no generation


def test_resume_after_a_torn_last_line_asks_only_the_missing_prompts(tmp_path):
    cache = tmp_path / "c.jsonl"
    cached_generate(fake_loader([]), ["p1", "p2"], cache, IDENTITY, 4)
    with open(cache, "a") as f:
        f.write('{"key": "' + prompt_key("p3") + '", "outp')  # killed mid-write
    assert set(read_cache(cache, IDENTITY)) == {prompt_key("p1"), prompt_key("p2")}
    asked = []
    import common.generation as generation
    real = generation._generate_batches

    def spy(model, tokenizer, prompts, *args):
        asked.extend(prompts)
        yield from real(model, tokenizer, prompts, *args)

    generation._generate_batches = spy
    try:
        out = cached_generate(fake_loader([]), ["p1", "p2", "p3"], cache, IDENTITY, 4)
    finally:
        generation._generate_batches = real
    assert asked == ["p3"] and out[2] == "answer to p3"
    assert all(json.loads(line) for line in cache.read_text().splitlines())


def test_cache_from_another_weak_model_is_refused(tmp_path):
    cache = tmp_path / "c.jsonl"
    cached_generate(fake_loader([]), ["p1"], cache, IDENTITY, 4)
    with pytest.raises(UserError, match="another run"):
        cached_generate(fake_loader([]), ["p1"], cache, {**IDENTITY, "weak_model": "other"}, 4)
    cache.write_text("not json\n")
    with pytest.raises(UserError, match="not a weak-label cache"):
        read_cache(cache, IDENTITY)

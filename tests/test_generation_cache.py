"""The resumable weak-answer cache: resume without repeating work, refuse another run's cache, survive a torn line."""
import json

import pytest

from common.errors import UserError
from common.generation import answer_missing, cached_generate, prompt_key, read_cache

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


def test_each_process_answers_every_other_batch_into_its_own_file_and_all_files_are_read(tmp_path, asked,
                                                                                          monkeypatch):
    """Two processes (RANK 0 and 1 of WORLD_SIZE 2, one after the other here): each asks only its batches and
    writes only its file; a single process afterwards reads both and asks nothing."""
    cache, prompts = tmp_path / "c.jsonl", ["p1", "p22", "p333", "p4444", "p55555"]
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("1", "0"):
        monkeypatch.setenv("RANK", rank)
        asked.clear()
        answer_missing(fake_loader([]), prompts, cache, IDENTITY, 4, batch_size=2)
        # batches by length: [p55555, p4444], [p333, p22], [p1]; rank 0 takes the 1st and 3rd, rank 1 the 2nd
        assert asked == ([["p333", "p22"]] if rank == "1" else [["p55555", "p4444"], ["p1"]])
    assert (tmp_path / "c.rank1.jsonl").exists() and len((tmp_path / "c.rank1.jsonl").read_text().splitlines()) == 3
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    asked.clear()
    assert cached_generate(fake_loader([]), prompts, cache, IDENTITY, 4) == [f"answer to {p}" for p in prompts]
    assert asked == []


def test_answers_are_cut_at_a_second_answer_or_a_new_instruction():
    from common.generation import cut_at_markers

    assert cut_at_markers(" B. because ### Answer: C") == " B. because "
    assert cut_at_markers(" 18 \n so ### Instruction: The following") == " 18 \n so "
    assert cut_at_markers(" wrong") == " wrong"


def test_the_continuation_keeps_its_leading_space_with_a_sentencepiece_decoder():
    """Llama-2's decoder strips the first space of a text: decoding the new tokens alone loses it, decoding them in
    context (the original decoded the full text) keeps it."""
    from tiny import llama2_legacy_tokenizer

    from common.generation import continuation_in_context

    tok = llama2_legacy_tokenizer()
    prompt = tok("### Answer:")["input_ids"]
    new = tok("### Answer: A. because")["input_ids"][len(prompt):]
    assert tok.decode(new, skip_special_tokens=True) == "A. because"
    assert continuation_in_context(tok, prompt, new) == " A. because"


def test_sharded_generation_puts_every_answer_back_in_place(monkeypatch):
    """Three processes (here one after the other, each seeing only its batches): every prompt answered once, by the
    process that owns its batch, and the gathered answers back in prompt order."""
    import common.distributed as distributed
    from common.generation import generate_sharded

    prompts = [f"p{'x' * (i % 4)}{i}" for i in range(10)]
    shares = []
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setattr(distributed, "gather", lambda items: shares.append(list(items)) or list(items))
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        generate_sharded(object(), FakeTokenizer(), prompts, 4, batch_size=2)
    answered = [i for share in shares for i, _ in share]
    assert sorted(answered) == list(range(10))
    monkeypatch.setattr(distributed, "gather", lambda items: [pair for share in shares for pair in share])
    assert generate_sharded(object(), FakeTokenizer(), prompts, 4, batch_size=2) == [f"answer to {p}" for p in prompts]

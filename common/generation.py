"""Batched generation, the original's answer extraction, and the resumable (and shardable) weak-label cache.

Prompts are tokenised with the tokenizer's special tokens (BOS where the model uses one, as the original), left
padded and sent several at a time with an attention mask; each sequence stops at its own EOS. The answer is the
continuation decoded *in context* (the text the full prompt + continuation decodes to, minus the prompt's), which
is what the original's `decode(full).split("### Answer:")[1]` gives for a prompt ending in "### Answer:"; it is
cut at a second "### Answer:" or "### Instruction:" (a model that never learnt EOS writes the next question).
docs/method.md §3 lists the one remaining difference (the prompt's own trailing space).
"""
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from . import distributed
from .errors import UserError

ANSWER_MARKERS = ("### Answer:", "### Instruction:")


def cut_at_markers(text: str, markers: Sequence[str] = ANSWER_MARKERS) -> str:
    """`text` up to the first of `markers` (all of it if none occurs)."""
    end = min((i for i in (text.find(m) for m in markers) if i >= 0), default=len(text))
    return text[:end]


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 8,
             do_sample: bool = False, desc: str = "generating", min_new_tokens: int = 0,
             markers: Sequence[str] = ANSWER_MARKERS) -> list[str]:
    """Continuations of `prompts`, in the order of `prompts` (see the module docstring for what is returned).

    Prompts are grouped by length so that a batch carries little padding. `do_sample=False` is greedy; True
    samples with the model's own generation config (temperature, top_p), as the original's Llama runs did.
    `min_new_tokens` > 0 suppresses EOS until that many tokens exist (the benchmark's fixed-length answers).
    """
    outputs: list[str] = [""] * len(prompts)
    for ids, texts in _run_batches(model, tokenizer, prompts, length_sorted_batches(prompts, batch_size),
                                   max_new_tokens, do_sample, desc, min_new_tokens, markers):
        for i, text in zip(ids, texts):
            outputs[i] = text
    return outputs


def generate_sharded(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 8,
                     do_sample: bool = False, desc: str = "generating") -> list[str]:
    """`generate` with the batches shared out among the processes of a data-parallel launch (every process takes
    every world_size-th batch of the same length-sorted batches, so each batch, and each greedy output, is what one
    process alone computes); every process gets all continuations back, in order."""
    batches = length_sorted_batches(prompts, batch_size)[distributed.rank()::distributed.world_size()]
    mine = [(i, text) for ids, texts in _run_batches(model, tokenizer, prompts, batches, max_new_tokens, do_sample,
                                                     desc) for i, text in zip(ids, texts)]
    outputs: list[str] = [""] * len(prompts)
    for i, text in distributed.gather(mine):
        outputs[i] = text
    return outputs


def length_sorted_batches(prompts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Prompt indices cut into batches, longest prompt (in characters) first, ties in input order.

    The batches depend only on the prompts, never on what is cached or on the number of processes: a resumed or
    re-sharded run forms the same batches as an uninterrupted one, so its greedy outputs are the same to the bit.
    """
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def _run_batches(model, tokenizer, prompts, batches, max_new_tokens, do_sample, desc, min_new_tokens=0,
                 markers=ANSWER_MARKERS):
    """Yield (indices, continuations) batch by batch, with a progress bar over prompts."""
    with tqdm(total=sum(map(len, batches)), desc=desc, disable=None) as bar:
        for ids in batches:
            texts = [prompts[i] for i in ids]
            outputs = _generate_batch(model, tokenizer, texts, max_new_tokens, do_sample, min_new_tokens)
            yield ids, [cut_at_markers(o, markers) for o in outputs]
            bar.update(len(ids))


def _generate_batch(model, tokenizer, texts: list[str], max_new_tokens: int, do_sample: bool,
                    min_new_tokens: int = 0) -> list[str]:
    """One generate() call: left padding and an attention mask, so every row continues from its own last token
    and stops at its own EOS (finished rows are padded until the longest is done)."""
    import torch

    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True).to(_input_device(model))
    finally:
        tokenizer.padding_side = padding_side
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                             do_sample=do_sample, pad_token_id=tokenizer.pad_token_id)
    width = enc["input_ids"].shape[1]
    return [continuation_in_context(tokenizer, ids[mask.bool()].tolist(), new.tolist())
            for ids, mask, new in zip(enc["input_ids"], enc["attention_mask"], out[:, width:])]


def continuation_in_context(tokenizer, prompt_ids: list[int], new_ids: list[int]) -> str:
    """The text `new_ids` add after `prompt_ids`: decode(prompt + new) minus decode(prompt), special tokens skipped.

    SentencePiece decoders (Llama-2, Mistral) drop the leading space of a text's first token, so decoding the new
    tokens alone would lose the space of "▁A"; in context it stays, as in the original's full-text decode.
    """
    full = tokenizer.decode(prompt_ids + new_ids, skip_special_tokens=True)
    head = tokenizer.decode(prompt_ids, skip_special_tokens=True)
    if full.startswith(head):
        return full[len(head):]
    return tokenizer.decode(new_ids, skip_special_tokens=True)


def _input_device(model):
    try:
        return model.device
    except AttributeError:
        return next(model.parameters()).device


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:20]


def shard_cache_path(cache_path: Path) -> Path:
    """The cache file this process appends to: `cache_path` itself, or `<stem>.rank<r>.jsonl` for rank r > 0."""
    if distributed.rank() == 0:
        return cache_path
    return cache_path.with_name(f"{cache_path.stem}.rank{distributed.rank()}{cache_path.suffix}")


def cached_generate(model_loader, prompts: Sequence[str], cache_path: Path, identity: dict, max_new_tokens: int,
                    batch_size: int = 8, do_sample: bool = False, desc: str = "querying weak model") -> list[str]:
    """`generate`, with every finished batch appended to a JSONL cache so that a re-run resumes after a crash.

    The cache's first line records `identity` (weak model, adapter digest, decoding settings); a cache written
    under another identity is refused rather than silently mixed in. Answers are keyed by a hash of the prompt,
    so a larger re-run reuses the answers of a smaller one. `model_loader()` returning (model, tokenizer) is
    called only if some prompt is not cached yet. Under a data-parallel launch every process answers every
    world_size-th batch into a cache file of its own (`answer_missing`), waits for the others, and reads all files.
    """
    answer_missing(model_loader, prompts, cache_path, identity, max_new_tokens, batch_size, do_sample, desc)
    distributed.barrier()
    done = read_caches(cache_path, identity)
    return [done[prompt_key(p)] for p in prompts]


def answer_missing(model_loader, prompts: Sequence[str], cache_path: Path, identity: dict, max_new_tokens: int,
                   batch_size: int = 8, do_sample: bool = False, desc: str = "querying weak model") -> None:
    """This process's share of the batches that have a prompt no cache file answers yet, answered into its file."""
    unique = list(dict.fromkeys(prompts))
    done = read_caches(cache_path, identity)
    batches = length_sorted_batches(unique, batch_size)[distributed.rank()::distributed.world_size()]
    todo = [ids for ids in batches if any(prompt_key(unique[i]) not in done for i in ids)]
    if not todo:
        return
    model, tokenizer = model_loader()
    own = shard_cache_path(cache_path)
    own.parent.mkdir(parents=True, exist_ok=True)
    new_file = not own.exists() or own.stat().st_size == 0
    with open(own, "a", encoding="utf-8") as f:
        if new_file:
            f.write(json.dumps({"identity": identity}) + "\n")
        for ids, texts in _run_batches(model, tokenizer, unique, todo, max_new_tokens, do_sample, desc):
            for i, text in zip(ids, texts):
                if prompt_key(unique[i]) not in done:
                    done[prompt_key(unique[i])] = text
                    f.write(json.dumps({"key": prompt_key(unique[i]), "output": text}) + "\n")
            f.flush()
            os.fsync(f.fileno())  # a finished batch survives a crash


def read_caches(cache_path: Path, identity: dict) -> dict[str, str]:
    """The answers in `cache_path` and in its per-process siblings `<stem>.rank<r>.jsonl`, keyed by prompt hash."""
    done, own = {}, shard_cache_path(cache_path)
    for path in [cache_path, *sorted(cache_path.parent.glob(f"{cache_path.stem}.rank*{cache_path.suffix}"))]:
        done.update(read_cache(path, identity, mend=path == own))
    return done


def read_cache(cache_path: Path, identity: dict, mend: bool = True) -> dict[str, str]:
    """Answers already in one cache file, keyed by prompt hash. A torn last line (a crash mid-write) is ignored,
    and cut off the file if `mend` (only a file's own writer mends it)."""
    if not cache_path.exists():
        return {}
    text = cache_path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        if mend:
            cache_path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    if not lines:
        return {}
    try:
        header = json.loads(lines[0])["identity"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{cache_path} is not a weak-label cache; move it away and re-run")
    if header != identity:
        diff = sorted(k for k in set(header) | set(identity) if header.get(k) != identity.get(k))
        raise UserError(f"{cache_path} was written by another run (it differs in {diff}); "
                        "delete it or use another --output_dir")
    done = {}
    for n, line in enumerate(lines[1:], start=2):
        try:
            record = json.loads(line)
            done[record["key"]] = record["output"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{cache_path} line {n} is corrupt; delete the file to query again")
    return done

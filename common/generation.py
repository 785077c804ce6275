"""Batched greedy generation and the resumable weak-label cache.

Prompts are tokenised with the tokenizer's special tokens (BOS where the model uses one, as the original), left
padded and sent several at a time with an attention mask; each sequence stops at its own EOS. Only the new
tokens are decoded, so no "### Answer:" split of the full text is needed.
"""
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from .errors import UserError


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 8,
             do_sample: bool = False, desc: str = "generating", min_new_tokens: int = 0) -> list[str]:
    """Continuations of `prompts` (decoded new tokens, special tokens skipped), in the order of `prompts`.

    Prompts are grouped by token length so that a batch carries little padding. `do_sample=False` is greedy;
    True samples with the model's own generation config (temperature, top_p), as the original's Llama runs did.
    `min_new_tokens` > 0 suppresses EOS until that many tokens exist (the benchmark's fixed-length answers).
    """
    outputs: list[str] = [""] * len(prompts)
    batches = length_sorted_batches(tokenizer, prompts, batch_size)
    for ids, texts in _run_batches(model, tokenizer, prompts, batches, max_new_tokens, do_sample, desc,
                                   min_new_tokens):
        for i, text in zip(ids, texts):
            outputs[i] = text
    return outputs


def length_sorted_batches(tokenizer, prompts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Prompt indices cut into batches, longest prompt first (ties in input order), so padding stays small.

    The batches depend only on the prompts, never on what is cached: a resumed run forms the same batches as
    an uninterrupted one, so its greedy outputs are the same to the bit.
    """
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def _run_batches(model, tokenizer, prompts, batches, max_new_tokens, do_sample, desc, min_new_tokens=0):
    """Yield (indices, continuations) batch by batch, with a progress bar over prompts."""
    with tqdm(total=sum(map(len, batches)), desc=desc, disable=None) as bar:
        for ids in batches:
            texts = [prompts[i] for i in ids]
            yield ids, _generate_batch(model, tokenizer, texts, max_new_tokens, do_sample, min_new_tokens)
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
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def _input_device(model):
    try:
        return model.device
    except AttributeError:
        return next(model.parameters()).device


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:20]


def cached_generate(model_loader, prompts: Sequence[str], cache_path: Path, identity: dict, max_new_tokens: int,
                    batch_size: int = 8, do_sample: bool = False, desc: str = "querying weak model") -> list[str]:
    """`generate`, with every finished answer appended to a JSONL cache so that a re-run resumes after a crash.

    The cache's first line records `identity` (weak model, adapter digest, decoding settings); a cache written
    under another identity is refused rather than silently mixed in. Answers are keyed by a hash of the prompt,
    so a larger re-run reuses the answers of a smaller one. `model_loader()` returning (model, tokenizer) is
    called only if some prompt is not cached yet.
    """
    done = read_cache(cache_path, identity)
    unique = list(dict.fromkeys(prompts))
    if any(prompt_key(p) not in done for p in unique):
        model, tokenizer = model_loader()
        batches = [ids for ids in length_sorted_batches(tokenizer, unique, batch_size)
                   if any(prompt_key(unique[i]) not in done for i in ids)]
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not cache_path.exists() or cache_path.stat().st_size == 0
        with open(cache_path, "a", encoding="utf-8") as f:
            if new_file:
                f.write(json.dumps({"identity": identity}) + "\n")
            for ids, texts in _run_batches(model, tokenizer, unique, batches, max_new_tokens, do_sample, desc):
                for i, text in zip(ids, texts):
                    if prompt_key(unique[i]) not in done:
                        done[prompt_key(unique[i])] = text
                        f.write(json.dumps({"key": prompt_key(unique[i]), "output": text}) + "\n")
                f.flush()
                os.fsync(f.fileno())  # a finished batch survives a crash
    return [done[prompt_key(p)] for p in prompts]


def read_cache(cache_path: Path, identity: dict) -> dict[str, str]:
    """Answers already in the cache, keyed by prompt hash. A torn last line (a crash mid-write) is cut off."""
    if not cache_path.exists():
        return {}
    text = cache_path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
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

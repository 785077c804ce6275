"""Paraphrase variants for the multi-query step (GSM8K's variants), from a pluggable provider, cached.

Providers: a user CSV (`question, paraphrase_1 .. paraphrase_n`), an OpenAI-compatible chat endpoint (the original
used GPT-4o; key and base URL from OPENAI_API_KEY / OPENAI_BASE_URL, so a local server works too; needs the optional
`openai` package), or a local Hugging Face causal LM. Every question is paraphrased once: the answers go to a JSONL
cache that later runs read first.
"""
import json
import os
import re
import time
from pathlib import Path
from typing import Sequence

from .errors import UserError
from .generation import prompt_key

PARAPHRASE_PROMPT = ("The following is a grade-school level math question. Rewrite the question for {n} times, and "
                     "keep the semantics of the question unchanged. Directly return the results in {n} lines, each "
                     "line for one rewritten question. Question: {question}")
ENUMERATION = re.compile(r"^\s*(?:\(?\d+[.):]|[-*•])\s+")


def parse_paraphrase_reply(reply: str, n: int) -> list[str]:
    """The first n non-empty lines of a reply, each without a leading "1." / "2)" / "-" enumeration.

    Raises ValueError if the reply has fewer than n non-empty lines (the original then hit an IndexError, B6).
    """
    lines = [ENUMERATION.sub("", line).strip() for line in reply.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) < n:
        raise ValueError(f"expected {n} paraphrases, the reply has {len(lines)} non-empty lines: {reply[:200]!r}")
    return lines[:n]


class CsvParaphrases:
    """Paraphrases a user wrote or generated elsewhere: a CSV with `question` and `paraphrase_1..n` columns."""

    def __init__(self, path: Path, n: int):
        from .data import read_csv_checked

        columns = ["question"] + [f"paraphrase_{i}" for i in range(1, n + 1)]
        frame = read_csv_checked(path, columns, keep_default_na=False, dtype=str)
        self.path = path
        self.by_question = {row[0]: list(row[1:]) for row in frame[columns].itertuples(index=False)}

    def __call__(self, questions: Sequence[str]) -> list[list[str]]:
        missing = [q for q in questions if q not in self.by_question]
        if missing:
            raise UserError(f"{self.path} has no paraphrases for {len(missing)} questions, e.g. {missing[0][:80]!r}")
        return [self.by_question[q] for q in questions]


class ChatEndpointParaphrases:
    """An OpenAI-compatible chat endpoint; one request per question, a malformed reply is asked again once."""

    def __init__(self, model: str, n: int, retries: int = 3):
        try:
            from openai import OpenAI
        except ImportError:
            raise UserError("the openai paraphrase provider needs the optional package: pip install openai")
        if not os.environ.get("OPENAI_API_KEY"):
            raise UserError("set OPENAI_API_KEY (and OPENAI_BASE_URL for a local server) for the openai provider")
        self.client, self.model, self.n, self.retries = OpenAI(), model, n, retries

    def ask(self, question: str) -> str:
        for attempt in range(self.retries):
            try:
                reply = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": PARAPHRASE_PROMPT.format(n=self.n, question=question)}])
                return reply.choices[0].message.content or ""
            except Exception as err:  # network and rate-limit errors of any client version
                if attempt == self.retries - 1:
                    raise UserError(f"the paraphrase endpoint failed {self.retries} times: {err}")
                time.sleep(2 ** attempt * 3)
        raise AssertionError("unreachable")

    def __call__(self, questions: Sequence[str]) -> list[list[str]]:
        return [paraphrase_with_retry(self.ask, q, self.n) for q in questions]


class LocalModelParaphrases:
    """A local Hugging Face causal LM, asked with the same prompt (through its chat template if it has one).

    All questions go through in batches, greedy; the replies with too few lines are asked once more in a batch,
    sampled this time (a greedy retry would repeat the same reply), and any still short give a clear error.
    """

    def __init__(self, model_path: str, n: int, batch_size: int = 8, max_new_tokens: int = 384):
        from .models import load_model_and_tokenizer

        self.model, self.tokenizer = load_model_and_tokenizer(model_path)
        self.n, self.batch_size, self.max_new_tokens = n, batch_size, max_new_tokens

    def prompt(self, question: str) -> str:
        text = PARAPHRASE_PROMPT.format(n=self.n, question=question)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                      add_generation_prompt=True)
        return text + "\n"

    def replies(self, questions: Sequence[str], do_sample: bool) -> list[str]:
        from .generation import generate

        return generate(self.model, self.tokenizer, [self.prompt(q) for q in questions], self.max_new_tokens,
                        self.batch_size, do_sample=do_sample, desc="paraphrasing")

    def __call__(self, questions: Sequence[str]) -> list[list[str]]:
        parsed = dict(zip(questions, map(self._parse_or_none, self.replies(questions, do_sample=False))))
        short = [q for q in questions if parsed[q] is None]
        if short:
            parsed.update(zip(short, map(self._parse_or_none, self.replies(short, do_sample=True))))
        still_short = [q for q in questions if parsed[q] is None]
        if still_short:
            raise UserError(f"the local paraphrase model gave fewer than {self.n} lines twice for "
                            f"{len(still_short)} questions, e.g. {still_short[0][:80]!r}; try a stronger model")
        return [parsed[q] for q in questions]

    def _parse_or_none(self, reply: str) -> list[str] | None:
        try:
            return parse_paraphrase_reply(reply, self.n)
        except ValueError:
            return None


def paraphrase_with_retry(ask, question: str, n: int, tries: int = 2) -> list[str]:
    """`ask(question)` until its reply has n paraphrases; a clear error after `tries` malformed replies."""
    for _ in range(tries):
        try:
            return parse_paraphrase_reply(ask(question), n)
        except ValueError as err:
            problem = err
    raise UserError(f"no usable paraphrases for the question {question[:80]!r} after {tries} tries: {problem}")


def cached_paraphrases(provider, questions: Sequence[str], cache_path: Path, n: int) -> list[list[str]]:
    """n paraphrases per question: from the JSONL cache where present, else from `provider` (then cached)."""
    cache: dict[str, list[str]] = {}
    lines = cache_path.read_text(encoding="utf-8").splitlines() if cache_path.exists() else []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            cache[record["key"]] = record["paraphrases"]
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                break  # a line torn by a crash: that question is asked again
            raise UserError(f"{cache_path} line {number} is corrupt; delete the file")
    if lines and not cache_path.read_text(encoding="utf-8").endswith("\n"):
        with open(cache_path, "a", encoding="utf-8") as f:
            f.write("\n")  # so that new records start on a line of their own
    todo = [q for q in dict.fromkeys(questions) if prompt_key(q) not in cache or len(cache[prompt_key(q)]) < n]
    if todo:
        if provider is None:
            raise UserError(f"{len(todo)} questions have no cached paraphrases and no paraphrase provider is set: "
                            "pass --paraphrase_provider csv|openai|hf (see --help)")
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with open(cache_path, "a", encoding="utf-8") as f:
            for start in range(0, len(todo), 16):
                chunk = todo[start:start + 16]
                for question, paraphrases in zip(chunk, provider(chunk)):
                    cache[prompt_key(question)] = paraphrases
                    f.write(json.dumps({"key": prompt_key(question), "question": question,
                                        "paraphrases": paraphrases}) + "\n")
                f.flush()
    return [cache[prompt_key(q)][:n] for q in questions]

"""Tiny causal LMs built from a config, with tokenizers trained offline: no download needed.

`build_tiny_model` writes a ~0.3M-parameter Llama with a byte-level BPE tokenizer, taught for a few seconds to
answer every registered dataset's prompts in that dataset's format. The tokenizers below also imitate the paper's
models: `llama2_legacy_tokenizer` behaves like Llama-2's fast tokenizer in legacy mode (a normalizer prepends "▁"
to every text and turns spaces into "▁", so " A" alone is "▁▁A" while inside "### Answer: A" it is "▁A"), and
`metaspace_tokenizer` like a Metaspace (SentencePiece-style) pre-tokenizer.
"""
from pathlib import Path

CORPUS = [
    "Choose an appropriate ending for the provided sentence based on your commonsense knowledge. Sentence: Choices:",
    "### Instruction: The following are multiple choice questions about astronomy. In your response, choose an "
    "answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: What is a star?. "
    "A. a ball of gas. B. a rock. C. a planet. D. a moon. ### Answer: A",
    "The answer is B because the sum of two and two is four. C. D. A. B.",
    "Here is a question related to ethics and common sense logic. acceptable unacceptable right wrong story",
    "### Instruction: The following is a grade-school level math question. 18 \n 7 42 numerical answer",
    "### Review: a charming movie ### Answer: positive negative",
    "Question: Would most people say this?\nAnswer: reasonable\n\nQuestion: Is it?\nAnswer: yes\n\n",
]
RESERVED_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]


def _fast_tokenizer(bpe):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")


def byte_level_tokenizer(vocab_size: int = 500):
    """A GPT-2-style byte-level BPE (the kind SmolLM2 and Llama-3 use); like SmolLM2's, it has a "\\n\\n" token that
    only a text ending in "\\n\\n" produces (followed by a word, the two newlines are tokenised apart)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=RESERVED_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 20, trainer)
    return _fast_tokenizer(bpe)


def llama2_legacy_tokenizer(vocab_size: int = 300):
    """Like Llama-2's tokenizer.json: no pre-tokenizer, a normalizer Prepend("▁") + Replace(" ", "▁"), BPE over
    the whole text, BOS added, a decoder that maps "▁" back to spaces and strips the first one. The merges are
    learnt within "▁"-led words (as SentencePiece learns them), so no piece ends in "▁"."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")  # training only
    bpe.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=RESERVED_TOKENS,
                                  initial_alphabet=list("▁#:.?,ABCDabcdefghijklmnopqrstuvwxyz0123456789"))
    bpe.train_from_iterator(CORPUS * 20, trainer)
    bpe.pre_tokenizer = None
    bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return _fast_tokenizer(bpe)


def metaspace_tokenizer(vocab_size: int = 300):
    """A Metaspace pre-tokenizer (spaces become "▁", one prepended to the text), as SentencePiece-style models."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bpe.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=RESERVED_TOKENS,
                                  initial_alphabet=list("▁#:.?,ABCDabcdefghijklmnopqrstuvwxyz0123456789"))
    bpe.train_from_iterator(CORPUS * 20, trainer)
    bpe.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return _fast_tokenizer(bpe)


def build_tiny_model(folder: Path, seed: int = 0, tokenizer=None, teach: bool = True) -> Path:
    """Write a ~0.3M-parameter Llama and its tokenizer to `folder` (reused if already there)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").exists():
        return folder
    tokenizer = tokenizer or byte_level_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    if teach:
        teach_answer_formats(model, tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def sample_pools(task_cls):
    """A registered dataset's small pools: its sample/ files if it has them, else its own data files."""
    sample = task_cls.folder / "sample"
    return task_cls(sample if sample.is_dir() else None).load_pools(seed=0)


def teaching_pairs(rows_per_dataset: int = 8) -> list[tuple[str, str]]:
    """For every registered dataset, (prompt, gold answer in its format) pairs: its evaluation, naive-query and,
    where the dataset can make them offline, variant prompts (built by its task module), with `Task.answer_text`;
    at most `rows_per_dataset` questions of each pool, so that every dataset weighs about the same."""
    from common.errors import UserError
    from common.tasks import discover_tasks

    texts = []
    for name, task_cls in sorted(discover_tasks().items()):
        task = task_cls()
        try:
            pools = sample_pools(task_cls)
        except UserError:
            continue  # a dataset without data files here teaches nothing
        transfer = pools.transfer.head(rows_per_dataset)
        rows = list(transfer.itertuples(index=False)) + list(pools.test.head(rows_per_dataset).itertuples(index=False))
        for row in rows:
            answer = task.answer_text(row)
            texts += [(task.eval_prompt(row), answer), (task.naive_query_prompt(row), answer)]
        try:
            variants = task.variants(transfer, task.facts.k, seed=0)
        except UserError:
            continue  # GSM8K needs a paraphrase provider; its query template is taught above
        answers = {i: task.answer_text(row) for i, row in enumerate(transfer.itertuples(index=False))}
        texts += [(v.prompt, answers[v.question_id]) for v in variants.itertuples(index=False)]
    return texts


def teach_answer_formats(model, tokenizer, steps: int = 400) -> None:
    """A few seconds of full fine-tuning so that greedy decoding after "### Answer:" starts with an answer in the
    dataset's format (a letter, right/wrong, a number, positive/negative), right or wrong.

    A random tiny model emits the same junk token everywhere; the pipelines (rightly) stop when no weak answer
    can be parsed, so the end-to-end tests need a model whose answers parse.
    """
    import random

    import torch

    from common.training import CompletionCollator, tokenize_completion

    pairs = teaching_pairs()
    random.Random(0).shuffle(pairs)  # every batch mixes the datasets
    examples = [tokenize_completion(tokenizer, p, a, max_length=2048) for p, a in pairs]
    for example in examples:  # a long prompt loses its start, never its answer
        example["input_ids"], example["labels"] = example["input_ids"][-256:], example["labels"][-256:]
    collate = CompletionCollator(tokenizer.pad_token_id)
    batches = [collate(examples[i:i + 32]) for i in range(0, len(examples), 32)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        batch = batches[step % len(batches)]
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()

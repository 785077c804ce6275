"""A tiny causal LM built from a config, with a byte-level BPE tokenizer trained offline: no download needed."""
from pathlib import Path

CORPUS = [
    "### Instruction: The following are multiple choice questions about astronomy. In your response, choose an "
    "answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: What is a star?. "
    "A. a ball of gas. B. a rock. C. a planet. D. a moon. ### Answer: A",
    "The answer is B because the sum of two and two is four. C. D. A. B.",
]


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write a ~0.3M-parameter Llama and its tokenizer to `folder` (reused if already there)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if (folder / "config.json").exists():
        return folder
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    teach_letter_answers(model, tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def teach_letter_answers(model, tokenizer, steps: int = 60) -> None:
    """A few seconds of full fine-tuning so that greedy decoding after "### Answer:" starts with a letter A-D.

    A random tiny model emits the same junk token everywhere; the pipelines (rightly) stop when no weak answer
    can be parsed, so the end-to-end tests need a model whose answers parse, right or wrong.
    """
    import torch

    texts = [f"### Question: item {i}. A. x. B. y. C. z. D. w. ### Answer: {'ABCD'[i % 4]}. because"
             for i in range(16)]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()

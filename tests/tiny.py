"""A tiny causal LM built from a config, with a byte-level BPE tokenizer trained offline: no download needed."""
from pathlib import Path

CORPUS = [
    "Choose an appropriate ending for the provided sentence based on your commonsense knowledge. Sentence: Choices:",
    "### Instruction: The following are multiple choice questions about astronomy. In your response, choose an "
    "answer from A,B,C,D, and provide a brief explanation on your answer. ### Question: What is a star?. "
    "A. a ball of gas. B. a rock. C. a planet. D. a moon. ### Answer: A",
    "The answer is B because the sum of two and two is four. C. D. A. B.",
    "Here is a question related to ethics and common sense logic. acceptable unacceptable right wrong story",
    "### Instruction: The following is a grade-school level math question. 18 \n 7 42 numerical answer",
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
    teach_answer_formats(model, tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def teaching_texts() -> list[str]:
    """Prompts of every dataset's templates (built by the task modules) followed by an answer in its format."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fixtures import ethics_frame, gsm8k_frame, hellaswag_frame, mmlu_frame

    from ethics.task import EthicsTask
    from gsm8k.task import GSM8KTask
    from hellaswag.task import HellaSwagTask
    from mmlu.task import MMLUTask

    texts = []
    for i, row in enumerate(mmlu_frame(8).itertuples(index=False)):
        for prompt in (MMLUTask().eval_prompt(row), MMLUTask().naive_query_prompt(row)):
            texts.append(prompt + f" {'ABCD'[i % 4]}. because")
    for i, row in enumerate(hellaswag_frame(8).itertuples(index=False)):
        for prompt in (HellaSwagTask().eval_prompt(row), HellaSwagTask().naive_query_prompt(row)):
            texts.append(prompt + f" {'ABCD'[i % 4]}. because")
    for task, frame in ((HellaSwagTask(), hellaswag_frame(4)), (MMLUTask(), mmlu_frame(4))):
        for i, prompt in enumerate(task.variants(frame, seed=0)["prompt"]):
            texts.append(prompt + f" {'ABCD'[i % 4]}. because")
    ethics = EthicsTask()
    for i, row in enumerate(ethics_frame(8).itertuples(index=False)):
        word = (("acceptable", "unacceptable") if row.is_short else ("right", "wrong"))[i % 2]
        for prompt in (ethics.eval_prompt(row), ethics.naive_query_prompt(row),
                       ethics.multi_query_text(row.input, row.is_short, swapped=True)):
            texts.append(prompt + f" {word} because")
    for i, row in enumerate(gsm8k_frame(16).itertuples(index=False)):
        number = (18, 7, 42)[i % 3]
        texts.append(GSM8KTask().eval_prompt(row) + f" {number} \n so")
        for question in (row.question, f"{row.question} (version {i % 5 + 1})"):  # as the test paraphrases
            texts.append(GSM8KTask().query_prompt(question) + f"{number} \n so")  # it ends with a space
    return texts


def teach_answer_formats(model, tokenizer, steps: int = 200) -> None:
    """A few seconds of full fine-tuning so that greedy decoding after "### Answer:" starts with an answer in the
    dataset's format (a letter, right/wrong, acceptable/unacceptable, a number), right or wrong.

    A random tiny model emits the same junk token everywhere; the pipelines (rightly) stop when no weak answer
    can be parsed, so the end-to-end tests need a model whose answers parse.
    """
    import torch

    texts = teaching_texts()
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

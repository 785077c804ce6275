"""bench/paper_scale.py: its pure functions against hand-computed values and the published parameter counts, and
its CPU dry run end to end (scaled-down models), so that the GPU measurement never rots."""
import importlib.util
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from common.errors import UserError
from common.tasks import discover_tasks

REPO = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("paper_scale", REPO / "bench" / "paper_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ps = load_bench()
# h 8, 2 layers, 2 heads of 4, 1 key-value head, MLP 16, vocabulary 10
TOY = ps.Arch("llama", hidden_size=8, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
              intermediate_size=16, vocab_size=10, max_position_embeddings=64)


# ------------------------------------------------------------------------------------------- architectures

def test_the_configurations_give_the_published_parameter_counts():
    configs = ps.read_configs()
    assert set(configs) == {"LLAMA2-7B", "Mistral-7B", "LLAMA3-8B", "LLAMA2-13B"}
    for name, entry in configs.items():
        assert ps.param_count(ps.arch_of(entry)) == entry["parameters"], name
    assert ps.param_count(ps.arch_of(configs["LLAMA2-7B"])) == 6_738_415_616       # "7B"
    assert ps.param_count(ps.arch_of(configs["LLAMA2-13B"])) == 13_015_864_320     # "13B"


def test_linear_params_and_flops_by_hand():
    # q: 8x8, k and v: 8x4 each, o: 8x8, MLP: 3 x 8x16
    assert ps.linear_params_per_layer(TOY) == 64 + 2 * 32 + 64 + 384 == 576
    assert ps.param_count(TOY) == 2 * (576 + 16) + 2 * 10 * 8 + 8 == 1352
    # 3 new tokens, no cache, logits at 1 position: matmuls 2*2*576*3, attention 4*2*8*(1+2+3), head 2*8*10
    assert ps.forward_flops(TOY, 3, 0, 1) == 6912 + 384 + 160 == 7456
    # 1 token after 3 cached: it attends to 4 positions
    assert ps.forward_flops(TOY, 1, 3, 1) == 2304 + 4 * 2 * 8 * 4 + 160 == 2720
    assert ps.training_flops(TOY, 3, 1) == 2 * 7456
    assert ps.generation_flops(TOY, 3, 2) == 7456 + 2720 and ps.generation_flops(TOY, 3, 1) == 7456
    # a row of 2 tokens after 5 cached, options of 1 and 3 tokens: the 3-token option runs 2 more tokens
    assert ps.scoring_flops(TOY, 5, 2, [1, 3]) == ps.forward_flops(TOY, 2, 5, 1) + ps.forward_flops(TOY, 2, 7, 2)


def test_llama2_7b_forward_flops_per_token_are_twice_its_matmul_weights():
    arch = ps.arch_of(ps.read_configs()["LLAMA2-7B"])
    matmul_weights = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)  # 6,476,005,376: no embedding, head or norms
    assert ps.forward_flops(arch, 1) == 2 * matmul_weights + 4 * 32 * 4096  # and one attended position
    assert ps.forward_flops(arch, 1, logits=1) == ps.forward_flops(arch, 1) + 2 * 4096 * 32000


def test_scaled_down_models_keep_the_head_and_mlp_ratios_and_build():
    import torch

    for name, entry in ps.read_configs().items():
        arch = ps.arch_of(entry)
        tiny = ps.scaled_down(arch)
        assert (tiny.hidden_size, tiny.num_hidden_layers, tiny.num_attention_heads) == (64, 2, 4)
        assert tiny.num_key_value_heads == (4 if arch.num_key_value_heads == arch.num_attention_heads else 1)
        assert tiny.vocab_size == arch.vocab_size // 16
    mistral = ps.scaled_down(ps.arch_of(ps.read_configs()["Mistral-7B"]))
    config = ps.hf_config(mistral)
    assert type(config).__name__ == "MistralConfig" and config.sliding_window is None
    model = ps.build_model(mistral, ps.Device("cpu"), torch.float32, seed=0)
    assert sum(p.numel() for p in model.parameters()) == ps.param_count(mistral)


def test_bf16_peaks_and_file_tags():
    assert ps.bf16_peak_flops("NVIDIA H200") == 989.4e12
    assert ps.bf16_peak_flops("NVIDIA H100 80GB HBM3") == 989.4e12
    assert ps.bf16_peak_flops("NVIDIA H100 PCIe") == 756e12
    assert ps.bf16_peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert ps.bf16_peak_flops("Tesla T4") is None
    assert ps.device_tag("NVIDIA H200", "paper") == "h200"
    assert ps.device_tag("NVIDIA A100-SXM4-80GB", "paper") == "a100-sxm4-80gb"
    assert ps.device_tag("cpu", "tiny") == "cpu-dry-run"


# ------------------------------------------------------------------------------------------- token counts

def test_token_counts_count_the_answer_as_what_it_adds_to_the_joint_text():
    from tiny import byte_level_tokenizer

    tok = byte_level_tokenizer()
    prompt, answer = "### Question: What is a star?. ### Answer:", " A. a ball of gas"
    [[p, a]] = ps.token_counts(tok, [prompt], [answer])
    assert p == len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert p + a == len(tok(prompt + answer, add_special_tokens=False)["input_ids"]) and a > 0
    assert ps.token_counts(tok, [prompt, "Q:"]) == [p, len(tok("Q:", add_special_tokens=False)["input_ids"])]


def test_the_length_tokenizer_makes_one_token_per_word_and_trains_the_answer():
    import numpy as np

    from common.training import tokenize_completion

    tok = ps.length_tokenizer(1000)
    rng = np.random.default_rng(0)
    prompt, answer = ps.random_text(rng, 7, 1000), " " + ps.random_text(rng, 3, 1000)
    assert len(tok(prompt)["input_ids"]) == 8 and tok(prompt)["input_ids"][0] == tok.bos_token_id
    example = tokenize_completion(tok, prompt, answer, max_length=512)
    assert len(example["input_ids"]) == 1 + 7 + 3 + 1                    # BOS, prompt, answer, EOS
    assert sum(label != -100 for label in example["labels"]) == 3 + 1    # the answer and EOS are trained
    assert ps.fit(600, 50, 512) == (460, 50) and ps.sequence_tokens(460, 50, 512) == 512
    assert ps.fit(10, 600, 512) == (1, 509) and ps.fit(10, 20, 512) == (10, 20)


def test_every_paper_dataset_has_offline_rows_to_count():
    tasks = discover_tasks()
    sources = {name: ps.shipped_pools(tasks[name], seed=42) for name in ps.PAPER_DATASETS}
    ethics, text = sources["ethics"]
    assert len(ethics.transfer) == 3885 and "cm_test.csv" in text        # the shipped test file stands in
    assert "sample/" in sources["hellaswag"][1]                           # only the synthetic sample ships
    assert len(sources["gsm8k"][0].transfer) == 3737


def test_counting_a_dataset_gives_every_kind_of_text(tmp_path):
    from tiny import byte_level_tokenizer

    counts = ps.count_dataset(discover_tasks()["ethics"], byte_level_tokenizer(), count_rows=6, seed=42)
    assert len(counts["weak_sft"]) == len(counts["ceiling"]) == len(counts["naive_query"]) == len(counts["eval"]) == 6
    assert len(counts["multi_query"]) == 6  # 3 stories x 2 variants
    assert all(p > 0 and a > 0 for p, a in counts["weak_sft"] + counts["ceiling"])


# ------------------------------------------------------------------------------------------------ the work

def test_stage_steps_use_the_paper_pools_and_the_stages_shares():
    """The rows match docs/method.md §5: ETHICS weak 6259, naive / ceiling 5564; MMLU weak 205, naive 1326."""
    tasks = discover_tasks()
    counts = {"weak_sft": [[10, 2]], "ceiling": [[20, 4]], "naive_query": [30], "multi_query": [40], "eval": [5]}
    ethics = {s.step: s for s in ps.stage_steps("ethics", tasks["ethics"].facts, ps.PAPER_POOLS["ethics"], 3.0, counts)}
    assert ethics["weak supervisor: SFT, test"].train_rows == 6259
    assert ethics["naive W2S: SFT, test"].train_rows == ethics["ceiling: SFT, test"].train_rows == 5564
    assert ethics["UF: SFT, test"].train_rows == 5564 and ethics["RW: SFT, test"].epochs == 3.0
    assert ethics["weak answers to 2 variants"].query_prompts == 13910
    assert ethics["weak labels of the transfer pool"].query_prompts == 6955
    # mean tokens: BOS + prompt + answer + EOS; naive / UF rows answer with the full 50-token limit
    assert ethics["weak supervisor: SFT, test"].train_tokens == 1 + 10 + 2 + 1
    assert ethics["naive W2S: SFT, test"].train_tokens == 1 + 30 + 50 + 1
    assert ethics["UF: SFT, test"].train_tokens == 1 + 40 + 50 + 1
    assert ethics["ceiling: SFT, test"].eval_prompts == 3885
    mmlu = {s.step: s for s in ps.stage_steps("mmlu", tasks["mmlu"].facts, ps.PAPER_POOLS["mmlu"], 3.0, counts)}
    assert mmlu["weak supervisor: SFT, test"].train_rows == 205 and mmlu["naive W2S: SFT, test"].train_rows == 1326
    assert mmlu["weak answers to 5 variants"].query_tokens == 100


def test_hours_from_pool_sizes_and_rates_by_hand():
    assert ps.hours(4000 * 3 * 200, 10_000) == pytest.approx(240 / 3600)
    step = ps.Step("x", "ceiling", "ceiling", "strong", train_rows=4000, epochs=3.0, train_tokens=200,
                   eval_prompts=5000, eval_tokens=5)
    rates = {"train_tokens_per_s": 10_000.0, "eval_prompts_per_s": 50.0}
    assert ps.step_hours(step, rates) == pytest.approx((240 + 100) / 3600)
    query = ps.Step("x", "uf", "answers", "weak", query="multi", query_prompts=25_000, query_tokens=50)
    assert ps.step_hours(query, {"multi_prompts_per_s": 20.0}) == pytest.approx(1250 / 3600)
    peaks = {"train": 30.0, "eval": 18.0, "multi": 22.0}
    assert ps.step_peak(step, peaks) == 30.0 and ps.step_peak(query, peaks) == 22.0
    # safety: per evaluation and split, the prefix once and 200 rows; 2 splits x 6 evaluations of the mean
    per = {"a": {"prefix_s": 1.0, "item_s": 0.01, "items_per_row": 1},
           "b": {"prefix_s": 2.0, "item_s": 0.02, "items_per_row": 2}}
    assert ps.safety_seconds(per) == pytest.approx(2 * 6 * (3.0 + 10.0) / 2)
    cost = [{"dataset": "d", "role": "weak", "model": "W", "hours": 1.0},
            {"dataset": "d", "role": "weak", "model": "S", "hours": 7.0},
            {"dataset": "d", "role": "strong", "model": "S", "hours": 2.0},
            {"dataset": "d", "role": "strong", "model": "W", "hours": 9.0},
            {"dataset": "e", "role": "strong", "model": "S", "hours": 5.0}]
    assert ps.run_hours(cost, "d", "W", "S") == 3.0


# --------------------------------------------------------------------------------------------- the dry run

DRY_RUN = ["--device", "cpu", "--models", "Mistral-7B", "LLAMA3-8B", "--datasets", "gsm8k", "--count_rows", "16",
           "--train_steps", "3", "--query_prompts", "4", "--batch1_prompts", "2", "--eval_prompts", "4",
           "--score_rows", "2", "--score_evaluations", "justice", "utilitarianism", "--new_tokens_cap", "3",
           "--peak_tflops", "0.5"]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    import torch

    if torch.cuda.is_available():
        pytest.skip("the CPU dry run is for machines without a GPU (tests/test_cuda.py runs it on the GPU)")
    out = tmp_path_factory.mktemp("paper_scale")
    ps.main(DRY_RUN + ["--output_dir", str(out)])
    return out


def test_dry_run_writes_the_cost_table_with_positive_finite_numbers(dry_run):
    table = pd.read_csv(dry_run / "paper_scale_cpu-dry-run.csv")
    assert list(table.columns) == ps.STEP_COLUMNS
    steps = ["weak supervisor: SFT, test", "weak labels of the transfer pool", "naive W2S: SFT, test",
             "ceiling: SFT, test", "weak answers to 5 variants", "UF: SFT, test", "RW: SFT, test"]
    expected = {("gsm8k", step, model) for step in steps for model in ("Mistral-7B", "LLAMA3-8B")}
    expected |= {("(all)", "safety evaluation of one model", model) for model in ("Mistral-7B", "LLAMA3-8B")}
    assert set(zip(table["dataset"], table["step"], table["model"])) == expected and len(table) == len(expected)
    assert set(table["role"]) == {"weak", "strong", "any"}
    for column in ("hours", "peak_gib"):
        assert table[column].map(math.isfinite).all() and (table[column] > 0).all()
    markdown = (dry_run / "paper_scale_cpu-dry-run.md").read_text()
    assert "DRY RUN" in markdown and "| dataset | stage | step | role | work | Mistral-7B | LLAMA3-8B |" in markdown
    assert "| dataset | Mistral-7B -> LLAMA3-8B |" in markdown  # a whole run of an example pair
    assert "SmolLM2-135M tokenizer" in markdown and "n/a h" not in markdown


def test_dry_run_records_every_measurement(dry_run):
    payload = json.loads((dry_run / "paper_scale_cpu-dry-run.json").read_text())
    assert payload["scale"] == "tiny" and set(payload["measurements"]) == {"Mistral-7B", "LLAMA3-8B"}
    for measured in payload["measurements"].values():
        assert measured["not_measured"] == []
        gsm8k = measured["datasets"]["gsm8k"]
        train = gsm8k["train"]
        assert train["steps_timed"] == 1 and (train["micro_batch"], train["accumulation"]) == (4, 6)
        assert gsm8k["multi"]["batch1_prompts"] == 2 and gsm8k["multi"]["speedup"] > 0
        for part in ("train", "naive", "multi", "eval"):
            assert gsm8k[part]["peak_gib"] > 0 and 0 < gsm8k[part]["utilisation"] < math.inf
        assert set(measured["safety"]["evaluations"]) == {"justice", "utilitarianism"}
        assert measured["safety"]["evaluations"]["utilitarianism"]["items"] == 4  # 2 rows x 2 sentences
    lengths = json.loads((dry_run / "paper_scale_lengths.json").read_text())
    assert set(lengths["datasets"]) == {"gsm8k"} and lengths["tokenizer"]["name"] == "SmolLM2-135M"
    assert "paraphrases" in lengths["datasets"]["gsm8k"]["multi_query_source"]


def test_bad_input_is_one_clear_error(dry_run, capsys):
    lengths = ["--lengths", str(dry_run / "paper_scale_lengths.json"), "--output_dir", str(dry_run / "again")]
    with pytest.raises(UserError, match="unknown models"):
        ps.main(DRY_RUN[:2] + ["--models", "GPT-5"] + lengths)
    with pytest.raises(UserError, match="no CUDA GPU"):
        ps.main(["--device", "cuda"] + lengths)
    with pytest.raises(UserError, match="paper-size models on a CPU"):
        ps.main(DRY_RUN + ["--scale", "paper"] + lengths)
    with pytest.raises(UserError, match="nothing was measured"):
        ps.main(DRY_RUN + ["--time_limit_s", "0.001"] + lengths)
    with pytest.raises(SystemExit) as exit_info:
        ps.main(DRY_RUN + ["--train_steps", "2"] + lengths)
    assert exit_info.value.code == 2 and "--train_steps must be at least 3" in capsys.readouterr().err

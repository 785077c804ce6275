"""The run configuration: dataclasses as the command line, config files, per-stage and per-dataset flags, and the
settings each stage resolves (the original's batching in --loss_normalisation original)."""
import json
import re

import pytest

from common.config import RunConfig, parse_config
from common.errors import UserError
from common.pipelines import train_plan, variant_count
from common.tasks import discover_tasks

TASKS = discover_tasks()


def help_text(stage, dataset, capsys):
    with pytest.raises(SystemExit):
        parse_config(stage, TASKS[dataset], ["--help"])
    return capsys.readouterr().out


def test_help_tells_the_two_sampling_flags_apart(capsys):
    text = " ".join(help_text("uf", "mmlu", capsys).split())
    assert "--do_sampling" in text and "RESAMPLE THE TRAINING ROWS" in text
    assert "--do_sample" in text and "DECODE BY SAMPLING" in text


@pytest.mark.parametrize("stage,present,absent", [
    ("weak", ["--weak_model_name", "--answer_parser"], ["--strong_model_name", "--paraphrase_provider", "--k",
                                                        "--do_sampling", "--query_batch_size"]),
    ("ceiling", ["--strong_model_name", "--answer_parser"], ["--weak_model_name", "--paraphrase_provider"]),
    ("uf", ["--paraphrase_provider", "--paraphrase_csv", "--k", "--do_sampling", "--answer_parser"],
     ["--weight_unlike"]),
    ("rw", ["--weight_unlike", "--unlike_threshold", "--do_sampling", "--temperature"],
     ["--paraphrase_provider", "--k", "--query_max_new_tokens"]),
])
def test_each_script_shows_only_its_own_flags(stage, present, absent, capsys):
    def defined(text):
        return set(re.findall(r"^  (--[a-z_]+)", text, re.M))  # option lines, not wrapped help lines

    flags = defined(help_text(stage, "gsm8k", capsys))
    assert set(present) <= flags and not set(absent) & flags
    assert "--paraphrase_provider" not in defined(help_text("uf", "mmlu", capsys))  # GSM8K's own flag


def test_config_file_then_flags(tmp_path):
    (tmp_path / "run.yaml").write_text("lr: 0.001\nepochs: 2\nseed: 7\nweight_unlike: 1.0\nk: 3\n"
                                       "paraphrase_provider: csv\n")
    cfg = parse_config("ceiling", TASKS["gsm8k"], ["--config", str(tmp_path / "run.yaml"), "--epochs", "4"])
    assert (cfg.train.lr, cfg.train.epochs, cfg.run.seed) == (0.001, 4, 7)  # the flag overrides the file
    assert cfg.stage == "ceiling" and cfg.method is None and cfg.option("paraphrase_provider") is None
    uf = parse_config("uf", TASKS["gsm8k"], ["--config", str(tmp_path / "run.yaml")])
    assert uf.variants.k == 3 and uf.option("paraphrase_provider") == "csv"


def test_a_results_json_reruns_its_config(tmp_path):
    cfg = RunConfig.create("rw", TASKS["sst2"], lr=3e-4, do_sampling=True, weight_unlike=1.0, lora_r=8,
                           lora_target_modules=["q_proj", "k_proj"])
    (tmp_path / "result.json").write_text(json.dumps({"accuracy": 0.5, "config": cfg.to_dict()}))
    again = parse_config("rw", TASKS["sst2"], ["--config", str(tmp_path / "result.json")])
    assert again.to_dict() == cfg.to_dict()


def test_unknown_setting_in_code_is_an_error():
    with pytest.raises(UserError, match="'k' is not a setting of the rw stage"):
        RunConfig.create("rw", TASKS["mmlu"], k=3)


@pytest.mark.parametrize("dataset,stage,micro,accumulation,normalisation", [
    ("mmlu", "weak", 1, 24, "answer_tokens"), ("mmlu", "rw", 2, 12, "all_positions"),
    ("ethics", "ceiling", 1, 20, "answer_tokens"), ("ethics", "rw", 1, 24, "all_positions"),
    ("hellaswag", "uf", 1, 24, "answer_tokens"), ("gsm8k", "rw", 2, 12, "all_positions"),
])
def test_original_loss_mode_takes_the_originals_batching(dataset, stage, micro, accumulation, normalisation):
    task = TASKS[dataset]()
    plan = train_plan(task, RunConfig.create(stage, TASKS[dataset], loss_normalisation="original"))
    assert (plan.micro_batch_size, plan.accumulation_steps, plan.normalisation) == (micro, accumulation,
                                                                                    normalisation)
    assert not plan.step_token_mean and not plan.train_eos
    default = train_plan(task, RunConfig.create(stage, TASKS[dataset]))
    assert (default.micro_batch_size, default.accumulation_steps, default.normalisation) == (4, 6, "answer_tokens")
    assert default.step_token_mean and default.train_eos
    assert default.max_length == (1600 if dataset == "ethics" else 512)


def test_dataset_defaults_fill_what_the_flags_leave_open():
    sst2 = TASKS["sst2"]()
    assert variant_count(sst2, RunConfig.create("uf", TASKS["sst2"])) == 2
    assert variant_count(sst2, RunConfig.create("uf", TASKS["sst2"], k=4)) == 4
    with pytest.raises(UserError, match="at most 6 prompt variants"):
        variant_count(sst2, RunConfig.create("uf", TASKS["sst2"], k=7))
    plan = train_plan(TASKS["mmlu"](), RunConfig.create("naive", TASKS["mmlu"], micro_batch_size=8,
                                                        effective_batch_size=20, precision="fp32"))
    assert (plan.micro_batch_size, plan.accumulation_steps, plan.precision) == (5, 4, "fp32")

"""The run configuration: dataclasses as the command line, config files, per-stage and per-dataset flags, and the
settings each stage resolves (the original's batching in --loss_normalisation original)."""
import json
import re

import pytest

from common.errors import UserError
from common.methods import discover_methods, get_method, make_config
from common.pipelines import train_plan, variant_count
from common.tasks import discover_tasks

TASKS = discover_tasks()


def parse_config(key, task_cls, argv):
    """What a script parses: the method's flags, a config file's other methods' settings skipped."""
    from common.config import parse_config as parse

    elsewhere = frozenset(f for m in discover_methods().values() for g in m.flag_groups(task_cls)
                          for f in g.__dataclass_fields__)
    return parse(key, get_method(key).flag_groups(task_cls), argv, "", elsewhere, task_cls.facts.name)


def help_text(stage, dataset, capsys):
    with pytest.raises(SystemExit):
        parse_config(stage, TASKS[dataset], ["--help"])
    return capsys.readouterr().out


def test_help_tells_the_two_sampling_flags_apart(capsys):
    text = " ".join(help_text("uf", "mmlu", capsys).split())
    assert "--do_sampling" in text and "RESAMPLE THE TRAINING ROWS" in text
    assert "--do_sample" in text and "DECODE BY SAMPLING" in text


@pytest.mark.parametrize("stage,present,absent", [
    ("weak", ["--weak_model_name", "--answer_parser", "--weak_sft_variants", "--k"],
     ["--strong_model_name", "--paraphrase_provider", "--do_sampling", "--query_batch_size"]),
    ("ceiling", ["--strong_model_name", "--answer_parser"], ["--weak_model_name", "--paraphrase_provider"]),
    ("uf", ["--paraphrase_provider", "--paraphrase_csv", "--k", "--do_sampling", "--answer_parser"],
     ["--weight_unlike"]),
    # RW produces the variant answers itself when UF has not: it takes UF's flags for them, and unlikelihood's
    ("rw", ["--weight_unlike", "--unlike_threshold", "--do_sampling", "--temperature", "--paraphrase_provider", "--k",
            "--query_max_new_tokens"], []),
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
    cfg = make_config("rw", TASKS["sst2"], lr=3e-4, do_sampling=True, weight_unlike=1.0, lora_r=8,
                           lora_target_modules=["q_proj", "k_proj"])
    (tmp_path / "result.json").write_text(json.dumps({"accuracy": 0.5, "config": cfg.to_dict()}))
    again = parse_config("rw", TASKS["sst2"], ["--config", str(tmp_path / "result.json")])
    assert again.to_dict() == cfg.to_dict()


def test_unknown_setting_in_code_is_an_error():
    with pytest.raises(UserError, match="'k' is not a setting of the ceiling stage"):
        make_config("ceiling", TASKS["mmlu"], k=3)


@pytest.mark.parametrize("dataset,stage,micro,accumulation,normalisation", [
    ("mmlu", "weak", 1, 24, "answer_tokens"), ("mmlu", "rw", 2, 12, "all_positions"),
    ("ethics", "ceiling", 1, 20, "answer_tokens"), ("ethics", "rw", 1, 24, "all_positions"),
    ("ethics", "rw_unlikelihood", 1, 24, "all_positions"), ("mmlu", "rw_unlikelihood", 2, 12, "all_positions"),
    ("hellaswag", "uf", 1, 24, "answer_tokens"), ("gsm8k", "rw", 2, 12, "all_positions"),
])
def test_original_loss_mode_takes_the_originals_batching(dataset, stage, micro, accumulation, normalisation):
    task = TASKS[dataset]()
    plan = train_plan(task, get_method(stage), make_config(stage, TASKS[dataset], loss_normalisation="original"))
    assert (plan.micro_batch_size, plan.accumulation_steps, plan.normalisation) == (micro, accumulation,
                                                                                    normalisation)
    assert not plan.step_token_mean and not plan.train_eos
    default = train_plan(task, get_method(stage), make_config(stage, TASKS[dataset]))
    assert (default.micro_batch_size, default.accumulation_steps, default.normalisation) == (4, 6, "answer_tokens")
    assert default.step_token_mean and default.train_eos
    assert default.max_length == (1600 if dataset == "ethics" else 512)


def test_dataset_defaults_fill_what_the_flags_leave_open():
    sst2 = TASKS["sst2"]()
    assert variant_count(sst2, make_config("uf", TASKS["sst2"])) == 2
    assert variant_count(sst2, make_config("uf", TASKS["sst2"], k=4)) == 4
    with pytest.raises(UserError, match="at most 6 prompt variants"):
        variant_count(sst2, make_config("uf", TASKS["sst2"], k=7))
    plan = train_plan(TASKS["mmlu"](), get_method("naive"), make_config("naive", TASKS["mmlu"], micro_batch_size=8,
                                                        effective_batch_size=20, precision="fp32"))
    assert (plan.micro_batch_size, plan.accumulation_steps, plan.precision) == (5, 4, "fp32")


@pytest.mark.parametrize("content,message", [
    ("epochs: [1, 2]\n", "epochs must be a single value, got [1, 2]"),
    ("lora_target_modules: q_proj,v_proj\n", "lora_target_modules must be a list of values, got 'q_proj,v_proj'"),
    ("lr: 0.001\n\tepochs: 2\n", "is not valid YAML"),
    ("precision: fp16\n", "argument --precision: invalid choice: 'fp16'"),
    ("loss_normalisation: tokens\n", "argument --loss_normalisation: invalid choice: 'tokens'"),
    ("k: 4.0\n", "argument --k: invalid int value: '4.0'"),
    ("train_limit: 4.5\n", "argument --train_limit: invalid int value: '4.5'"),
    ("do_sampling: maybe\n", "argument --do_sampling: expected true or false, got 'maybe'"),
    ("lr: 0\n", "--lr must be positive, got 0.0"),
    ("seed: -1\n", "--seed must be in [0, 4294967295], got -1"),
    ("k: 1\n", "--k must be at least 2 (agreement needs two answers), got 1"),
    ("lr: {value: 1}\n", "lr must be a value, not a mapping"),
])
def test_a_config_file_is_checked_like_the_flags(tmp_path, content, message):
    path = tmp_path / "run.yaml"
    path.write_text(content)
    with pytest.raises(UserError) as err:
        parse_config("uf", TASKS["sst2"], ["--config", str(path)])
    assert str(err.value).startswith(f"--config {path}: ") or "is not valid YAML" in str(err.value)
    assert message in str(err.value)


def test_a_config_file_that_is_no_text_file(tmp_path):
    with pytest.raises(UserError, match="is not a file"):
        parse_config("uf", TASKS["sst2"], ["--config", str(tmp_path)])
    (tmp_path / "latin1.yaml").write_bytes("lr: 0.001  # caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text"):
        parse_config("uf", TASKS["sst2"], ["--config", str(tmp_path / "latin1.yaml")])
    (tmp_path / "broken.json").write_text('{"lr": 0.001,}')
    with pytest.raises(UserError, match="is not valid JSON"):
        parse_config("uf", TASKS["sst2"], ["--config", str(tmp_path / "broken.json")])


def test_yaml_values_in_every_spelling_a_user_writes(tmp_path):
    """PyYAML reads 3e-4 as a string and `yes` as a boolean: both reach the flag as the flag's type."""
    (tmp_path / "run.yaml").write_text("lr: 3e-4\ndo_sampling: yes\nk: 4\nlora_target_modules: [q_proj, v_proj]\n"
                                       "train_fraction: 1\nlimit: null\n")
    cfg = parse_config("uf", TASKS["sst2"], ["--config", str(tmp_path / "run.yaml")])
    assert (cfg.train.lr, cfg.do_sampling, cfg.variants.k, cfg.train.lora_target_modules) == \
        (3e-4, True, 4, ["q_proj", "v_proj"])
    assert cfg.train.train_fraction == 1.0 and cfg.run.limit is None


def test_a_results_json_of_another_dataset_is_refused(tmp_path):
    cfg = make_config("uf", TASKS["mmlu"], lr=3e-4)
    (tmp_path / "result.json").write_text(json.dumps({"accuracy": 0.5, "dataset": "mmlu", "config": cfg.to_dict()}))
    with pytest.raises(UserError, match="is the results of a mmlu run, not sst2"):
        parse_config("uf", TASKS["sst2"], ["--config", str(tmp_path / "result.json")])
    assert parse_config("uf", TASKS["mmlu"], ["--config", str(tmp_path / "result.json")]).train.lr == 3e-4


def test_flag_values_out_of_range_exit_2_with_one_line(capsys):
    for argv, message in ((["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
                          (["--unlike_threshold", "1.5"], "--unlike_threshold must be in [0, 1], got 1.5"),
                          (["--temperature", "0"], "--temperature must be positive, got 0.0")):
        with pytest.raises(UserError, match=re.escape(message)):
            parse_config("rw", TASKS["sst2"], argv)


def test_help_is_fast_and_imports_no_model_library():
    """`--help` parses flags without torch or transformers (a user on a small machine waits 10 s otherwise)."""
    import subprocess
    import sys

    from conftest import REPO

    script = str(REPO / "sst2" / "our_method_reweighting.py")
    code = (f"import runpy, sys\nsys.argv = [{script!r}, '--help']\n"
            f"try:\n    runpy.run_path({script!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "--unlike_threshold" in result.stdout


@pytest.mark.parametrize("on_cuda,cuda_bf16,cpu_bf16,expected", [
    (True, True, False, "bf16-mixed"), (True, False, False, "fp32"),
    (False, False, True, "bf16-mixed"),   # AVX512-BF16 / AMX: bf16 is native and faster
    (False, False, False, "fp32"),        # AVX2 only, or AVX-512 without BF16: bf16 is emulated, ~50x slower
])
def test_auto_precision_by_the_machine(on_cuda, cuda_bf16, cpu_bf16, expected):
    from common.models import auto_precision

    assert auto_precision(cuda_bf16, cpu_bf16, on_cuda) == expected


def test_auto_precision_follows_the_kernels_torch_uses():
    """ATEN_CPU_CAPABILITY=avx2 makes torch use AVX2 kernels (as on a CPU without AVX-512): auto is fp32 there,
    whatever this CPU has."""
    import os
    import subprocess
    import sys

    code = ("from common.models import resolve_precision, machine_facts; "
            "print(resolve_precision('auto'), machine_facts()['cpu_capability'])")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["fp32", "AVX2"]

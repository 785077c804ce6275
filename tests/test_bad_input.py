"""Every bad input ends with one clear message and exit status 2 (or a UserError in-process), never a traceback."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fixtures import mmlu_frame

from common.config import RunConfig
from common.errors import UserError
from common.training import TrainConfig
from mmlu.task import MMLUTask, read_split_csv

REPO = Path(__file__).resolve().parents[1]


def run(script, *args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(REPO / "mmlu" / script), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("content,message", [
    ("", "not a readable CSV"),
    ("subject,input,A,B,C,D,target\n", "has no rows"),
    ("subject,input,A,B,C,target\ns,q,a,b,c,A\n", "lacks the columns ['D']"),
    ("subject,input,A,B,C,D,target\ns,q,a,b,c,d,2\n", "1 rows have an unusable 'target', e.g. '2'"),
])
def test_malformed_dataset_csv(tmp_path, content, message):
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=re.escape(message)):
        read_split_csv(path)


def test_malformed_data_reaches_the_user_as_one_line(tmp_path, tiny_model):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation", "test"):
        mmlu_frame(4).to_csv(data / f"{split}.csv", index=False)
    (data / "test.csv").write_text("subject,input,A,B,C,D,target\ns,q,a,b,c,d,Z\n")
    result = run("create_weak_supervisor_on_mmlu.py", "--weak_model_name", tiny_model, "--data_dir", data,
                 "--output_dir", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2 and "unusable 'target'" in result.stderr and "Traceback" not in result.stderr


def test_model_folder_without_weights(tmp_path):
    folder = tmp_path / "empty-model"
    folder.mkdir()
    result = run("create_weak_supervisor_on_mmlu.py", "--weak_model_name", folder, cwd=tmp_path)
    assert result.returncode == 2 and "has no config.json and weights" in result.stderr


def test_results_folder_that_cannot_be_written(tmp_path, tiny_model):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run("baseline_SFT_on_groundtruth.py", "--strong_model_name", tiny_model, "--output_dir", blocker,
                 cwd=tmp_path)
    assert result.returncode == 2 and "cannot write results under" in result.stderr
    assert "Traceback" not in result.stderr


def cfg_for(tiny_model, out) -> RunConfig:
    return RunConfig(weak_model_name=str(tiny_model), strong_model_name=str(tiny_model), output_dir=out,
                     train=TrainConfig(epochs=1, effective_batch_size=4))


def test_every_weak_answer_unparseable(tiny_model, tmp_path, mmlu_data_dir, monkeypatch):
    import common.pipelines as pipelines

    monkeypatch.setattr(pipelines, "query_weak", lambda task, cfg, prompts, tokens, name: [""] * len(prompts))
    with pytest.raises(UserError, match="no weak answer could be parsed"):
        pipelines.uncertainty_filtering(MMLUTask(mmlu_data_dir), cfg_for(tiny_model, tmp_path))


def test_reweighting_with_no_usable_question(tiny_model, tmp_path, mmlu_data_dir):
    from common.pipelines import reliability_reweighting

    rows = [{"subject": "s", "input": "q", "prompt": "p", "target": "A", "model_output": "", "model_pred": "None",
             "entropy": 0.0, "question_id": 0}] * 5
    pd.DataFrame(rows).to_csv(tmp_path / f"mmlu_validation_with_entropy_from_{tiny_model.name}.csv", index=False)
    with pytest.raises(UserError, match="every question has an unparseable weak answer"):
        reliability_reweighting(MMLUTask(mmlu_data_dir), cfg_for(tiny_model, tmp_path))


def test_entropy_csv_with_missing_columns(tiny_model, tmp_path, mmlu_data_dir):
    from common.pipelines import reliability_reweighting

    pd.DataFrame([{"prompt": "p", "model_pred": "x"}]).to_csv(
        tmp_path / f"mmlu_validation_with_entropy_from_{tiny_model.name}.csv", index=False)
    with pytest.raises(UserError, match="lacks the columns"):
        reliability_reweighting(MMLUTask(mmlu_data_dir), cfg_for(tiny_model, tmp_path))


def test_weak_answer_cache_of_another_dataset_is_refused(tmp_path):
    from common.generation import cached_generate

    cache = tmp_path / "c.jsonl"
    cache.write_text('{"identity": {"dataset": "gsm8k", "weak_model": "w"}}\n')
    with pytest.raises(UserError, match=r"another run \(it differs in \['dataset'\]\)"):
        cached_generate(lambda: None, ["p"], cache, {"dataset": "mmlu", "weak_model": "w"}, 4)


@pytest.mark.parametrize("flag", ["--limit", "--query_batch_size", "--effective_batch_size", "--save_steps"])
def test_non_positive_sizes(tmp_path, flag):
    result = run("baseline_SFT_on_groundtruth.py", flag, "0", cwd=tmp_path)
    assert result.returncode == 2 and f"{flag} must be at least 1" in result.stderr


def test_gsm8k_questions_all_dropped_for_unparseable_answers(tiny_model, tmp_path, monkeypatch):
    import common.pipelines as pipelines
    from fixtures import gsm8k_frame
    from gsm8k.task import GSM8KTask

    for split in ("train", "validation", "test"):
        gsm8k_frame(3).to_csv(tmp_path / f"{split}.csv", index=False)
    provider = lambda questions: [[f"{q} ({i})" for i in range(5)] for q in questions]  # noqa: E731
    task = GSM8KTask(tmp_path, provider, tmp_path / "cache" / "p.jsonl")
    monkeypatch.setattr(pipelines, "query_weak", lambda task, cfg, prompts, tokens, name: ["$5"] * len(prompts))
    with pytest.raises(UserError, match="every question has an unparseable weak answer"):
        pipelines.uncertainty_filtering(task, cfg_for(tiny_model, tmp_path / "out"))

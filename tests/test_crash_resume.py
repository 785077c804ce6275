"""Nothing lost on a crash: training resumes from its checkpoint, querying from its cache, with the same results."""
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from fixtures import mmlu_frame

from common.models import load_model_and_tokenizer
from common.training import Example, TrainPlan, WeightedLossTrainer, train_lora

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = [Example(f"### Question: item {i}. ### Answer:", f" {'ABCD'[i % 4]}") for i in range(8)]
PLAN = TrainPlan(lr=1e-2, epochs=2, micro_batch_size=2, accumulation_steps=1, max_length=64, save_steps=1)


def lora_weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def test_training_resumes_from_its_last_checkpoint(tiny_model, tmp_path, monkeypatch):
    model, tok = load_model_and_tokenizer(str(tiny_model))
    reference = lora_weights(train_lora(model, tok, EXAMPLES, PLAN, tmp_path / "ref")[0])
    assert not (tmp_path / "ref").exists()  # checkpoints are cleared after a finished run

    real_step = WeightedLossTrainer.training_step
    calls = []

    def crashing_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("simulated crash")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(WeightedLossTrainer, "training_step", crashing_step)
    model, tok = load_model_and_tokenizer(str(tiny_model))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_lora(model, tok, EXAMPLES, PLAN, tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint-5").is_dir()
    monkeypatch.setattr(WeightedLossTrainer, "training_step", real_step)

    model, tok = load_model_and_tokenizer(str(tiny_model))
    resumed = lora_weights(train_lora(model, tok, EXAMPLES, replace(PLAN, resume=True), tmp_path / "run")[0])
    assert resumed.keys() == reference.keys()
    for name in reference:
        assert torch.allclose(resumed[name], reference[name], atol=1e-6), name


def uf_command(tiny_model, data, out):
    return [sys.executable, str(REPO / "mmlu" / "our_method_uncertainty_filtering.py"),
            "--weak_model_name", str(tiny_model), "--strong_model_name", str(tiny_model), "--data_dir", str(data),
            "--output_dir", str(out), "--limit", "8", "--epochs", "1", "--effective_batch_size", "4",
            "--query_batch_size", "1", "--query_max_new_tokens", "48"]


def test_killed_weak_label_query_resumes_to_the_same_csv(tiny_model, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation", "test"):
        mmlu_frame(8).to_csv(data / f"{split}.csv", index=False)
    first, second = tmp_path / "killed", tmp_path / "uninterrupted"
    weak = subprocess.run([sys.executable, str(REPO / "mmlu" / "create_weak_supervisor_on_mmlu.py"),
                           "--weak_model_name", str(tiny_model), "--data_dir", str(data), "--output_dir", str(first),
                           "--limit", "8", "--epochs", "1"], env=env, capture_output=True, text=True)
    assert weak.returncode == 0, weak.stderr[-3000:]
    shutil.copytree(first / "mmlu" / "models", second / "mmlu" / "models")  # the same weak supervisor for both

    name = tiny_model.name
    cache = first / "mmlu" / "cache" / f"mmlu_validation_with_entropy_from_{name}.jsonl"
    proc = subprocess.Popen(uf_command(tiny_model, data, first), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if cache.exists() and len(cache.read_text().splitlines()) >= 12:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    answered = len(cache.read_text().splitlines()) - 1
    assert 10 <= answered < 40, f"the kill should land while querying ({answered} of 40 answered)"
    assert not (first / "mmlu" / f"mmlu_validation_with_entropy_from_{name}.csv").exists()

    resumed = subprocess.run(uf_command(tiny_model, data, first), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean = subprocess.run(uf_command(tiny_model, data, second), env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr[-3000:]
    csv = f"mmlu_validation_with_entropy_from_{name}.csv"
    assert (first / "mmlu" / csv).read_bytes() == (second / "mmlu" / csv).read_bytes()
    assert len(cache.read_text().splitlines()) == 41  # no question was asked twice

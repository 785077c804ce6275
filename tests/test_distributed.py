"""Several processes, as `torchrun --nproc_per_node 2` starts them, on CPU (gloo): a two-process stage trains the same
adapter as one process with the same effective batch, writes the same weak-label CSV and the same results; a
two-process run killed while querying resumes without asking a prompt twice."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

SAMPLE = REPO / "sst2" / "sample"
FLAGS = ["--limit", "8", "--epochs", "1", "--effective_batch_size", "2", "--micro_batch_size", "1",
         "--lora_dropout", "0", "--query_max_new_tokens", "4", "--k", "4", "--data_dir", str(SAMPLE),
         "--precision", "fp32"]  # the claim is about the loss scale: fp32 on every CPU, bf16 has its own test below


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(processes: int, script: str, args) -> list[str]:
    launcher = [] if processes == 1 else ["-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                                          "--master_port", str(free_port())]
    return [sys.executable, *launcher, str(REPO / "sst2" / script), *map(str, args)]


ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def adam_agreement(a: torch.Tensor, b: torch.Tensor, lr: float, steps: int) -> bool:
    """Two adapters trained by AdamW from the same start on gradients that differ only by summation order (one
    process accumulating, two all-reducing). Adam's update is about lr·g/(|g| + eps) per element: where a
    gradient element is rounding noise its update takes either sign, on any CPU (here up to a tenth of the LoRA-B
    elements, each lr away from zero), so the weights can only be held to Adam's bound, 2·lr per step. The
    precise check of the claim is the step's gradient norm before clipping (the test below compares it)."""
    return bool(((a - b).abs() <= 2 * lr * steps * (1 + 1e-4)).all())


@pytest.fixture(scope="module")
def weak_supervisor(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("weak")
    result = subprocess.run(command(1, "create_weak_supervisor_on_SST2.py", ["--weak_model_name", tiny_model,
                                                                            "--output_dir", out, *FLAGS[:6], "--precision", "fp32",
                                                                            "--data_dir", SAMPLE]),
                            env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def uncertainty_filtering(processes, tiny_model, weak_supervisor, out):
    import shutil

    shutil.copytree(weak_supervisor / "sst2" / "models", out / "sst2" / "models", dirs_exist_ok=True)
    return command(processes, "our_method_uncertainty_filtering.py",
                   ["--weak_model_name", tiny_model, "--strong_model_name", tiny_model, "--output_dir", out,
                    "--do_sampling", *FLAGS])


@pytest.fixture(scope="module")
def one_and_two_processes(tiny_model, weak_supervisor, tmp_path_factory):
    runs = {}
    for processes in (1, 2):
        out = tmp_path_factory.mktemp(f"procs{processes}")
        result = subprocess.run(uncertainty_filtering(processes, tiny_model, weak_supervisor, out), env=ENV,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        runs[processes] = out / "sst2"
    return runs


def test_two_processes_train_the_same_adapter_as_one(one_and_two_processes, tiny_model):
    stem = f"{tiny_model.name}-sst2-w2sft-uncertainty-filtering-from-{tiny_model.name}-sampling=True"
    one, two = (load_file(one_and_two_processes[p] / "models" / stem / "adapter_model.safetensors") for p in (1, 2))
    assert one.keys() == two.keys() and len(one) > 0
    records = [json.loads((one_and_two_processes[p] / "results" / f"{stem}.json").read_text()) for p in (1, 2)]
    import pandas as pd

    logs = [pd.read_csv(one_and_two_processes[p] / "results" / f"{stem}_loss.csv") for p in (1, 2)]
    lr = records[0]["settings"]["lr"]
    for name in one:
        assert adam_agreement(one[name], two[name], lr, len(logs[0])), name
    assert any(one[name].abs().sum() > 0 for name in one if "lora_B" in name)  # training did move the adapter
    assert records[0]["settings"]["accumulation_steps"] == 2 and records[1]["settings"]["accumulation_steps"] == 1
    assert records[0]["rows_kept"] == records[1]["rows_kept"] and len(logs[0]) == len(logs[1]) >= 1
    # the first step's loss and gradient norm (before clipping) are one process's: the loss scale is right. Later
    # steps start from weights that Adam moved by rounding noise (above), so they are not compared exactly.
    for column in ("loss", "grad_norm"):
        assert logs[1][column].iloc[0] == pytest.approx(logs[0][column].iloc[0], rel=1e-4), column


def test_two_processes_write_the_same_weak_label_csv_once(one_and_two_processes, tiny_model):
    name = f"sst2_validation_with_entropy_from_{tiny_model.name}"
    one, two = (one_and_two_processes[p] / f"{name}.csv" for p in (1, 2))
    assert one.read_bytes() == two.read_bytes()
    caches = sorted(p.name for p in (one_and_two_processes[2] / "cache").glob(f"{name}*.jsonl"))
    assert caches == [f"{name}.jsonl", f"{name}.rank1.jsonl"]  # each process wrote a file of its own
    answered = sum(len(p.read_text().splitlines()) - 1 for p in (one_and_two_processes[2] / "cache").glob(
        f"{name}*.jsonl"))
    assert answered == 8 * 4  # every variant prompt answered exactly once


def test_a_killed_two_process_run_resumes(tiny_model, weak_supervisor, one_and_two_processes, tmp_path):
    name = f"sst2_validation_with_entropy_from_{tiny_model.name}"
    args = uncertainty_filtering(2, tiny_model, weak_supervisor, tmp_path) + ["--query_batch_size", "1",
                                                                             "--query_max_new_tokens", "48"]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    cache = tmp_path / "sst2" / "cache"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        lines = sum(len(p.read_text().splitlines()) for p in cache.glob("*.jsonl")) if cache.exists() else 0
        if lines >= 10:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
    proc.wait()
    answered = sum(len(p.read_text().splitlines()) - 1 for p in cache.glob("*.jsonl"))
    assert 0 < answered < 32, f"the kill should land while querying ({answered} of 32 answered)"
    assert not (tmp_path / "sst2" / f"{name}.csv").exists()
    resumed = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sum(len(p.read_text().splitlines()) - 1 for p in cache.glob("*.jsonl")) == 32  # none asked twice
    clean = subprocess.run(uncertainty_filtering(1, tiny_model, weak_supervisor, tmp_path / "clean") +
                           ["--query_batch_size", "1", "--query_max_new_tokens", "48"], env=ENV,
                           capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert (tmp_path / "sst2" / f"{name}.csv").read_bytes() == (tmp_path / "clean" / "sst2" / f"{name}.csv").read_bytes()


def test_bf16_weights_and_bf16_training_run_on_a_cpu(tiny_model, tmp_path):
    """The GPU-only branches, as far as a CPU allows: bf16-pure (bf16 base and LoRA weights, no autocast, the
    original's) and bf16-mixed training, inference in bf16, with an explicit device for the model."""
    from common.models import load_model_and_tokenizer
    from common.training import Example, TrainPlan, train_lora

    for precision, weights in (("bf16-pure", torch.bfloat16), ("bf16-mixed", torch.float32)):
        model, tokenizer = load_model_and_tokenizer(str(tiny_model), dtype=weights)
        plan = TrainPlan(lr=1e-2, epochs=1, micro_batch_size=2, accumulation_steps=1, max_length=64,
                         precision=precision)
        model, log, _ = train_lora(model, tokenizer, [Example(f"Q{i} ### Answer:", " A") for i in range(4)], plan,
                                   tmp_path / precision)
        lora = [p for n, p in model.named_parameters() if "lora_" in n]
        assert {p.dtype for p in lora} == {torch.bfloat16 if precision == "bf16-pure" else torch.float32}
        assert log["loss"].notna().all() and next(model.parameters()).device.type == "cpu"

"""The five scripts of HellaSwag, ETHICS and GSM8K on tiny models, run from inside their folder, then the files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fixtures import ethics_frame, gsm8k_frame, hellaswag_frame

REPO = Path(__file__).resolve().parents[1]
TINY_FLAGS = ["--limit", "6", "--epochs", "1", "--effective_batch_size", "4", "--query_max_new_tokens", "6"]

DATASETS = {
    "hellaswag": dict(weak_script="create_weak_supervisor_on_hellaswag.py", files=("train", "validation", "test"),
                      frame=hellaswag_frame, csv_prefix="hellaswag_validation_with_entropy_from_",
                      naive="hellaswag_validation_w2s_naive_from_{w}.csv", k=5,
                      entropy_columns=["ind", "target", "prompt", "model_output", "model_pred", "entropy"],
                      ceiling="{s}-hellaswag-sft-on-groundtruth", extra=[]),
    "ethics": dict(weak_script="create_weak_supervisor_on_ETHICS.py",
                   files=("cm_train_new", "cm_validation_new", "cm_test"), frame=ethics_frame,
                   csv_prefix="cm_validation_with_entropy_from_", naive="cm-validation-w2s-naive-from-{w}.csv", k=2,
                   entropy_columns=["input", "is_short", "label", "prompt", "model_output", "model_pred", "entropy"],
                   ceiling="{s}-ethics-sft-on-groundtruth", extra=[]),
    "gsm8k": dict(weak_script="create_weak_supervisor_on_GSM8K.py", files=("train", "validation", "test"),
                  frame=gsm8k_frame, csv_prefix="gsm8k_validation_with_entropy_from_",
                  naive="GSM8K_validation_w2s_naive_from_{w}.csv", k=5,
                  entropy_columns=["original_question", "original_answer", "label", "prompt", "weak_label",
                                   "model_pred", "entropy"],
                  ceiling="{s}-gsm8k-sft-on-groundtruth", extra=["--answer_parser", "robust"]),
}


def run(dataset, script, args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, script, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module", params=list(DATASETS))
def dataset_run(request, tiny_model, tmp_path_factory):
    name = request.param
    spec = DATASETS[name]
    base = tmp_path_factory.mktemp(name)
    data = base / "data"
    data.mkdir()
    for file in spec["files"]:
        spec["frame"](8).to_csv(data / f"{file}.csv", index=False)
    extra = list(spec["extra"])
    if name == "gsm8k":
        questions = spec["frame"](8)["question"]
        pd.DataFrame({"question": questions, **{f"paraphrase_{i}": questions + f" (version {i})"
                                                for i in range(1, 6)}}).to_csv(base / "paraphrases.csv", index=False)
        extra += ["--paraphrase_provider", "csv", "--paraphrase_csv", base / "paraphrases.csv"]
    out = base / "out"
    common = [*TINY_FLAGS, "--data_dir", data, "--output_dir", out]
    weak, strong = ["--weak_model_name", tiny_model], ["--strong_model_name", tiny_model]
    steps = [(spec["weak_script"], weak), ("baseline_SFT_weak_supervision.py", weak + strong),
             ("baseline_SFT_on_groundtruth.py", strong), ("our_method_uncertainty_filtering.py", weak + strong),
             ("our_method_reweighting.py", weak + strong + ["--do_sampling"])]
    for script, models in steps:
        extra_here = extra if script == "our_method_uncertainty_filtering.py" else spec["extra"]
        result = run(name, script, [*models, *common, *extra_here], cwd=REPO / name)  # from inside the folder
        assert result.returncode == 0, f"{name}/{script}:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
    return name, spec, out, tiny_model.name


def test_files_of_every_stage(dataset_run):
    name, spec, out, w = dataset_run
    results = sorted(p.name for p in (out / "results").glob("*.json"))
    assert len(results) == 5, results
    for path in (out / "results").glob("*.json"):
        record = json.loads(path.read_text())
        assert record["dataset"] == name and record["n"] == 6 and 0 <= record["accuracy"] <= 1
        txt = path.with_suffix(".txt").read_text()
        assert txt.startswith(f"Accuracy: {record['accuracy']}")
        assert ("precision" in txt) == (name != "gsm8k")  # GSM8K reports accuracy only, as the original
    assert (out / "models" / spec["ceiling"].format(s=w) / "adapter_model.safetensors").exists()
    rw = json.loads((out / "results" / f"{w}_reweighting_from_{w}_sample=True.json").read_text())
    assert rw["config"]["do_sampling"] is True


def test_weak_label_csvs(dataset_run):
    name, spec, out, w = dataset_run
    naive = pd.read_csv(out / spec["naive"].format(w=w))
    assert "weak_label" in naive.columns and len(naive) == 6
    entropy = pd.read_csv(out / f"{spec['csv_prefix']}{w}.csv", keep_default_na=False)
    assert list(entropy.columns) == spec["entropy_columns"] + ["question_id"]
    sizes = entropy.groupby("question_id").size()
    assert (sizes == spec["k"]).all() and entropy.groupby("question_id")["entropy"].nunique().eq(1).all()
    if name == "gsm8k":
        assert (entropy["model_pred"] != -100000000).all()  # questions with an unparseable answer are dropped
    else:
        assert len(sizes) == 6


def test_missing_paraphrase_provider_is_a_clear_error(tiny_model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation", "test"):
        gsm8k_frame(4).to_csv(data / f"{split}.csv", index=False)
    (tmp_path / "models" / "tiny-llama-gsm8k-train-sft").mkdir(parents=True)  # not used: the error comes first
    result = run("gsm8k", REPO / "gsm8k" / "our_method_uncertainty_filtering.py",
                 ["--weak_model_name", tiny_model, "--strong_model_name", tiny_model, "--data_dir", data,
                  "--output_dir", tmp_path], cwd=tmp_path)
    assert result.returncode == 2 and "no paraphrase provider is set" in result.stderr
    assert "Traceback" not in result.stderr

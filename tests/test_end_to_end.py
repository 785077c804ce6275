"""The five scripts of every registered dataset, run as a user runs them (from inside the dataset folder) on the
tiny model and the dataset's sample files; then the files they write, the results table and the notebooks."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import REPO

from common.methods import discover_methods, get_method, make_config, script_name
from common.models import resolve_precision
from common.pipelines import run_name
from common.tasks import InvalidAnswers, discover_tasks
from common.weak_answers import entropy_csv_columns

TASKS = discover_tasks()
TINY_FLAGS = ["--limit", "6", "--epochs", "1", "--effective_batch_size", "4"]
QUERY = ["--query_max_new_tokens", "6"]


def run(args, cwd, module=False):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    command = [sys.executable, *(["-m"] if module else []), *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def stage_commands(task_cls, tiny_model, out):
    """(script, flags) of the five stages plus re-weighting with unlikelihood, as a user types them."""
    folder = task_cls.folder
    sample = folder / "sample"
    common = [*TINY_FLAGS, "--output_dir", out] + (["--data_dir", "sample"] if sample.is_dir() else [])
    if (sample / "config.yaml").exists():
        common += ["--config", "sample/config.yaml"]
    weak, strong = ["--weak_model_name", tiny_model], ["--strong_model_name", tiny_model]
    return [(script_name(folder, "weak"), weak + common),
            ("baseline_SFT_weak_supervision.py", weak + strong + common + QUERY),
            ("baseline_SFT_on_groundtruth.py", strong + common),
            ("our_method_uncertainty_filtering.py", weak + strong + common + QUERY + ["--do_sampling"]),
            ("our_method_reweighting.py", weak + strong + common + QUERY + ["--do_sampling"]),
            ("our_method_reweighting.py", weak + strong + common + QUERY + ["--do_sampling", "--weight_unlike", "1"])]


@pytest.fixture(scope="module", params=sorted(TASKS))
def dataset_run(request, tiny_model, tmp_path_factory):
    from tiny import sample_pools

    from common.errors import UserError

    task_cls = TASKS[request.param]
    try:
        sample_pools(task_cls)
    except UserError as err:  # only a dataset added without sample/ or shipped files, never ours
        pytest.skip(f"{request.param} has no data offline: {err}")
    out = tmp_path_factory.mktemp(request.param) / "out"
    for script, flags in stage_commands(task_cls, tiny_model, out):
        result = run([script, *flags], cwd=task_cls.folder)  # from inside the dataset folder, as the original
        assert result.returncode == 0, f"{request.param}/{script}:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
    return task_cls, out, out / task_cls.facts.name, tiny_model.name


PAPER_METHODS = ("weak", "naive", "ceiling", "uf", "rw", "rw_unlikelihood")


def stems_of(task_cls, w: str) -> dict[str, str]:
    """The results stem of each of the paper's methods in `stage_commands`' run (sampling where it applies)."""
    stems = {}
    for key in PAPER_METHODS:
        method = get_method(key)
        takes = {f for g in method.flag_groups(task_cls) for f in g.__dataclass_fields__}
        values = {"weak_model_name": w, "strong_model_name": w, "do_sampling": True}
        stems[key] = run_name(task_cls(), method, make_config(key, task_cls, **{k: v for k, v in values.items()
                                                                               if k in takes}))
    return stems


def test_every_stage_writes_adapter_results_predictions_and_loss_curve(dataset_run):
    task_cls, _, root, w = dataset_run
    names = stems_of(task_cls, w)
    stems = list(names.values())
    assert sorted(p.stem for p in (root / "results").glob("*.json")) == sorted(stems)
    for stem in stems:
        record = json.loads((root / "results" / f"{stem}.json").read_text())
        txt = (root / "results" / f"{stem}.txt").read_text()
        assert txt.startswith(f"Accuracy: {record['accuracy']}\n")
        assert ("precision" in txt) == (task_cls.facts.metrics == "accuracy_and_report")
        assert record["dataset"] == task_cls.facts.name and record["n"] == 6 and record["config"]["limit"] == 6
        # the precision auto chose on this machine, and what the machine is, so a reader can tell the runs apart
        assert record["config"]["precision"] == "auto" and record["settings"]["precision"] == resolve_precision("auto")
        assert record["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        predictions = pd.read_csv(root / "results" / f"{stem}_predictions.csv", keep_default_na=False)
        assert len(predictions) == 6
        assert (predictions["label"].astype(str) == predictions["prediction"].astype(str)).mean() == \
            pytest.approx(record["accuracy"])
        loss = pd.read_csv(root / "results" / f"{stem}_loss.csv")
        assert len(loss) == record["settings"]["epochs"] * -(-record["trained_examples"] // 4) and \
            loss["loss"].notna().all()
        assert (root / "results" / f"{stem}_loss.png").stat().st_size > 1000
    weak_adapter = f"{w}-{task_cls().name_stem}-train-sft"
    for adapter in [weak_adapter] + stems[1:]:
        assert (root / "models" / adapter / "adapter_model.safetensors").exists(), adapter
    records = {key: json.loads((root / "results" / f"{stem}.json").read_text()) for key, stem in names.items()}
    for key, record in records.items():  # keys, not labels, say what ran; the label is the registry's
        assert record["method_key"] == key and record["method"] == get_method(key).label
        assert record["do_sampling"] is (key in ("uf", "rw", "rw_unlikelihood"))
        assert record["training_rows"] == record["train_examples"]
        assert (record["training_label_accuracy"] is None) == (key in ("weak", "ceiling"))
    ul, rw = records["rw_unlikelihood"], records["rw"]
    assert ul["config"]["weight_unlike"] == 1.0 and rw["config"]["weight_unlike"] == 0.0
    assert rw["config"]["do_sampling"] is True and rw["settings"]["train_eos"] is True


def test_weak_label_csvs(dataset_run):
    task_cls, _, root, w = dataset_run
    names = task_cls().output_names(w)
    naive = pd.read_csv(root / names["naive_csv"])
    assert "weak_label" in naive.columns and len(naive) == 6
    entropy = pd.read_csv(root / names["entropy_csv"], keep_default_na=False, dtype={"model_pred": str, "gold": str})
    assert list(entropy.columns) == entropy_csv_columns(task_cls())
    sizes = entropy.groupby("question_id").size()
    assert (sizes == task_cls.facts.k).all() and entropy.groupby("question_id")["entropy"].nunique().eq(1).all()
    if task_cls.facts.invalid_answers is InvalidAnswers.DROP_THE_QUESTION:
        assert (entropy["model_pred"] != task_cls.facts.invalid_answer).all()
    else:
        assert len(sizes) == 6
    cache = root / "cache" / f"{names['entropy_csv'][:-4]}.jsonl"
    assert json.loads(cache.read_text().splitlines()[0])["identity"]["dataset"] == task_cls.facts.name


def test_results_table_over_the_run(dataset_run):
    task_cls, out, _, w = dataset_run
    result = run(["common", "table", out], cwd=REPO, module=True)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "results_table.csv")
    assert sorted(table["method"]) == sorted(get_method(k).label for k in PAPER_METHODS)
    assert table["label_accuracy"].notna().sum() == 4  # every method trained on weak labels
    methods = table.set_index("method")
    assert methods["pgr"].isna()[["weak supervisor", "ceiling (GT)"]].all()
    assert "| " + task_cls.facts.name in (out / "results_table.md").read_text()


def test_the_module_cli_runs_a_stage(tiny_model, tmp_path):
    sample = REPO / "sst2" / "sample"
    result = run(["common", "run", "--task", "sst2", "--stage", "ceiling", "--strong_model_name", tiny_model,
                  "--data_dir", sample, "--output_dir", tmp_path, *TINY_FLAGS], cwd=tmp_path, module=True)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(next((tmp_path / "sst2" / "results").glob("*.json")).read_text())
    assert record["method"] == "ceiling (GT)" and record["config"]["stage"] == "ceiling"
    listing = run(["common", "tasks"], cwd=tmp_path, module=True)
    assert all(name in listing.stdout for name in TASKS)
    listing = run(["common", "methods"], cwd=tmp_path, module=True)
    assert all(key in listing.stdout for key in discover_methods())


@pytest.mark.parametrize("dataset_run", ["mmlu", "sst2"], indirect=True)  # the code is shared by all datasets
@pytest.mark.parametrize("notebook,figure", [
    ("Visualization_on_entropy_uncertainty.ipynb", "entropy_{title}_{w}"),
    ("Visualization_on_probability_reliability_score.ipynb", "heatmap_reliability_score_{name}_{w}"),
])
def test_notebooks_run_headless_on_the_pipeline_csvs(dataset_run, tmp_path, notebook, figure):
    import nbformat
    from nbclient import NotebookClient

    task_cls, out, _, w = dataset_run
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = (f'DATASET = "{task_cls.facts.name}"\nWEAK_MODEL = "{w}"\nRUN_DIR = r"{out / task_cls.facts.name}"\n'
                     f'FIGURES_DIR = r"{tmp_path / "figures"}"')
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}
                   ).execute()
    stem = figure.format(title=task_cls.facts.figure_stem or task_cls.facts.title, name=task_cls.facts.name, w=w)
    for suffix in (".png", ".pdf"):
        assert (tmp_path / "figures" / f"{stem}{suffix}").stat().st_size > 1000
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "questions" in printed


def test_every_other_method_runs_on_every_dataset(dataset_run, tiny_model, monkeypatch):
    """Every registered method besides the paper's (the controls and baselines: `python -m common run --stage
    KEY`), in-process on the tiny model, after the paper's stages: they reuse the cached weak answers, and their
    records carry the label accounting. A method that cannot apply to a dataset says so in one UserError."""
    from common.cli import run_stage
    from common.errors import UserError

    task_cls, out, root, w = dataset_run
    monkeypatch.chdir(task_cls.folder)  # a sample config's paths are relative to the dataset folder
    sample = task_cls.folder / "sample"
    flags = [*TINY_FLAGS, *QUERY, "--output_dir", out, "--weak_model_name", tiny_model, "--strong_model_name",
             tiny_model, "--data_dir", sample] + (["--config", sample / "config.yaml"]
                                                   if (sample / "config.yaml").exists() else [])
    not_applicable = {("gsm8k", "aux_confidence"): "free-form"}
    for key in [k for k in discover_methods() if k not in PAPER_METHODS]:
        expected = not_applicable.get((task_cls.facts.name, key))
        own = ["--effective_batch_size", "8"] if key == "aux_confidence" else []  # its quantile needs 8 rows
        try:
            run_stage(task_cls, get_method(key), [str(f) for f in flags + own])
        except UserError as err:
            if expected or (key == "oracle_filter" and "keeps nothing" in str(err)):
                assert expected is None or expected in str(err)
                continue  # the oracle: the tiny weak model answered no variant right
            raise
        assert expected is None, f"{key} ran on {task_cls.facts.name}"
        stem = run_name(task_cls(), get_method(key), make_config(key, task_cls, weak_model_name=w,
                                                                 strong_model_name=w))
        record = json.loads((root / "results" / f"{stem}.json").read_text())
        assert record["method_key"] == key and record["training_rows"] == record["train_examples"] > 0
        assert 0 <= record["training_label_accuracy"] <= 1


@pytest.mark.parametrize("dataset_run", ["sst2"], indirect=True)
def test_a_variant_trained_weak_supervisor_gets_outputs_of_its_own(dataset_run, tiny_model):
    """--weak_sft_variants: the weak supervisor and naive W2S on it write beside the base ones, never over them."""
    from common.cli import run_stage

    task_cls, out, root, w = dataset_run
    before = {p.name: p.stat().st_mtime for p in root.rglob("*") if p.is_file()}
    flags = [*TINY_FLAGS, "--output_dir", out, "--weak_model_name", tiny_model, "--data_dir",
             task_cls.folder / "sample", "--weak_sft_variants"]
    weak = run_stage(task_cls, get_method("weak"), [str(f) for f in flags + ["--k", "4"]])
    naive = run_stage(task_cls, get_method("naive"), [str(f) for f in flags + QUERY + ["--strong_model_name",
                                                                                      tiny_model]])
    assert weak["n"] == naive["n"] == 6
    record = json.loads((root / "results" / f"{w}-variant-sft_weak_supervisor_performance.json").read_text())
    assert record["weak_sft_variants"] is True and record["train_examples"] == 6 * 4
    assert (root / f"sst2_validation_w2s_naive_from_{w}-variant-sft.csv").exists()
    assert (root / "results" / f"{w}-sst2-SFT-on-weaksupervison-from-{w}-variant-sft.json").exists()
    after = {p.name: p.stat().st_mtime for p in root.rglob("*") if p.is_file()}
    assert all(after[name] == t for name, t in before.items() if name in after)  # nothing overwritten

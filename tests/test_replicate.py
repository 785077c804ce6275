"""The replication command end to end on the tiny model and SST-2's sample files: two seeds, every method, the
table, the figures, the safety table and the report; then a re-run that finds every stage done."""
import json

import pandas as pd
import yaml
from conftest import REPO

from common.methods import get_method
from common.replicate import PAPER_METHODS


def test_replication_of_two_seeds(tiny_model, tmp_path, capsys):
    from common.config import parse_dataclasses
    from common.replicate import ReplicateArgs, replicate
    from safety.evaluate import replication_step

    def main(argv):  # what the root replicate.py does: the replication, with the safety step as its hook
        (args,) = parse_dataclasses([ReplicateArgs], argv)
        replicate(args, hooks=(replication_step(2),))

    flags = {"weak_model_name": str(tiny_model), "strong_model_name": str(tiny_model),
             "data_dir": str(REPO / "sst2" / "sample"), "limit": 6, "epochs": 1, "effective_batch_size": 4,
             "query_max_new_tokens": 4, "k": 4}
    (tmp_path / "flags.yaml").write_text(yaml.safe_dump(flags))
    out = tmp_path / "rep"
    argv = ["--task", "sst2", "--seeds", "1", "2", "--output_dir", str(out), "--stage_config",
            str(tmp_path / "flags.yaml")]
    main(argv)
    table = pd.read_csv(out / "results_table.csv")
    assert sorted(table["method"].unique()) == sorted(get_method(k).label for k in PAPER_METHODS)
    assert all(sorted(group) == [1, 2] for _, group in table.groupby("method")["seed"])
    uf = json.loads(next((out / "seed_2" / "sst2" / "results").glob("*uncertainty-filtering*.json")).read_text())
    assert uf["config"]["k"] == 4 and uf["config"]["do_sampling"] is True and uf["config"]["seed"] == 2
    for seed in (1, 2):
        assert len(list((out / "figures" / f"seed_{seed}").glob("*.png"))) == 2
    safety = pd.read_csv(out / "safety" / "safety_table.csv")
    assert safety["model"].nunique() == 8 and len(safety) == 8 * 14  # 2 base models, 6 adapters; 12 + 2 averages
    report = (out / "REPORT.md").read_text()
    assert "## Each method against naive W2S" in report and "seeds above naive" in report
    assert "ETHICS safety evaluations" in report and "right in UF's kept rows" in report
    capsys.readouterr()
    main(argv)  # everything is done: nothing runs again
    again = capsys.readouterr().out
    assert again.count("done before") == 12 + 8  # six stages of two seeds, then the eight models' safety scores
    assert again.count("[safety]") == 8 and ": accuracy " not in again  # no stage trained or tested again


def write_record(root, name, **record):
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / f"{name}.json").write_text(json.dumps({"accuracy": 0.5, **record}))


def test_a_run_without_sampling_does_not_count_as_the_sampled_one(tmp_path):
    """The bug the registry fixed: a UF run without --do_sampling in the folder made the replication skip UF with
    sampling (it matched runs by label). Runs match by method key and sampling flag; older records by label or
    stage and their config's flag."""
    from common.replicate import finished_run

    write_record(tmp_path, "uf", method="UF", method_key="uf", do_sampling=False, config={"do_sampling": False})
    assert finished_run(tmp_path, "uf", True) is None and finished_run(tmp_path, "uf", False)["method_key"] == "uf"
    write_record(tmp_path, "old_rw", method="RW", config={"do_sampling": True})                # before the registry
    write_record(tmp_path, "older_naive", stage="naive_w2s", config={})                      # before method labels
    assert finished_run(tmp_path, "rw", True) is not None and finished_run(tmp_path, "rw", False) is None
    assert finished_run(tmp_path, "naive", False) is not None and finished_run(tmp_path, "rw_unlikelihood", True) is None


def test_the_replication_scripts_answer_help_at_once():
    import subprocess
    import sys

    for command in (["replicate.py"], ["-m", "common.replicate"]):
        result = subprocess.run([sys.executable, *command, "--help"], cwd=REPO, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0 and "--methods" in result.stdout, result.stderr[-2000:]
        assert ("--safety_n_test" in result.stdout) == (command == ["replicate.py"])

"""The replication command end to end on the tiny model and SST-2's sample files: two seeds, every method, the
table, the figures, the safety table and the report; then a re-run that finds every stage done."""
import json

import pandas as pd
import yaml
from conftest import REPO

from common.tasks import METHOD_NAMES


def test_replication_of_two_seeds(tiny_model, tmp_path, capsys):
    from common.replicate import main

    flags = {"weak_model_name": str(tiny_model), "strong_model_name": str(tiny_model),
             "data_dir": str(REPO / "sst2" / "sample"), "limit": 6, "epochs": 1, "effective_batch_size": 4,
             "query_max_new_tokens": 4, "k": 4}
    (tmp_path / "flags.yaml").write_text(yaml.safe_dump(flags))
    out = tmp_path / "rep"
    argv = ["--task", "sst2", "--seeds", "1", "2", "--output_dir", str(out), "--stage_config",
            str(tmp_path / "flags.yaml"), "--safety_n_test", "2"]
    main(argv)
    table = pd.read_csv(out / "results_table.csv")
    assert sorted(table["method"].unique()) == sorted(METHOD_NAMES.values())
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

"""The study driver (common/study.py) without training: a fake stage writes results like the real one, with
accuracies chosen so that UF beats naive W2S in every seed and RW is within the seed spread."""
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from common import study as study_module
from common.errors import UserError
from common.replicate import finished_run

LEVELS = {50: 0.65, 150: 0.75}
UF_GAIN = {1: 0.032, 2: 0.034, 3: 0.036}         # above naive in every seed: beyond the spread
RW_GAIN = {1: 0.010, 2: -0.010, 3: 0.005}        # both signs: within the spread


def naive_accuracy(seed, level, variants, epochs):
    return 0.70 + LEVELS[level] / 10 + 0.01 * seed + 0.02 * variants + 0.01 * (epochs > 1)


def accuracy(key, seed, level, variants, epochs):
    base = naive_accuracy(seed, level, variants, epochs)
    return {"weak": LEVELS[level] + 0.01 * seed + 0.02 * variants, "ceiling": 0.9, "uf": base + UF_GAIN[seed],
            "rw": base + RW_GAIN[seed], "rw_unlikelihood": base - 0.001, "oracle_filter": base + 0.05}.get(key, base)


def parse(argv):
    """--flag value(s) pairs; a flag without a value is True."""
    flags, name = {}, None
    for token in argv:
        if token.startswith("--"):
            name = token[2:]
            flags[name] = True
        else:
            flags[name] = token if flags[name] is True else f"{flags[name]} {token}"
    return flags


@pytest.fixture
def fake_stage(monkeypatch):
    """Replaces the driver's run_stage; records (cell, seed, key, flags) of every call."""
    calls = []

    def run_stage(task_cls, method, argv):
        flags, key = parse(argv), method.key
        assert Path(flags["config"]).exists()
        out = Path(flags["output_dir"])
        calls.append((out.parent.name, int(flags["seed"]), key, flags))
        root = out / "sst2"
        seed, level, epochs = int(flags["seed"]), int(flags["train_limit"]), float(flags["epochs"])
        acc = accuracy(key, seed, level, "weak_sft_variants" in flags, epochs)
        stem = f"{key}_sampling={'do_sampling' in flags}"
        record = {"dataset": "sst2", "n": 872, "accuracy": acc, "method": method.label, "method_key": key,
                  "do_sampling": "do_sampling" in flags, "settings": {"run_name": stem},
                  "config": {"seed": seed, "epochs": epochs, "train_limit": level, "do_sampling": "do_sampling" in flags,
                             "weak_model_name": "SmolLM2-135M", "strong_model_name": "Gemma3-270M",
                             "weak_sft_variants": "weak_sft_variants" in flags},
                  "training_label_accuracy": {"naive": 0.7, "uf": 0.8 + 0.01 * seed}.get(key),
                  "training_label_accuracy_weighted": None,  # RW + unlikelihood of seed 1: one class only
                  "report": {"0": {"recall": 0.0 if (key, seed) == ("rw_unlikelihood", 1) else 0.7}, "1": {"recall": 1.0},
                             "accuracy": acc, "macro avg": {"recall": 0.5}, "weighted avg": {"recall": 0.5}}}
        if key == "uf":  # seed 1's median rule keeps every variant row
            record.update(rows_total=80, rows_kept=80 if seed == 1 else 40 + level // 50)  # 41 or 43 of 80
        if key == "weak":
            record["adapter"] = "weak-adapter"
            (root / "models" / "weak-adapter").mkdir(parents=True)
            (root / "models" / "weak-adapter" / "adapter_model.safetensors").write_text(f"weights {level}")
            (root / "cache").mkdir()
            (root / "cache" / "weak_labels.jsonl").write_text("{}\n")
            (root / "weak_labels.csv").write_text("a,b\n")
        (root / "results").mkdir(parents=True, exist_ok=True)
        (root / "results" / f"{stem}_predictions.csv").write_text("label,prediction\n")
        (root / "results" / f"{stem}.txt").write_text(f"Accuracy: {acc}\n")
        (root / "results" / f"{stem}.json").write_text(json.dumps(record))
        return {"accuracy": acc}

    monkeypatch.setattr(study_module, "run_stage", run_stage)
    return calls


def write_config(path, **changes):
    config = {"task": "sst2", "seeds": [1, 2, 3], "weight_unlike": 1.0, "stage_flags": {"transfer_limit": 20, "k": 4},
              "weak_flags": {"epochs": 2}, "weak_levels": [50, 150], "variant_levels": [150],
              "methods": ["naive", "ceiling", "uf", "rw", "rw_unlikelihood", "oracle_filter"],
              "epoch_settings": [{"epochs": 1, "methods": "all"}, {"epochs": 3, "methods": ["naive", "uf"]}]}
    path.write_text(yaml.safe_dump({**config, **changes}))
    return path


CELLS_EP1 = ["weak50-base-ep1", "weak150-base-ep1", "weak150-var-ep1"]
CELLS_EP3 = ["weak50-base-ep3", "weak150-base-ep3", "weak150-var-ep3"]


def test_study_runs_every_cell_once_resumes_and_reports(fake_stage, tmp_path, capsys):
    config, out, pub = write_config(tmp_path / "study.yaml"), tmp_path / "out", tmp_path / "pub"
    argv = ["--config", str(config), "--output_dir", str(out), "--publish_dir", str(pub)]
    study_module.main(argv)
    ran = Counter((cell, seed, key) for cell, seed, key, _ in fake_stage)
    expected = {(cell, seed, key) for seed in (1, 2, 3)
                for cell in CELLS_EP1 for key in ["weak", "naive", "uf", "rw", "rw_unlikelihood", "oracle_filter"]}
    expected |= {(cell, seed, key) for seed in (1, 2, 3) for cell in CELLS_EP3 for key in ["naive", "uf"]}
    expected |= {("weak50-base-ep1", seed, "ceiling") for seed in (1, 2, 3)}  # once per (seed, epochs), then copied
    assert set(ran) == expected and set(ran.values()) == {1}
    order = list(dict.fromkeys((cell, seed) for cell, seed, _, _ in fake_stage))  # cell by cell, its seeds in turn
    assert [cell for cell, _ in order] == sorted((cell for cell, _ in order), key=[c for c, _ in order].index)
    assert all(seeds == sorted(seeds) for seeds in [[s for c, s in order if c == cell] for cell, _ in order])
    for cell, seed, key, flags in fake_stage:
        level, variants, epochs = cell.split("-")
        assert flags["train_limit"] == level[4:] and flags["seed"] == str(seed)
        assert flags["epochs"] == ("2" if key == "weak" else f"{float(epochs[2:])}")
        assert ("weak_sft_variants" in flags) == (variants == "var" and key != "ceiling")
        assert ("do_sampling" in flags) == (key in ("uf", "rw", "rw_unlikelihood", "oracle_filter"))
        assert flags.get("weight_unlike") == {"rw": "0.0", "rw_unlikelihood": "1.0"}.get(key)
    for cell in CELLS_EP3:  # seeded from the 1-epoch cell: adapter, cache, answers, results; the weak stage done
        root = out / "cells" / cell / "seed_2" / "sst2"
        assert (root / "models" / "weak-adapter" / "adapter_model.safetensors").exists()
        assert (root / "cache" / "weak_labels.jsonl").exists() and (root / "weak_labels.csv").exists()
        assert finished_run(root, "weak", False, "var" in cell)["accuracy"] == pytest.approx(accuracy("weak", 2, int(cell[4:].split(
            "-")[0]), "var" in cell, 1))
    assert finished_run(out / "cells" / "weak150-var-ep1" / "seed_3" / "sst2", "ceiling", False)["accuracy"] == 0.9

    table = pd.read_csv(out / "study_table.csv")
    assert len(table) == 3 * (3 * 7 + 3 * 3)
    one = table[(table["cell"] == "weak150-var-ep1") & (table["seed"] == 2)].set_index("method_key")
    naive = 0.70 + 0.075 + 0.02 + 0.02
    assert one.loc["naive", "accuracy"] == pytest.approx(naive) and one.loc["naive", "minus_naive"] == 0
    assert one.loc["uf", "minus_naive"] == pytest.approx(0.034) and one.loc["rw", "minus_naive"] == pytest.approx(-0.01)
    assert one.loc["ceiling", "minus_naive"] == pytest.approx(0.9 - naive)
    assert one["weak_accuracy"].to_list() == pytest.approx([0.75 + 0.02 + 0.02] * len(one))
    assert set(table[table["cell"] == "weak50-base-ep3"]["epochs"]) == {3.0}

    for name in ["fig_diff_ep1.png", "fig_diff_ep3.png", "fig_labels_vs_accuracy.png", "REPORT.md", "cells.md"]:
        assert (out / name).stat().st_size > 0 and (pub / name).exists()
    report = (out / "REPORT.md").read_text()
    assert "- UF: 6 of 6 cells have 2 or more seeds; above naive W2S beyond the spread in 6 (" in report
    assert "- RW: 3 of 3 cells have 2 or more seeds; above naive W2S beyond the spread in 0 (none)" in report
    assert "no UF or RW variant beats" not in report and "## Are UF's kept labels more often right" in report
    uf_labels = report.split("## Are UF's kept labels")[1].split("##")[0]
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in uf_labels.splitlines()
            if line.startswith("| weak")}
    assert rows == {cell: "1.00, 0.51, 0.51" if cell.startswith("weak50-") else "1.00, 0.54, 0.54"
                    for cell in CELLS_EP1 + CELLS_EP3}  # each cell's own shares, seeds 1-3
    assert sorted(table[table["method_key"] == "uf"]["rows_kept_share"]) == [0.5125] * 4 + [0.5375] * 8 + [1.0] * 6
    assert "0.7700 ± 0.0100" in report  # the base weak supervisor of level 150: 0.76, 0.77, 0.78
    assert set(table["lowest_recall"]) == {0.0, 0.7}
    one_class = report.split("## W2S students that miss a class")[1].split("##")[0]
    assert one_class.count("RW + unlikelihood (1)") == 3 and one_class.count("none") == 3  # the ep1 / ep3 cells
    assert (pub / "cells" / "weak50-base-ep3" / "seed_1" / "sst2" / "results" / "weak_sampling=False.json").exists()
    published = {p.suffix for p in pub.rglob("*") if p.is_file()}
    assert published <= {".json", ".txt", ".md", ".png", ".csv", ".yaml"}
    assert not list(pub.rglob("models")) and not list(pub.rglob("cache")) and not list(pub.rglob("*_predictions.csv"))

    capsys.readouterr()
    before = len(fake_stage)
    study_module.main(argv)  # everything finished: nothing runs again
    assert len(fake_stage) == before and capsys.readouterr().out.count("done before") == len(table)

    (pub / "NOTES.md").write_text("A person's reading.\n")
    study_module.main(argv + ["--report_only"])
    assert "A person's reading." in (pub / "REPORT.md").read_text() and len(fake_stage) == before


def test_max_minutes_zero_runs_nothing_new(fake_stage, tmp_path, capsys):
    config = write_config(tmp_path / "study.yaml")
    study_module.main(["--config", str(config), "--output_dir", str(tmp_path / "out"), "--publish_dir", "",
                       "--max_minutes", "0"])
    assert fake_stage == [] and "--max_minutes 0 reached" in capsys.readouterr().out


def test_subset_of_seeds_and_cells(fake_stage, tmp_path):
    config = write_config(tmp_path / "study.yaml")
    argv = ["--config", str(config), "--output_dir", str(tmp_path / "out"), "--publish_dir", ""]
    study_module.main(argv + ["--seeds", "2", "--cells", "weak150-base-ep3"])  # no 1-epoch cell: trains its own weak
    assert [(c, s, k) for c, s, k, _ in fake_stage] == [("weak150-base-ep3", 2, k) for k in ("weak", "naive", "uf")]
    fake_stage.clear()
    study_module.main(argv + ["--seeds", "2", "--cells", "weak150-base-ep1"])  # its weak supervisor comes from ep3
    assert "weak" not in [k for _, _, k, _ in fake_stage] and len(fake_stage) == 6
    with pytest.raises(UserError, match="unknown cells"):
        study_module.main(argv + ["--cells", "weak7-base-ep1"])
    write_config(config, stage_flags={"transfer_limit": 40, "k": 4})  # other sizes: not into the same folder
    with pytest.raises(UserError, match="changes \\['stage_flags'\\]"):
        study_module.main(argv)
    write_config(config, weak_levels=[50, 150, 1000])  # more cells, same settings: fine
    study_module.main(argv + ["--max_minutes", "0"])


def test_compare_to_puts_a_recheck_beside_the_committed_runs(fake_stage, tmp_path, capsys):
    config, first, again = write_config(tmp_path / "study.yaml"), tmp_path / "first", tmp_path / "again"
    argv = ["--config", str(config), "--publish_dir", "", "--seeds", "1", "--cells", "weak150-base-ep3"]
    study_module.main(argv + ["--output_dir", str(first)])
    committed = pd.read_csv(first / "study_table.csv")
    assert list(committed["method_key"]) == ["weak", "naive", "uf"]
    committed.loc[committed["method_key"] == "uf", "accuracy"] -= 0.02  # a committed UF run 2 points lower
    committed[committed["method_key"] != "naive"].to_csv(tmp_path / "committed.csv", index=False)
    capsys.readouterr()
    study_module.main(argv + ["--output_dir", str(again), "--compare_to", str(tmp_path / "committed.csv")])
    out = capsys.readouterr().out
    assert "1 of 2 runs found in the committed table have the same test accuracy (to 4 decimals); 1 are not in it" in out
    compared = pd.read_csv(again / "compare.csv").set_index("method_key")
    assert compared.loc["uf", "accuracy_difference"] == pytest.approx(0.02)
    assert compared.loc["uf", "accuracy"] == pytest.approx(0.70 + 0.075 + 0.01 + 0.01 + 0.032)
    assert compared.loc["weak", "accuracy_difference"] == 0 and pd.isna(compared.loc["naive", "accuracy_committed"])
    assert compared.loc["uf", "label_accuracy_committed"] == pytest.approx(0.81)
    (tmp_path / "pub").mkdir()
    full = pd.read_csv(first / "study_table.csv")
    pd.concat([full, full.iloc[[2]].assign(seed=2)]).to_csv(tmp_path / "pub" / "study_table.csv", index=False)
    study_module.main(argv + ["--output_dir", str(tmp_path / "third"), "--publish_dir", str(tmp_path / "pub")])
    assert "not copied to" in capsys.readouterr().out and not (tmp_path / "pub" / "REPORT.md").exists()
    pd.concat([full, full.iloc[[1]].assign(cell="weak50-base-ep1")]).to_csv(tmp_path / "pub" / "study_table.csv",
                                                                             index=False)  # another cell of it
    study_module.main(argv + ["--output_dir", str(tmp_path / "third"), "--publish_dir", str(tmp_path / "pub")])
    assert "not copied to" in capsys.readouterr().out and not (tmp_path / "pub" / "REPORT.md").exists()
    full.iloc[:2].to_csv(tmp_path / "pub" / "study_table.csv", index=False)
    study_module.main(argv + ["--output_dir", str(tmp_path / "third"), "--publish_dir", str(tmp_path / "pub")])
    assert "not copied to" not in capsys.readouterr().out and (tmp_path / "pub" / "REPORT.md").exists()
    with pytest.raises(UserError, match="--compare_to .*no such file"):
        study_module.main(argv + ["--output_dir", str(again), "--compare_to", str(tmp_path / "missing.csv")])


def test_a_copied_weak_supervisor_replaces_what_a_killed_run_left(fake_stage, tmp_path):
    config = write_config(tmp_path / "study.yaml")
    argv = ["--config", str(config), "--output_dir", str(tmp_path / "out"), "--publish_dir", "", "--seeds", "1"]
    study_module.main(argv + ["--cells", "weak150-base-ep1"])
    stale = tmp_path / "out" / "cells" / "weak150-base-ep3" / "seed_1" / "sst2" / "models" / "weak-adapter"
    stale.mkdir(parents=True)  # a weak run killed mid-way in the 3-epoch cell: half-written weights
    (stale / "adapter_model.safetensors").write_text("half")
    fake_stage.clear()
    study_module.main(argv + ["--cells", "weak150-base-ep3"])
    assert "weak" not in [k for _, _, k, _ in fake_stage]
    assert (stale / "adapter_model.safetensors").read_text() == "weights 150"


def test_variant_methods_narrows_the_variant_trained_cells_only(fake_stage, tmp_path):
    config = write_config(tmp_path / "study.yaml", variant_methods=["naive", "uf"])
    cells = {cell.id: cell.methods for cell in study_module.load_study(str(config)).cells}
    assert cells["weak150-var-ep1"] == ("naive", "uf") and cells["weak150-var-ep3"] == ("naive", "uf")
    assert cells["weak150-base-ep1"] == ("naive", "ceiling", "uf", "rw", "rw_unlikelihood", "oracle_filter")
    study_module.main(["--config", str(config), "--output_dir", str(tmp_path / "out"), "--publish_dir", "",
                       "--seeds", "1", "--cells", "weak150-var-ep1"])
    assert [k for _, _, k, _ in fake_stage] == ["weak", "naive", "uf"]


@pytest.mark.parametrize("changes, message", [
    ({"variant_methods": ["uf", "nope"]}, "variant_methods: unknown methods \\['nope'\\]"),
    ({"variant_methods": None}, "variant_methods is 'all' or a list of methods, not None"),
    ({"variant_methods": []}, "variant_methods is 'all' or a list"),
    ({"methods": ["naive", "no_such_method"]}, "unknown methods \\['no_such_method'\\]"),
    ({"weak_levels": []}, "weak_levels needs at least one"),
    ({"epoch_settings": []}, "epoch_settings needs at least one"),
    ({"variant_levels": [999]}, "variant_levels \\[999\\]"),
    ({"stage_flags": {"epochs": 2, "no_flag": 1}}, "unknown flags \\['no_flag'\\].*cannot set \\['epochs'\\]"),
    ({"weak_flags": {}}, "weak_flags needs epochs"),
    ({"surprise": 1}, "unknown keys \\['surprise'\\]"),
    ({"epoch_settings": [{"epochs": 3, "methods": ["naive"]}, {"epochs": 3, "levels": [150], "methods": ["uf"]}]},
     "cells \\['weak150-base-ep3', 'weak150-var-ep3'\\] more than once"),
])
def test_a_bad_config_is_one_clear_error(fake_stage, tmp_path, changes, message):
    config = write_config(tmp_path / "study.yaml", **changes)
    with pytest.raises(UserError, match=message):
        study_module.main(["--config", str(config), "--output_dir", str(tmp_path / "out"), "--publish_dir", ""])
    assert fake_stage == []


def test_the_shipped_config_is_valid():
    from conftest import REPO

    study = study_module.load_study(str(REPO / "sst2" / "study.yaml"))
    ids = [cell.id for cell in study.cells]
    assert ids == ["weak600-base-ep3", "weak1000-base-ep1", "weak600-base-ep1", "weak400-base-ep1",
                   "weak600-var-ep1", "weak400-base-ep3"]  # 3 epochs first at the middle level, last at the lowest
    assert {"naive", "uf", "random_filter", "oracle_filter"} <= set(study.cells[0].methods) and study.seeds == [1, 2, 3]
    by_id = {cell.id: cell for cell in study.cells}
    assert "confidence_filter" in by_id["weak600-base-ep1"].methods  # variant_methods narrows the var cell only
    assert "confidence_filter" not in by_id["weak600-var-ep1"].methods and "uf" in by_id["weak600-var-ep1"].methods
    assert "common.study --config sst2/study.yaml" in (REPO / "Makefile").read_text()


def test_x_window_widens_a_narrow_axis_only(monkeypatch, tmp_path):
    # one weak level: the dodged points span 0.003, which would read as three weak accuracies
    assert study_module.x_window(0.7470, 0.7500) == pytest.approx((0.6985, 0.7985))
    assert study_module.x_window(0.64, 0.84) == (0.64, 0.84)  # three levels: left alone
    limits = []
    monkeypatch.setattr(study_module, "finish", lambda plt, fig, ax, *rest: [limits.append(ax.get_xlim()),
                                                                            plt.close(fig)])
    table = pd.DataFrame({"epochs": 3.0, "method_key": ["uf", "oracle_filter"] * 3, "method": ["UF", "oracle"] * 3,
                          "weak_prompts": "base", "weak_level": 600, "weak_accuracy": [0.75] * 6,
                          "minus_naive": [0.01, 0.02, -0.01, 0.03, 0.0, 0.04]})
    study_module.diff_figure(table, 3.0, tmp_path / "fig.png", "SST-2")  # one level: the figure's axis is widened
    assert limits[0][1] - limits[0][0] == pytest.approx(0.1)

"""The method registry: a method is one file in this folder, as a dataset is one folder.

A method declares, as data, its key and label, the original's script (if it had one), which model it trains, its
flag groups, its loss, and its defaults (`MethodDefaults`: which of the dataset's train fractions and sampling
rules it uses, the original's batching, its output-name pattern); as code, one function, `build`, that turns the
stage's inputs (the pools, the weak labels or the weak model's variant answers, the run's config) into training
rows and the numbers its results .json records. The stage runner (common/runner.py `run_method`), the
scripts, `python -m common run --stage KEY`, the replication, the results table, the figures and the safety table
read everything from here: a new method needs no edit elsewhere.

A dataset's quirk for one method (ETHICS' batching, MMLU's ceiling name) is an entry of its
`TaskFacts.method_overrides`, checked against `MethodDefaults`. See README, "Adding a method".
"""
import importlib
import pkgutil
from dataclasses import fields
from pathlib import Path

from ..config import RunConfig
from ..errors import UserError
from .base import METHODS, Method, MethodDefaults, TrainingSet, register_method

__all__ = ["METHODS", "Method", "MethodDefaults", "TrainingSet", "register_method", "discover_methods", "get_method",
           "make_config", "method_of_record", "method_of_script", "sampling_of_record", "script_name", "check_overrides"]


def discover_methods() -> dict[str, Method]:
    """Import every module of this folder (each registers its method) and return the registry, in table order."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return dict(sorted(METHODS.items(), key=lambda item: (item[1].order, item[0])))


def get_method(key: str) -> Method:
    methods = discover_methods()
    if key not in methods:
        raise UserError(f"unknown method {key!r}; registered: {', '.join(methods)}")
    return methods[key]


def method_of_script(file_name: str) -> Method:
    """The method whose original script is `file_name` (a dataset folder's entry script)."""
    for method in discover_methods().values():
        if method.script and Path(file_name).match(method.script):
            return method
    scripts = [m.script for m in discover_methods().values() if m.script]
    raise ValueError(f"{file_name} is not one of the stage scripts ({', '.join(scripts)})")


def script_name(folder: Path, key: str) -> str:
    """How to run method `key` for the dataset in `folder` (for messages)."""
    return get_method(key).script_in(folder)


def method_of_record(record: dict) -> str:
    """The method key of a results .json: its `method_key`, else (written before the registry) its label or
    its stage."""
    if record.get("method_key"):
        return record["method_key"]
    methods = discover_methods()
    by_label = {m.label: k for k, m in methods.items()}
    legacy_stage = {"weak_supervisor": "weak", "naive_w2s": "naive", "ceiling": "ceiling",
                    "uncertainty_filtering": "uf", "reweighting": "rw"}
    return by_label.get(record.get("method"), legacy_stage.get(record.get("stage"), record.get("method", "")))


def sampling_of_record(record: dict) -> bool:
    """Whether a results .json's run used --do_sampling (its `do_sampling`, else its config's)."""
    flag = record.get("do_sampling")
    return bool(flag if flag is not None else record.get("config", {}).get("do_sampling", False))


def check_overrides(facts) -> None:
    """A dataset's method_overrides name registered methods and MethodDefaults fields only."""
    names = {f.name for f in fields(MethodDefaults)}
    methods = discover_methods()
    for key, values in facts.method_overrides.items():
        if key not in methods:
            raise UserError(f"{facts.name}: method_overrides names {key!r}, which is no registered method")
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(f"{facts.name}: method_overrides[{key!r}] sets {unknown}, not fields of MethodDefaults")


def make_config(key: str, task_cls=None, **values) -> RunConfig:
    """A config for method `key` with default flags and `values` (flag name -> value) applied; for tests and
    scripts."""
    method = get_method(key)
    return RunConfig.create(key, method.flag_groups(task_cls), **values)

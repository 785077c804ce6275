"""The code's shape: no import cycle in common/ (imports inside functions counted), common/ never imports
safety/, every method registered with what the harness needs, and the dataset's method overrides valid."""
import ast
from pathlib import Path

import pytest
from conftest import REPO

from common.methods import MethodDefaults, check_overrides, discover_methods
from common.tasks import discover_tasks


def module_imports(path: Path, package_root: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (function bodies too), as dotted names."""
    module = ".".join(path.relative_to(package_root).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from . import x` may name a module
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of common/ it imports. The method registry imports every file of common/methods/
    by discovery (importlib), so the package counts as importing each of them."""
    files = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (REPO / "common").rglob("*.py")}
    graph = {name: {m for m in module_imports(path, REPO) if m in files and m != name} for name, path in files.items()}
    graph["common.methods"] |= {m for m in files if m.startswith("common.methods.") and m != "common.methods.base"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_common():
    graph = import_graph()
    assert "common.pipelines" in graph and "common.methods" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_common_never_imports_safety():
    for path in (REPO / "common").rglob("*.py"):
        assert not any(m == "safety" or m.startswith("safety.") for m in module_imports(path, REPO)), path


def test_every_method_declares_what_the_harness_needs():
    methods = discover_methods()
    assert list(methods)[:6] == ["weak", "naive", "ceiling", "uf", "rw", "rw_unlikelihood"]
    labels = [m.label for m in methods.values()]
    assert len(set(labels)) == len(labels)
    from common.losses import LOSSES

    for key, method in methods.items():
        assert method.key == key and method.trains in ("weak", "strong") and method.loss in LOSSES
        assert isinstance(method.defaults, MethodDefaults) and method.defaults.run_name, key
        assert "{sampling}" in method.defaults.run_name or not method.defaults.sampling, key  # never share a file


@pytest.mark.parametrize("name", sorted(discover_tasks()))
def test_dataset_overrides_name_methods_and_their_fields(name):
    check_overrides(discover_tasks()[name].facts)


def test_a_bad_override_is_refused():
    from dataclasses import replace

    from common.errors import UserError

    facts = discover_tasks()["mmlu"].facts
    with pytest.raises(UserError, match="no registered method"):
        check_overrides(replace(facts, method_overrides={"uf2": {}}))
    with pytest.raises(UserError, match="not fields of MethodDefaults"):
        check_overrides(replace(facts, method_overrides={"uf": {"batch": 3}}))


def test_the_readmes_method_example_is_one_complete_file(tmp_path, monkeypatch):
    """The file under README's "Adding a method", loaded as a module of common/methods/, registers and runs
    through the shared runner with no other edit (the weak model and training replaced by stand-ins)."""
    import importlib.util
    import re
    import sys

    import common.methods as methods
    import common.runner as runner
    import common.weak_answers as weak_answers

    readme = (REPO / "README.md").read_text()
    code = re.search(r"## Adding a method\n.*?```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "oracle_naive.py").write_text(code)
    spec = importlib.util.spec_from_file_location("common.methods.oracle_naive", tmp_path / "oracle_naive.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    method = methods.METHODS.pop("oracle_naive")  # registered; taken out again so that other tests never see it

    seen = []
    monkeypatch.setattr(runner, "train_save_evaluate", lambda task, cfg, method, settings, examples, pools, extra:
                        seen.append((settings, examples, extra)) or {})
    # the weak model's naive answers: the gold letter for even rows, "Z" for odd ones
    monkeypatch.setattr(weak_answers, "query_weak", lambda task, cfg, prompts, tokens, name: [
        " " + row.target if i % 2 == 0 else " Z" for i, row in enumerate(task.load_pools(42).transfer.itertuples())])
    task_cls = discover_tasks()["mmlu"]
    from common.config import RunConfig

    cfg = RunConfig.create("oracle_naive", method.flag_groups(task_cls), output_dir=str(tmp_path), train_fraction=1.0)
    runner.run_method(task_cls(task_cls.folder / "sample", cfg), cfg, method)
    settings, examples, extra = seen[0]
    assert settings.run_name == "Gemma3-270M-mmlu-oracle-naive-from-SmolLM2-135M"
    assert len(examples) == extra["kept"] == 4 and extra["training_label_accuracy"] == 1.0  # 4 of the 8 are right

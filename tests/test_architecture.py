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
    files = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (REPO / "common").rglob("*.py")}
    return {name: {m for m in module_imports(path, REPO) if m in files and m != name} for name, path in files.items()}


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

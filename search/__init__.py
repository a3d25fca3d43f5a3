"""Accord's query side: open an index with `Engine.open(path)` and `search` it.

Names are imported on first use (PEP 562), so the command line's `--help` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {name: "search.engine" for name in ("Engine", "RankingConfig")}
_EXPORTS.update({
    name: "search.results" for name in ("Candidate", "Facets", "Hit", "IndexStats", "LegScore", "SearchResult")
})
_EXPORTS["Filters"] = "index.filters"
_EXPORTS["Feedback"] = _EXPORTS["VectorFeedback"] = "search.feedback"
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")

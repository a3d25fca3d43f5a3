"""Accord's build side: clean articles and build the keyword and embedding indexes with `build`.

Names are imported on first use (PEP 562), so importing `index.errors` or `index.storage.location`
stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Article": "index.text.articles",
    "Skipped": "index.text.articles",
    "BuildReport": "index.pipeline.builder",
    "build": "index.pipeline.builder",
    "BuildSettings": "index.storage.manifest",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")

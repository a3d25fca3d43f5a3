"""`accord serve`: a web page for analysts and a JSON API over one shared index.

    from search.web import create_app, Server
    app = create_app("/tmp/accord-index")          # an ASGI app (FastAPI)
    Server(Path("/tmp/accord-index")).run()        # the same on uvicorn at 127.0.0.1:8765

Parts: `app` (the application), `api` (the /api routes), `live` (the shared Engine that follows
new index generations), `security` (token, headers, limits), `server` (uvicorn, with background work such as watchers),
`connections` (deadlines and fair shares for each HTTP connection),
`models` (response models), `static/` (the page and vendored assets). Names are imported on
first use, so `accord --help` never imports FastAPI.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "search.web.app",
    "LiveEngine": "search.web.live",
    "Server": "search.web.server",
    "serve": "search.web.server",
    "check_bind": "search.web.security",
    "load_token": "search.web.security",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'search.web' has no attribute {name!r}")

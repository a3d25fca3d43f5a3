"""Where the index lives when no directory is given."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ACCORD_INDEX"


def default_index_dir() -> Path:
    """`$ACCORD_INDEX` if set, else `$XDG_DATA_HOME/accord/index` (`~/.local/share/accord/index`)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "accord" / "index"

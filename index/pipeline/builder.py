"""Building and updating an index: find what changed, clean, split, embed, write, switch.

Incremental. The article store records every source file with its size, modification time and
content hash. An update stats every source file, reads only those whose size or time changed
(and re-indexes them only if their bytes changed), and removes the articles of files that are
gone. Unchanged articles are neither re-read nor re-embedded; new passages are embedded through
a cache keyed by content hash, so even a re-read article whose text is unchanged costs nothing.
A source folder or file that is gone as a whole is reported and its articles are kept (a
disconnected drive must not empty the index) until `forget` names it.

Large files. Sizes are checked by stat before anything is read; a file over the limit is warned
about at once and read last, alone, after every smaller file has been published, so a huge
file never keeps the rest from becoming searchable and only one is in memory at a time. Its
article is published whole (an article is the unit of the stores), its passages embedded
through the cache slice by slice, so a killed run re-embeds nothing it finished.

Commit protocol: an `IndexDirectory` write transaction (index.storage.directory). It takes the
write lock first, then reads the manifest and the known sources, so a writer that waited
builds on the latest generation. Each batch of about `commit_every` passages goes into a new
generation folder (a copy of the last one), is flushed, and is published by replacing
`manifest.json` atomically: a long update becomes searchable batch by batch, and a killed one
keeps the batches it published; the next run re-reads only the files not yet recorded (a file's
record is written with its last article) and finds their passages in the embedding cache.
Readers see one complete generation or the next, never a mix; a failed run removes its partial
generation. Old generations are removed once no reader holds a lease on them.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

from index.embedding.cache import EmbeddingCache
from index.embedding.encoder import MINILM_NAME, Encoder, encoder_for
from index.errors import IndexIncompatible, IndexWriteError, InvalidArgument, SourceNotFound
from index.extras import require
from index.storage.base import Store
from index.storage.docstore import DocStoreWriter, FileRecord
from index.storage.factory import open_store
from index.storage.faults import corrupted, is_corruption, is_disk_full
from index.storage.layout import CACHE_FILE as LAYOUT_CACHE_FILE
from index.storage.manifest import FORMAT_VERSION, BuildSettings, Manifest
from index.storage.transaction import WriteTransaction
from index.text.articles import (
    ONE_ARTICLE_KINDS,
    Article,
    ReadOptions,
    Skipped,
    input_kind,
    iter_input_files,
    qualified_id,
    read_articles,
    source_label,
    text_article_id,
    unstorable_paths,
)
from index.text.countries import article_countries
from index.text.defence import extract
from index.text.duplicates import band_keys, component, signature, signature_from_bytes, similar_enough
from index.text.passages import SPLITTERS, Passage, split_passages

CACHE_FILE = Path(LAYOUT_CACHE_FILE)
# A file modified this recently may still change within the file system's time resolution
# without its size changing; it is re-hashed on the next run rather than trusted by its stat.
_RACY_SECONDS = 2.0
# Passages embedded per published generation. Each publish copies the generation (seconds at
# 100k passages) and makes the work so far searchable; 10,000 passages take minutes to embed
# with the real model on a laptop, so a large update shows results early and a killed one
# keeps most of its work.
COMMIT_EVERY = 10_000
# Seconds after which the work so far is published even before `commit_every` passages: the
# first articles of a big build are searchable within about a minute, whatever the model's speed.
PUBLISH_SECONDS = 60.0
# The path that means "JSON lines on standard input".
STDIN_PATH = "-"
# Files larger than this are indexed with a warning (or refused, by choice): 20 MB of text is
# ~60,000 passages, an hour of embedding on two cores.
MAX_FILE_MB = 20.0
# Passages looked up in (and added to) the embedding cache at a time.
EMBED_SLICE = 4096

# Progress callback: (stage, done, total). Stages: "read" (files), "split" (articles),
# "embed" (passages: every article of a round is split before embedding starts, so the total
# is exact; it grows only when a large file's own round begins).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildReport:
    """What a build did, compared with the index it replaced.

    `skipped` lists the inputs read in this run that could not be indexed; files that did not
    change are not read again, so their problems were reported when they were read. `warnings`
    are one-line notes for the user (a source that is gone, a large file, a damaged cache set
    aside); `missing_sources` the known sources that are gone (their articles are kept until
    forgotten); `generations` how many generations this run published (one per batch);
    `stage_seconds` the wall time of each stage of this very build: `read` (reading, cleaning,
    countries), `split`, `embed` (cache lookups and the model), `articles`, `vectors` and
    `keyword` (writing each store), `entities` (extracting the defence facts of the articles
    written) and `publish` (fsync and the manifest switch).
    """

    index_dir: str
    articles: int
    passages: int
    added: int
    updated: int
    removed: int
    unchanged: int
    files_read: int
    embedded: int
    reused_embeddings: int
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_sources: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    generations: int = 1
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LargeFiles:
    """What to do with an input file over `max_mb`: index it with a warning, or refuse it."""

    max_mb: float = MAX_FILE_MB
    refuse: bool = False


def build(
    paths: Sequence[Path | str],
    index_dir: Path | str | Store,
    *,
    encoder: Encoder | None = None,
    settings: BuildSettings | None = None,
    model: str | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    embedding_cache: Path | None = None,
    lock_timeout: float = 0.0,
    forget: Sequence[Path | str] = (),
    commit_every: int = COMMIT_EVERY,
    large_files: LargeFiles | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_skipped: Callable[[Skipped], None] | None = None,
    read_options: ReadOptions | None = None,
    publish_seconds: float = PUBLISH_SECONDS,
    stdin: BinaryIO | None = None,
) -> BuildReport:
    """Build or update the index at `index_dir` from `paths` (folders or .txt/.jsonl files).

    The index remembers its source paths: `paths` are added to them, and every source is
    checked, so new and changed files are indexed and deleted ones drop out. With no `paths`,
    the known sources are checked. A known source that is gone is reported (its articles stay)
    and the rest is updated; `forget` removes sources and their articles. `rebuild=True` keeps
    the sources but builds from scratch, forgetting the old settings and model (and works when
    the manifest or the embedding cache is damaged); new `settings` also mean a build from
    scratch. The model is `encoder`, else the one named by `model`, else the index's own, else
    all-MiniLM-L6-v2. `embedding_cache` puts the vector cache elsewhere than `INDEX_DIR/cache`,
    to share it between indexes of the same texts.

    Every `commit_every` passages, and every `publish_seconds` of work (0: never by time), a
    generation is published, so a long update becomes searchable as it goes and a killed or
    interrupted one keeps what it published. Each input record that cannot be indexed goes to
    `on_skipped` the moment it is read (and into the report). `read_options` says how to read
    CSV/TSV files without a header row. A path "-" reads JSON lines from `stdin` (default: the
    process's standard input), kept as a file in the index's stdin folder, which becomes a source.

    Ids: an article keeps the id its input gives (a file's path under its source, a record's
    id). When that id is already another source's, the article is indexed under the
    source-qualified id `LABEL:ID` (see `articles.source_label`) and a warning says so, so
    sources never replace each other's articles and ids already in an index stay valid. `large_files` says what
    to do with huge inputs: sizes are checked before anything is read, and files over the limit
    are read last, one at a time, after the others are published. Each warning goes to
    `on_warning` the moment it is found (and into the report). A second writer waits `lock_timeout` seconds, then raises
    IndexLocked; the previous manifest and the known sources are read only once the lock is
    held. Bad paths raise SourceNotFound before anything is written; storage faults raise
    IndexWriteError / IndexCorrupted and leave the live index as it was.
    """
    store = open_store(index_dir)
    if commit_every < 1:
        raise InvalidArgument(f"commit_every must be at least 1, not {commit_every}")
    if any(str(p) == STDIN_PATH for p in paths):
        folder = save_stdin(stdin if stdin is not None else sys.stdin.buffer, store.default_cache_path)
        paths = [folder if str(p) == STDIN_PATH else p for p in paths]
    new_paths = [str(Path(p).resolve()) for p in paths]
    if not new_paths and not store.exists() and not store.recovered_sources():
        raise SourceNotFound("nothing to index: pass a folder or a .txt/.jsonl file")
    for path in new_paths:
        if not Path(path).exists() and path in store.known_sources():
            raise SourceNotFound(
                f"{path}: no such file or folder; it is a source of this index: if it moved, index its "
                f"new place and drop this one with 'accord index --forget {path}'"
            )
    _require_readers(iter_input_files(Path(p) for p in new_paths))  # SourceNotFound before anything is written
    if encoder is None:
        encoder = resolve_encoder(index_dir, model=model, rebuild=rebuild)
    encoder.prepare()  # e.g. export the ONNX model now, once, so that queries start without torch

    with store.transaction(lock_timeout=lock_timeout, fresh=rebuild) as tx:
        previous = tx.previous
        if previous and previous.model != encoder.name:
            raise IndexIncompatible(
                f"{store.location} was built with {previous.model}, not {encoder.name}; "
                "pass --rebuild to build it anew"
            )
        settings = settings or (previous.settings if previous else BuildSettings())
        if not 16 <= settings.passage_tokens <= encoder.max_tokens:
            raise ValueError(f"passage_tokens must be between 16 and {encoder.max_tokens}")
        if settings.sentence_splitter not in SPLITTERS:
            raise ValueError(f"sentence_splitter must be one of {', '.join(SPLITTERS)}")
        if previous and previous.settings != settings:
            previous = None  # other passages or boosts: nothing of the old generation can be reused
        sources, forgotten = _forget(_merge_sources(tx.sources, new_paths), forget)
        if not sources and not forgotten:
            raise SourceNotFound("nothing to index: pass a folder or a .txt/.jsonl file")
        present = [s for s in sources if Path(s).exists()]
        missing = [s for s in sources if s not in present]
        # A file whose name is not UTF-8 cannot be recorded in the store: reported, never read.
        files, unstorable = unstorable_paths(iter_input_files(Path(s) for s in present))
        _require_readers(files)  # a known source may hold HTML too
        for item in unstorable:
            if on_skipped is not None:
                on_skipped(item)
        update = _Update(tx, previous, encoder, settings, progress, large_files or LargeFiles(), on_warning)
        update.on_skipped = on_skipped
        update.read_options = read_options or ReadOptions()
        update.publish_seconds = publish_seconds
        report = update.run(files, sources, missing, forgotten, embedding_cache or store.default_cache_path, commit_every)
        return replace(report, skipped=unstorable + report.skipped) if unstorable else report


def _require_readers(files: Iterable[Path]) -> None:
    """Raise MissingExtra (one line naming the extra) when `files` hold HTML pages and the
    `html` extra is not installed, before anything is read or written."""
    if any((input_kind(f) or ("",))[0] == "html" for f in files):
        require("html")


def save_stdin(stream: BinaryIO, cache_path: Path) -> Path:
    """Keep the JSON lines on `stream` as a file named by its content hash in the stdin folder
    beside the embedding cache, and return the folder (a source, so later updates keep them).

    The same input piped twice is one file, so nothing is indexed twice."""
    data = stream.read()
    if not data.strip():
        raise InvalidArgument("standard input is empty; pipe JSON lines (one article per line) into 'accord index -'")
    folder = cache_path.parent / f"{cache_path.stem}-stdin"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"stdin-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    if not target.exists():
        partial = target.with_name(f".{target.name}.partial")  # hidden: never read half-written
        partial.write_bytes(data)
        os.replace(partial, target)
    return folder


def resolve_encoder(index_dir: Path | str | Store, *, model: str | None = None, rebuild: bool = False) -> Encoder:
    """The encoder `build` uses when given none: `model`, else the index's own, else all-MiniLM-L6-v2
    (e.g. to wrap it in a `DaskEncoder` before building)."""
    # Read without the lock only to pick the model; `build` checks it again under the lock.
    peeked = None if rebuild else open_store(index_dir).raw_manifest().get("model")
    return encoder_for(model or (peeked if isinstance(peeked, str) else None) or MINILM_NAME)


def _merge_sources(known: list[str], paths: Sequence[str]) -> list[str]:
    merged = list(known)
    for path in paths:
        if path not in merged:
            merged.append(path)
    return merged


def _forget(sources: list[str], forget: Sequence[Path | str]) -> tuple[list[str], list[str]]:
    """`sources` without those named in `forget`; an unknown name is an error listing the known."""
    forgotten = []
    for path in forget:
        resolved = str(Path(path).expanduser().resolve()) if Path(path).exists() else str(Path(path).expanduser().absolute())
        match = next((s for s in sources if s in (resolved, str(path))), None)
        if match is None:
            raise InvalidArgument(
                f"{path} is not a source of this index; its sources are: {', '.join(sources) or 'none'}"
            )
        sources = [s for s in sources if s != match]
        forgotten.append(match)
    return sources, forgotten


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


@dataclass
class _ChangeSet:
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


@dataclass
class _RunState:
    """What one run knows between its rounds: the store as the run has left it so far."""

    known_files: dict[str, FileRecord]  # the live store's files when the run began
    known: dict[str, tuple[str, str]]  # article id -> (content hash, file), kept current
    changed_files: set[str]  # files gone, changed (read so far) or large and not read yet
    retry: set[str]  # files read again to take over ids of a file that is gone
    to_read: int
    read: int = 0
    claimed: dict[str, str] = field(default_factory=dict)  # id -> file that took it in an earlier round

    def commit(self, changes: _ChangeSet) -> None:
        """Record a published round, so that the next one compares with what it wrote."""
        for article_id in changes.removed_ids:
            self.known.pop(article_id, None)
        for article, file in changes.add:
            self.known[article.id] = (article.content_hash, file)
        self.claimed.update(changes.wanted)


class _Update:
    """One run of the indexer, inside a write transaction (under the write lock)."""

    def __init__(
        self,
        tx: WriteTransaction,
        previous: Manifest | None,
        encoder: Encoder,
        settings: BuildSettings,
        progress: Progress | None,
        large_files: LargeFiles,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.on_warning = on_warning
        self.warnings: list[str] = []
        self.tx = tx
        self.previous = previous
        self.encoder = encoder
        self.settings = settings
        self.progress = progress
        self.large_files = large_files
        self.stage_seconds: dict[str, float] = {}
        self.on_skipped: Callable[[Skipped], None] | None = None
        self.read_options = ReadOptions()
        self.publish_seconds = PUBLISH_SECONDS
        self.last_publish = time.monotonic()  # the run's start counts as a publish
        self.embed_done = 0
        self.embed_total = 0

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - started

    def run(
        self,
        files: list[Path],
        sources: list[str],
        missing: list[str],
        forgotten: list[str],
        cache_path: Path,
        commit_every: int,
    ) -> BuildReport:
        for s in missing:
            self._warn(
                f"source {s} is gone; its articles stay in the index until 'accord index --forget {s}' removes them"
                if self.previous is not None
                else f"source {s} is gone, so its articles are not in the rebuilt index; 'accord index --forget {s}' drops it"
            )
        roots = [Path(s) for s in sources if s not in missing]
        with self._stage("read"):
            known_files, known = self._known()  # known: id -> (content hash, file)
            gone_files = sorted(f for f in set(known_files) - {str(p) for p in files} if not _under(f, missing))
            # A file that lost an id to a file now gone must be read again to take the id over.
            retry = {
                path for path, record in known_files.items()
                if gone_files and any(s.reason.startswith("duplicate id") for s in record.skipped)
            }
            to_check = [p for p in files if str(p) in retry or stat_changed(p, known_files.get(str(p)))]
            small, large, refused = self._by_size(to_check)
        self.cache_path = cache_path
        cache, cache_warning = _open_cache(cache_path, self.encoder.dim)
        for warning in cache_warning:
            self._warn(warning)
        # A large file is read only in its own round: until then it counts as changed.
        state = _RunState(known_files, known, {str(p) for p in large} | set(gone_files), retry, len(to_check))
        totals = {"embedded": 0, "new_passages": 0, "generations": 0, "articles": 0, "passages": 0}
        report = _ChangeSet(files=list(refused))
        self._skip(report, [s for r in refused for s in r.skipped])
        # The files under the size limit go first, together, and are published before any large
        # file is read: one huge file never keeps the rest from becoming searchable. Then each
        # large file alone, so that only one is held in memory.
        rounds = [small, *([path] for path in large)] if small or gone_files or refused or not large else [[p] for p in large]
        try:
            for number, paths in enumerate(rounds):
                with self._stage("read"):
                    changes = self._changes(paths, roots, state, gone_files if number == 0 else [])
                if number == 0:
                    changes.files += refused
                for batch, vectors, embedded, first, through in self._batches(changes, commit_every, cache):
                    self._commit_batch(changes, batch, vectors, embedded, first, through, sources, totals)
                    del batch, vectors  # the next batch is embedded, or the next file read, without them
                state.commit(changes)
                report.added += changes.added
                report.updated += changes.updated
                report.removed += changes.removed
                report.files += changes.files
                report.skipped += changes.skipped
                del changes  # a large file's articles go before the next one is read
        finally:
            cache.close()
        articles = totals["articles"]
        return BuildReport(
            index_dir=self.tx.store.location,
            articles=articles,
            passages=totals["passages"],
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            unchanged=articles - report.added - report.updated,
            files_read=len(report.files),
            embedded=totals["embedded"],
            reused_embeddings=totals["new_passages"] - totals["embedded"],
            skipped=report.skipped,
            warnings=self.warnings,
            missing_sources=missing,
            forgotten=forgotten,
            generations=totals["generations"],
            stage_seconds={name: round(seconds, 4) for name, seconds in self.stage_seconds.items()},
        )

    def _skip(self, changes: _ChangeSet, skipped: list[Skipped]) -> None:
        """Record skipped inputs for the report and pass each on now, as it is found."""
        changes.skipped += skipped
        if self.on_skipped is not None:
            for item in skipped:
                self.on_skipped(item)

    def _warn(self, warning: str) -> None:
        """Keep a warning for the report and pass it on now, so that the user sees it at once."""
        self.warnings.append(warning)
        if self.on_warning is not None:
            self.on_warning(warning)

    def _by_size(self, paths: list[Path]) -> tuple[list[Path], list[Path], list[FileRecord]]:
        """Split `paths` by their size (a stat, nothing read) into those under the limit, those
        over it (warned about now) and the records of those refused (over it, with refuse)."""
        large = self.large_files
        small: list[Path] = []
        big: list[Path] = []
        refused: list[FileRecord] = []
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                small.append(path)  # _read_file reports it
                continue
            megabytes = stat.st_size / 1e6
            if megabytes <= large.max_mb:
                small.append(path)
            elif large.refuse:
                # Size -1: checked again next run, so raising the limit takes effect.
                reason = (f"is {megabytes:,.1f} MB, over the {large.max_mb:g} MB limit; "
                          f"pass --max-file-mb {int(megabytes) + 1} to index it")
                refused.append(FileRecord(str(path), -1, stat.st_mtime_ns, "", [Skipped(str(path), reason)]))
            else:
                self._warn(
                    f"{path} is {megabytes:,.1f} MB (over {large.max_mb:g} MB): indexing it takes long, so it is "
                    "indexed last, after the other files are searchable (--refuse-large skips such files)"
                )
                big.append(path)
        return small, big, refused

    def _known(self) -> tuple[dict[str, FileRecord], dict[str, tuple[str, str]]]:
        """The live store's source files and its articles' (content hash, file), or nothing."""
        if self.previous is None:
            return {}, {}
        with self.tx.live_store() as store:
            if store is None:
                return {}, {}
            return store.files(), store.content_hashes()

    def _changes(self, paths: list[Path], roots: list[Path], state: _RunState, gone_files: list[str]) -> _ChangeSet:
        """Read `paths` and compare them with the store as this run has left it so far: which
        articles to add, update and delete.

        When two files hold the same id, a file that did not change keeps it; among files read
        in this run, one read in an earlier round (a smaller file) wins, then the first in path
        order. The other copy is reported as skipped. Files under a source that is gone are
        kept as they are.
        """
        changes = _ChangeSet(gone_files=gone_files)
        known_files, known, retry = state.known_files, state.known, state.retry
        reread: dict[str, list[Article]] = {}
        if self.progress and paths:
            self.progress("read", state.read, state.to_read)
        for path in paths:
            record, articles, _ = _read_file(path, roots, self.read_options)
            articles = [replace(a, countries=tuple(article_countries(a.title, a.body))) for a in articles]
            state.read += 1
            if self.progress:
                self.progress("read", state.read, state.to_read)
            old = known_files.get(record.path)
            if old is not None and old.sha256 == record.sha256 and record.path not in retry:
                # Touched, not changed: remember the new stat so it is not read again.
                changes.files.append(FileRecord(record.path, record.size, record.mtime_ns, old.sha256, old.skipped))
                continue
            changes.files.append(record)
            self._skip(changes, record.skipped)
            reread[record.path] = articles

        # Files changed in this run (or gone) give up their ids to the file read first.
        state.changed_files |= set(reread)
        changed_files = state.changed_files
        record_of = {r.path: r for r in changes.files}
        wanted: dict[str, tuple[Article, str]] = {}

        def other_owner(article_id: str, file: str) -> str | None:
            """The other file that holds `article_id` (None if free or this file's own)."""
            taken = article_id in wanted or article_id in state.claimed
            owner = (wanted[article_id][1] if article_id in wanted else state.claimed.get(article_id)
                     or known.get(article_id, ("", None))[1])
            return owner if owner is not None and owner != file and (taken or owner not in changed_files) else None

        for file, articles in reread.items():
            renamed: list[tuple[str, str, str]] = []  # (id, qualified id, owner)
            for article in articles:
                owner = other_owner(article.id, file)
                if owner is not None:
                    # Another source's id: this article keeps its own under its source's name.
                    qualified = qualified_id(article.id, source_label(Path(file), roots))
                    holder = other_owner(qualified, file)
                    if holder is not None:
                        duplicate = Skipped(article.path, f"duplicate id {article.id!r} (first in {owner}; "
                                            f"its qualified form {qualified!r} is taken too, by {holder})")
                        self._skip(changes, [duplicate])
                        record_of[file].skipped.append(duplicate)  # remembered: read again if the owner goes
                        continue
                    renamed.append((article.id, qualified, owner))
                    article = replace(article, id=qualified)
                wanted[article.id] = (article, file)
            if renamed:
                first_id, first_qualified, first_owner = renamed[0]
                self._warn(
                    f"{file}: {len(renamed)} id(s) already held by other sources are indexed source-qualified "
                    f"(e.g. {first_id!r}, taken by {first_owner}, is now {first_qualified!r})"
                )

        this_round = set(reread) | set(gone_files)
        for article_id, (_hash, file) in known.items():
            if file in this_round and article_id not in wanted:
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
        changes.wanted = {article_id: file for article_id, (_a, file) in wanted.items()}
        return changes

    def _batches(self, changes: _ChangeSet, commit_every: int, cache: EmbeddingCache):
        """(articles with their passages, their vectors, how many were computed, first?, articles
        through this batch) for each generation to publish.

        Every article is split first (cheap next to embedding), so the embedding total is exact
        before the first passage is embedded. A batch ends at about `commit_every` passages, or
        once `publish_seconds` have passed since the last publish: embedding goes in chunks of
        a few model calls, so the time is checked every few seconds."""
        items: list[tuple[Article, str, list[Passage]]] = []
        total = len(changes.add)
        for done, (article, file) in enumerate(changes.add, start=1):
            with self._stage("split"):
                items.append((article, file, split_article(article, self.encoder, self.settings)))
            if self.progress:
                self.progress("split", done, total)
        self.embed_total += sum(len(passages) for _a, _f, passages in items)
        if self.progress:
            self.progress("embed", self.embed_done, self.embed_total)
        chunk = max(self.encoder.embed_batch_size * 4, 1)
        batch: list[tuple[Article, str, list[Passage]]] = []
        parts: list[np.ndarray] = []
        pending: list[str] = []
        size = embedded = 0
        first = True
        for done, item in enumerate(items, start=1):
            article, _file, passages = item
            batch.append(item)
            pending += [embedding_text(article, p, self.settings) for p in passages]
            size += len(passages)
            if len(pending) < chunk and size < commit_every and done < total:
                continue
            vectors, new = self._embed_texts(cache, pending)
            parts.append(vectors)
            embedded += new
            pending = []
            due = size >= commit_every or (
                self.publish_seconds > 0 and time.monotonic() - self.last_publish >= self.publish_seconds
            )
            if due and done < total:
                yield batch, _stack(parts, self.encoder.dim), embedded, first, done
                batch, parts, size, embedded, first = [], [], 0, 0, False
        if pending:
            vectors, new = self._embed_texts(cache, pending)
            parts.append(vectors)
            embedded += new
        yield batch, _stack(parts, self.encoder.dim), embedded, first, total

    def _embed_texts(self, cache: EmbeddingCache, texts: list[str]) -> tuple[np.ndarray, int]:
        """`_embed` with progress over the whole run's passages and storage faults named."""
        on_batch = None
        if self.progress:
            progress, before, total = self.progress, self.embed_done, self.embed_total
            on_batch = lambda done, todo: progress("embed", before + len(texts) * done // max(todo, 1), total)  # noqa: E731
        try:
            with self._stage("embed"):
                vectors, embedded = self._embed(cache, texts, on_batch)
        except sqlite3.DatabaseError as err:
            if is_disk_full(err):
                raise IndexWriteError(
                    f"{self.cache_path}: no space left on device while caching embeddings; free some space and "
                    "run again (the batches published so far are kept)"
                ) from None
            if is_corruption(err):
                raise corrupted(self.cache_path, err) from None
            raise
        self.embed_done += len(texts)
        if self.progress:
            self.progress("embed", self.embed_done, self.embed_total)
        return vectors, embedded

    def _commit_batch(
        self, changes: _ChangeSet, batch: list, vectors: np.ndarray, embedded: int, first: bool, through: int,
        sources: list[str], totals: dict,
    ) -> None:
        """Write one embedded batch into a new generation and publish that."""
        tx = self.tx
        after = totals["new_passages"] + len(vectors)

        # A file's record is written with its last article, so that a run killed between
        # batches reads a half-done file again; files with nothing to add go with the first.
        last_add = {file: i for i, (_a, file) in enumerate(changes.add)}
        start = through - len(batch)
        records = [
            r for r in changes.files
            if (first and r.path not in last_add) or start <= last_add.get(r.path, -1) < through
        ]
        replaced = {a.id for a, _f, _p in batch if a.id in changes.updated_ids}
        delete = sorted(replaced | (changes.removed_ids if first else set()))
        with self._stage("copy"):
            tx.begin(copy=self.previous is not None or totals["generations"] > 0)
        with self._stage("entities"):
            # From the cleaned text the store keeps, so every span points into what `show` prints.
            facts = [extract(article.title, article.body, article.countries) for article, _f, _p in batch]
        with self._stage("articles"), tx.articles() as docs:
            added = {a.id for a, _f, _p in batch}
            old_groups = set(docs.duplicate_groups(delete).values())
            regroup = {m for members in docs.group_members(sorted(old_groups)).values() for m in members}
            removed_passages = docs.delete_articles(delete)
            new_ids: list[int] = []
            for (article, file, passages), article_facts in zip(batch, facts, strict=True):
                sig = signature(article.body)
                new_ids += docs.add_article(article, file, passages, sig.tobytes(), band_keys(sig))
                docs.put_facts(article.id, article_facts)
            if first:
                _add_missing_facts(docs)
            for record in records:
                docs.put_file(record)
            if first:
                docs.delete_files(changes.gone_files)
            _regroup_duplicates(docs, regroup, added)
            articles, passages = docs.count_articles(), docs.count_passages()
        with self._stage("vectors"), tx.vectors(self.encoder.dim) as vector_writer:
            vector_writer.remove(removed_passages)
            # One call: adding slice by slice grew the store's buffer by doubling, a higher peak.
            vector_writer.add(new_ids, vectors)
            del vectors  # the store has its own copy; ours goes before saving builds the graph
        del vector_writer
        with self._stage("keyword"), tx.keywords(self.settings.title_boost) as keyword:
            keyword.delete(delete)
            for article, _file, _p in batch:
                keyword.add(article)
        with self._stage("publish"):
            self._publish(tx, sources, articles, passages)
        self.last_publish = time.monotonic()
        totals["embedded"] += embedded
        totals["new_passages"] = after
        totals["generations"] += 1
        totals["articles"], totals["passages"] = articles, passages

    def _embed(self, cache: EmbeddingCache, texts: list[str], on_batch) -> tuple[np.ndarray, int]:
        """Vectors for `texts` through the cache, and how many were computed. Slices of
        EMBED_SLICE texts are written into one array, so the cache's lookups for one slice are
        all that is held beside it (a huge article is one batch of 170,000 passages: a dict of
        as many vectors and a stacked copy were three times the array)."""
        # An encoder may ask for larger calls (a DaskEncoder: enough to keep every worker busy).
        batch_size = self.encoder.embed_batch_size
        vectors = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        embedded = 0
        for start in range(0, len(texts), EMBED_SLICE):
            part = texts[start : start + EMBED_SLICE]
            report = None if on_batch is None else _slice_progress(on_batch, start, len(part), len(texts))
            vectors[start : start + len(part)], new = cache.embed(part, self.encoder.name, self.encoder.encode, batch_size, report)
            embedded += new
        return vectors, embedded

    def _publish(self, tx: WriteTransaction, sources: list[str], articles: int, passages: int) -> None:
        tx.publish(
            Manifest(
                format_version=FORMAT_VERSION,
                model=self.encoder.name,
                dim=self.encoder.dim,
                generation=tx.generation,
                articles=articles,
                passages=passages,
                settings=self.settings,
                sources=sources,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )


def _add_missing_facts(docs: DocStoreWriter) -> None:
    """Extract and store the defence facts of the articles that have none: those of an index
    built before facts were stored, so one update brings it up to date without re-embedding."""
    missing = docs.articles_without_facts()
    for start in range(0, len(missing), 500):
        for article in docs.articles(missing[start : start + 500]).values():
            docs.put_facts(article.id, extract(article.title, article.body, article.countries))


def _stack(parts: list[np.ndarray], dim: int) -> np.ndarray:
    """One array of the chunks' vectors (no copy for a single chunk)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty((0, dim), dtype=np.float32)


def _slice_progress(on_batch: Callable[[int, int], None], start: int, size: int, total: int) -> Callable[[int, int], None]:
    """Progress within one slice of `size` texts at `start`, reported over all `total` texts."""
    return lambda done, todo: on_batch(start + size * done // max(todo, 1), total)


def _open_cache(path: Path, dim: int) -> tuple[EmbeddingCache, list[str]]:
    """The embedding cache; a damaged one is moved aside (it is only a cache) and a new one begun."""
    try:
        cache = EmbeddingCache(path, dim)
        len(cache)  # reads the table: a damaged file fails here
        return cache, []
    except sqlite3.DatabaseError as err:
        if not is_corruption(err):
            raise
    aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    os.replace(path, aside)
    warning = f"the embedding cache {path} was damaged; moved it to {aside} and started a new one (passages are embedded again)"
    return EmbeddingCache(path, dim), [warning]


def _title_prefixed(article: Article, settings: BuildSettings) -> bool:
    return settings.title_in_passages and not article.title_is_derived


def split_article(article: Article, encoder: Encoder, settings: BuildSettings) -> list[Passage]:
    """The passages the builder embeds for `article` (its body cut under the token budget)."""
    budget = settings.passage_tokens
    if _title_prefixed(article, settings):
        # The title rides along with every passage, so it must fit beside the passage.
        title_tokens = encoder.count_tokens([article.title])[0] + 1
        budget = max(min(budget, encoder.max_tokens - title_tokens), 16)
    return split_passages(
        article.body, encoder.count_tokens, budget, settings.overlap_sentences, settings.sentence_splitter
    )


def embedding_text(article: Article, passage: Passage, settings: BuildSettings) -> str:
    """What is embedded for a passage: its text, after the article's real title if settings say so."""
    if _title_prefixed(article, settings):
        return f"{article.title}\n{passage.text}"
    return passage.text


def _regroup_duplicates(docs: DocStoreWriter, seeds: set[str], added: set[str]) -> None:
    """Keep the duplicate groups the connected components of the near-duplicate graph.

    The components holding any of `seeds` (members of groups that lost or changed an article)
    are found again by a walk over the graph: a removal can split a group. An `added` article
    then joins the groups of its neighbours, which are components already, so it costs one look
    at its own neighbours; walking its whole group instead made a text's n-th copy cost n
    neighbour lookups (n^2 similarity checks per copy: 80% of a 100,000-article build of 50
    copies per text, docs/performance.md section 10).
    """

    def neighbours(article_id: str) -> list[str]:
        mine = signature_from_bytes(docs.signature(article_id) or b"")
        return [other for other, blob in docs.band_candidates(article_id).items()
                if similar_enough(mine, signature_from_bytes(blob))]

    done: set[str] = set()
    for seed in sorted(seeds):
        if seed in done or docs.signature(seed) is None:
            continue
        members = component(seed, neighbours)
        docs.set_duplicate_group(members)
        done |= members
    for article_id in sorted(added - done):
        near = neighbours(article_id)
        if not near:
            continue  # a group of its own (or one an earlier added article put it in)
        groups = set(docs.duplicate_groups([article_id, *near]).values())
        known = docs.group_members(sorted(groups))
        # A lone article has no stored group: its group id is its own id, with no members listed.
        docs.set_duplicate_group({m for group in groups for m in known.get(group, [group])})


def stat_changed(path: Path, known: FileRecord | None) -> bool:
    """True when `path` is new, or its size or modification time differ from the record."""
    if known is None:
        return True
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns) != (known.size, known.mtime_ns)


def _read_file(
    path: Path, roots: Sequence[Path] = (), options: ReadOptions | None = None
) -> tuple[FileRecord, list[Article], list[str]]:
    """Read a source file once: its record (stat, hash, problems), its articles and warnings
    (none: size is checked before reading); a one-article file's id (.txt, .html) is its path
    under the source folder in `roots` that holds it."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError as err:
        return FileRecord(str(path), -1, -1, "", [Skipped(str(path), f"cannot be read ({err.strerror})")]), [], []
    digest = hashlib.sha256(data).hexdigest()
    articles: list[Article] = []
    skipped: list[Skipped] = []
    one_article = (input_kind(path) or ("text",))[0] in ONE_ARTICLE_KINDS
    for item in read_articles(path, data, options):
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            articles.append(replace(item, id=text_article_id(path, roots)) if one_article else item)
    # A file written moments ago may change again within the clock's resolution at the same
    # size; recording size -1 makes the next run compare its hash instead of trusting its stat.
    racy = time.time() - stat.st_mtime_ns / 1e9 < _RACY_SECONDS
    size = -1 if racy else stat.st_size
    return FileRecord(str(path), size, stat.st_mtime_ns, digest, skipped), articles, []

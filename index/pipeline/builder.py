"""Building and updating an index: find what changed, clean, split, embed, write, switch.

Incremental. The article store records every source file with its size, modification time and
content hash. An update stats every source file, reads only those whose size or time changed
(and re-indexes them only if their bytes changed), and removes the articles of files that are
gone. Unchanged articles are neither re-read nor re-embedded; new passages are embedded through
a cache keyed by content hash, so even a re-read article whose text is unchanged costs nothing.
A source folder or file that is gone as a whole is reported and its articles are kept (a
disconnected drive must not empty the index) until `forget` names it.

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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from index.embedding.cache import BATCH_SIZE, EmbeddingCache
from index.embedding.encoder import MINILM_NAME, Encoder, encoder_for
from index.errors import IndexIncompatible, IndexWriteError, InvalidArgument, SourceNotFound
from index.storage.base import Store
from index.storage.docstore import DocStoreWriter, FileRecord
from index.storage.faults import corrupted, is_corruption, is_disk_full
from index.storage.layout import CACHE_FILE as LAYOUT_CACHE_FILE
from index.storage.factory import open_store
from index.storage.manifest import FORMAT_VERSION, BuildSettings, Manifest
from index.storage.transaction import WriteTransaction
from index.text.articles import (
    TEXT_SUFFIX,
    Article,
    Skipped,
    iter_input_files,
    read_articles,
    text_article_id,
    unstorable_paths,
)
from index.text.countries import article_countries
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
# Files larger than this are indexed with a warning (or refused, by choice): 20 MB of text is
# ~60,000 passages, an hour of embedding on two cores.
MAX_FILE_MB = 20.0

# Progress callback: (stage, done, total). Stages: "read" (files), "split" (articles),
# "embed" (passages; the total grows as articles are split).
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
    `keyword` (writing each store) and `publish` (fsync and the manifest switch).
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

    Every `commit_every` passages a generation is published, so a long update becomes
    searchable as it goes and a killed one keeps what it published. `large_files` says what
    to do with huge inputs. A second writer waits `lock_timeout` seconds, then raises
    IndexLocked; the previous manifest and the known sources are read only once the lock is
    held. Bad paths raise SourceNotFound before anything is written; storage faults raise
    IndexWriteError / IndexCorrupted and leave the live index as it was.
    """
    store = open_store(index_dir)
    if commit_every < 1:
        raise InvalidArgument(f"commit_every must be at least 1, not {commit_every}")
    new_paths = [str(Path(p).resolve()) for p in paths]
    if not new_paths and not store.exists() and not store.recovered_sources():
        raise SourceNotFound("nothing to index: pass a folder or a .txt/.jsonl file")
    for path in new_paths:
        if not Path(path).exists() and path in store.known_sources():
            raise SourceNotFound(
                f"{path}: no such file or folder; it is a source of this index: if it moved, index its "
                f"new place and drop this one with 'accord index --forget {path}'"
            )
    list(iter_input_files(Path(p) for p in new_paths))  # SourceNotFound before anything is written
    if encoder is None:
        encoder = resolve_encoder(index_dir, model=model, rebuild=rebuild)
    prepare = getattr(encoder, "prepare", None)
    if prepare is not None:
        prepare()  # e.g. export the ONNX model now, once, so that queries start without torch

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
        update = _Update(tx, previous, encoder, settings, progress, large_files or LargeFiles())
        report = update.run(files, sources, missing, forgotten, embedding_cache or store.default_cache_path, commit_every)
        return replace(report, skipped=unstorable + report.skipped) if unstorable else report


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
    warnings: list[str] = field(default_factory=list)


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
    ) -> None:
        self.tx = tx
        self.previous = previous
        self.encoder = encoder
        self.settings = settings
        self.progress = progress
        self.large_files = large_files
        self.stage_seconds: dict[str, float] = {}

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
        warnings = [
            f"source {s} is gone; its articles stay in the index until 'accord index --forget {s}' removes them"
            if self.previous is not None
            else f"source {s} is gone, so its articles are not in the rebuilt index; 'accord index --forget {s}' drops it"
            for s in missing
        ]
        roots = [Path(s) for s in sources if s not in missing]
        with self._stage("read"):
            changes = self._changes(files, roots, missing)
        warnings += changes.warnings
        self.cache_path = cache_path
        cache, cache_warning = _open_cache(cache_path, self.encoder.dim)
        warnings += cache_warning
        totals = {"embedded": 0, "new_passages": 0, "generations": 0, "articles": 0, "passages": 0}
        try:
            for batch, first, last, through in self._batches(changes, commit_every):
                self._commit_batch(changes, batch, first, last, through, cache, sources, totals)
        finally:
            cache.close()
        articles = totals["articles"]
        return BuildReport(
            index_dir=self.tx.store.location,
            articles=articles,
            passages=totals["passages"],
            added=changes.added,
            updated=changes.updated,
            removed=changes.removed,
            unchanged=articles - changes.added - changes.updated,
            files_read=len(changes.files),
            embedded=totals["embedded"],
            reused_embeddings=totals["new_passages"] - totals["embedded"],
            skipped=changes.skipped,
            warnings=warnings,
            missing_sources=missing,
            forgotten=forgotten,
            generations=totals["generations"],
            stage_seconds={name: round(seconds, 4) for name, seconds in self.stage_seconds.items()},
        )

    def _known(self) -> tuple[dict[str, FileRecord], dict[str, tuple[str, str]]]:
        """The live store's source files and its articles' (content hash, file), or nothing."""
        if self.previous is None:
            return {}, {}
        with self.tx.live_store() as store:
            if store is None:
                return {}, {}
            return store.files(), store.content_hashes()

    def _changes(self, files: list[Path], roots: list[Path], missing: list[str]) -> _ChangeSet:
        """Compare the source files with the live store: which articles to add, update and delete.

        When two files hold the same id, a file that did not change keeps it; among files read
        in this run, the first in path order wins. The other copy is reported as skipped.
        Files under a source that is gone are kept as they are.
        """
        changes = _ChangeSet()
        known_files, known = self._known()  # known: id -> (content hash, file)
        current = {str(p) for p in files}
        changes.gone_files = sorted(f for f in set(known_files) - current if not _under(f, missing))
        # A file that lost an id to a file now gone must be read again to take the id over.
        retry = {
            path for path, record in known_files.items()
            if changes.gone_files and any(s.reason.startswith("duplicate id") for s in record.skipped)
        }
        reread: dict[str, list[Article]] = {}
        to_check = [p for p in files if str(p) in retry or stat_changed(p, known_files.get(str(p)))]
        if self.progress and to_check:
            self.progress("read", 0, len(to_check))
        for done, path in enumerate(to_check, start=1):
            record, articles, warning = _read_file(path, roots, self.large_files)
            changes.warnings += warning
            articles = [replace(a, countries=tuple(article_countries(a.title, a.body))) for a in articles]
            if self.progress:
                self.progress("read", done, len(to_check))
            old = known_files.get(record.path)
            if old is not None and old.sha256 == record.sha256 and record.path not in retry:
                # Touched, not changed: remember the new stat so it is not read again.
                changes.files.append(FileRecord(record.path, record.size, record.mtime_ns, old.sha256, old.skipped))
                continue
            changes.files.append(record)
            changes.skipped += record.skipped
            reread[record.path] = articles

        changed_files = set(reread) | set(changes.gone_files)
        record_of = {r.path: r for r in changes.files}
        wanted: dict[str, tuple[Article, str]] = {}
        for file, articles in reread.items():
            for article in articles:
                owner = wanted[article.id][1] if article.id in wanted else known.get(article.id, ("", None))[1]
                if owner is not None and owner != file and (article.id in wanted or owner not in changed_files):
                    duplicate = Skipped(article.path, f"duplicate id {article.id!r} (first in {owner})")
                    changes.skipped.append(duplicate)
                    record_of[file].skipped.append(duplicate)  # remembered: read again if the owner goes
                    continue
                wanted[article.id] = (article, file)

        for article_id, (_hash, file) in known.items():
            if file in changed_files and article_id not in wanted:
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
        return changes

    def _batches(self, changes: _ChangeSet, commit_every: int):
        """(articles with their passages, first?, last?, articles through this batch), about
        `commit_every` passages each, split as needed so that one batch's passages are held."""
        batch: list[tuple[Article, str, list[Passage]]] = []
        size = 0
        first = True
        total = len(changes.add)
        for done, (article, file) in enumerate(changes.add, start=1):
            with self._stage("split"):
                passages = split_article(article, self.encoder, self.settings)
            if self.progress:
                self.progress("split", done, total)
            batch.append((article, file, passages))
            size += len(passages)
            if size >= commit_every and done < total:
                yield batch, first, False, done
                batch, size, first = [], 0, False
        yield batch, first, True, total

    def _commit_batch(
        self, changes: _ChangeSet, batch: list, first: bool, last: bool, through: int, cache, sources: list[str], totals: dict
    ) -> None:
        """Embed one batch, write it into a new generation and publish that."""
        tx = self.tx
        texts = [embedding_text(a, p, self.settings) for a, _f, passages in batch for p in passages]
        before = totals["new_passages"]
        after = before + len(texts)
        on_batch = None
        if self.progress:
            progress = self.progress
            # The total is known once every article is split; until then, extrapolate.
            total = after if last else max(after + 1, round(after * len(changes.add) / max(through, 1)))
            progress("embed", before, total)
            on_batch = lambda done, todo: progress("embed", before + len(texts) * done // max(todo, 1), total)  # noqa: E731
        try:
            with self._stage("embed"):
                # An encoder may ask for larger calls (a DaskEncoder: enough to keep every worker busy).
                batch_size = getattr(self.encoder, "embed_batch_size", BATCH_SIZE)
                vectors, embedded = cache.embed(texts, self.encoder.name, self.encoder.encode, batch_size, on_batch)
        except sqlite3.DatabaseError as err:
            if is_disk_full(err):
                raise IndexWriteError(
                    f"{self.cache_path}: no space left on device while caching embeddings; free some space and "
                    "run again (the batches published so far are kept)"
                ) from None
            if is_corruption(err):
                raise corrupted(self.cache_path, err) from None
            raise
        if self.progress:
            self.progress("embed", after, total)

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
            tx.begin(copy=not (first and self.previous is None))
        with self._stage("articles"), tx.articles() as docs:
            added = {a.id for a, _f, _p in batch}
            old_groups = set(docs.duplicate_groups(delete).values())
            regroup = {m for members in docs.group_members(sorted(old_groups)).values() for m in members}
            removed_passages = docs.delete_articles(delete)
            new_ids: list[int] = []
            for article, file, passages in batch:
                sig = signature(article.body)
                new_ids += docs.add_article(article, file, passages, sig.tobytes(), band_keys(sig))
            for record in records:
                docs.put_file(record)
            if first:
                docs.delete_files(changes.gone_files)
            _regroup_duplicates(docs, regroup, added)
            articles, passages = docs.count_articles(), docs.count_passages()
        with self._stage("vectors"), tx.vectors(self.encoder.dim) as vector_writer:
            vector_writer.remove(removed_passages)
            vector_writer.add(new_ids, vectors)
        with self._stage("keyword"), tx.keywords(self.settings.title_boost) as keyword:
            keyword.delete(delete)
            for article, _file, _p in batch:
                keyword.add(article)
        with self._stage("publish"):
            self._publish(tx, sources, articles, passages)
        totals["embedded"] += embedded
        totals["new_passages"] = after
        totals["generations"] += 1
        totals["articles"], totals["passages"] = articles, passages

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
    path: Path, roots: Sequence[Path] = (), large: LargeFiles | None = None
) -> tuple[FileRecord, list[Article], list[str]]:
    """Read a source file once: its record (stat, hash, problems), its articles and warnings; a
    .txt article's id is its path under the source folder in `roots` that holds it."""
    large = large or LargeFiles(max_mb=float("inf"))
    warnings: list[str] = []
    try:
        stat = path.stat()
        megabytes = stat.st_size / 1e6
        if megabytes > large.max_mb:
            if large.refuse:
                # Size -1: checked again next run, so raising the limit takes effect.
                reason = (f"is {megabytes:,.1f} MB, over the {large.max_mb:g} MB limit; "
                          f"pass --max-file-mb {int(megabytes) + 1} to index it")
                return FileRecord(str(path), -1, stat.st_mtime_ns, "", [Skipped(str(path), reason)]), [], []
            warnings.append(
                f"{path} is {megabytes:,.1f} MB (over {large.max_mb:g} MB): indexing it takes long; "
                "what is done is published as it goes (--refuse-large skips such files)"
            )
        data = path.read_bytes()
    except OSError as err:
        return FileRecord(str(path), -1, -1, "", [Skipped(str(path), f"cannot be read ({err.strerror})")]), [], warnings
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for item in read_articles(path, data):
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            articles.append(replace(item, id=text_article_id(path, roots)) if path.suffix == TEXT_SUFFIX else item)
    # A file written moments ago may change again within the clock's resolution at the same
    # size; recording size -1 makes the next run compare its hash instead of trusting its stat.
    racy = time.time() - stat.st_mtime_ns / 1e9 < _RACY_SECONDS
    size = -1 if racy else stat.st_size
    return FileRecord(str(path), size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest(), skipped), articles, warnings


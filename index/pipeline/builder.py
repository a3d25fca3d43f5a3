"""Building and updating an index: find what changed, clean, split, embed, write, switch.

This module runs a build; each job has its own module beside it: `sources` (which sources and
files), `plan` (what to read, add, update and delete; ids across sources; large files last),
`read` (reading and cleaning articles, their passages and facts), `batches` (publishing by
count and by time), `embed_write` (embedding through the cache, writing a batch) and
`duplicates` (regrouping near-duplicates).

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
generation folder (the last one's files, hard-linked, and a new segment of each store), is
flushed, and is published by replacing
`manifest.json` atomically: a long update becomes searchable batch by batch, and a killed one
keeps the batches it published; the next run re-reads only the files not yet recorded (a file's
record is written with its last article) and finds their passages in the embedding cache.
Readers see one complete generation or the next, never a mix; a failed run removes its partial
generation. Old generations are removed once no reader holds a lease on them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from index.embedding.encoder import DEFAULT_MODEL, MINILM_NAME, Encoder, encoder_for
from index.embedding.model_files import OnnxExportRefused
from index.errors import IndexIncompatible, InvalidArgument, SourceNotFound
from index.pipeline.batches import Batcher
from index.pipeline.embed_write import EMBED_SLICE, BatchWriter, Embedder, open_cache
from index.pipeline.plan import ChangeSet, Planner, RunState, files_to_check, known_articles, rounds, split_by_size
from index.pipeline.read import embedding_text, split_article
from index.pipeline.sources import (
    STDIN_PATH,
    forget_sources,
    merge_sources,
    require_readers,
    save_stdin,
    stat_changed,
)
from index.storage.base import Store
from index.storage.factory import open_store
from index.storage.layout import CACHE_FILE as LAYOUT_CACHE_FILE
from index.storage.manifest import BuildSettings, Manifest
from index.storage.transaction import WriteTransaction
from index.text.articles import ReadOptions, Skipped, iter_input_files, unstorable_paths
from index.text.passages import SPLITTERS

# Importable from here as before the build was split into its jobs.
__all__ = [
    "CACHE_FILE",
    "COMMIT_EVERY",
    "EMBED_SLICE",
    "MAX_FILE_MB",
    "PUBLISH_SECONDS",
    "STDIN_PATH",
    "BuildReport",
    "LargeFiles",
    "Progress",
    "build",
    "embedding_text",
    "resolve_encoder",
    "save_stdin",
    "split_article",
    "stat_changed",
]

CACHE_FILE = Path(LAYOUT_CACHE_FILE)
# Passages embedded per published generation. Each publish makes the work so far searchable;
# 10,000 passages take minutes to embed with the real model on a laptop, so a large update shows
# results early and a killed one keeps most of its work.
COMMIT_EVERY = 10_000
# Seconds after which the work so far is published even before `commit_every` passages: the
# first articles of a big build are searchable within about a minute, whatever the model's speed.
PUBLISH_SECONDS = 60.0
# Files larger than this are indexed with a warning (or refused, by choice): 20 MB of text is
# ~60,000 passages, an hour of embedding on two cores.
MAX_FILE_MB = 20.0

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
    `DEFAULT_MODEL` (int8 all-MiniLM-L6-v2). `embedding_cache` puts the vector cache elsewhere than `INDEX_DIR/cache`,
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
    new_paths = _new_paths(store, paths, stdin)
    require_readers(iter_input_files(Path(p) for p in new_paths))  # SourceNotFound before anything is written
    if encoder is None:
        encoder = resolve_encoder(index_dir, model=model, rebuild=rebuild)
    encoder.prepare()  # e.g. export the ONNX model now, once, so that queries start without torch

    with store.transaction(lock_timeout=lock_timeout, fresh=rebuild) as tx:
        previous, settings = _previous_and_settings(tx, store, encoder, settings)
        sources, forgotten = forget_sources(merge_sources(tx.sources, new_paths), forget)
        if not sources and not forgotten:
            raise SourceNotFound("nothing to index: pass a folder or a .txt/.jsonl file")
        missing, files, unstorable = _source_files(sources, on_skipped)
        update = _Update(tx, previous, encoder, settings, progress, large_files or LargeFiles(), on_warning)
        update.on_skipped = on_skipped
        update.read_options = read_options or ReadOptions()
        update.publish_seconds = publish_seconds
        report = update.run(files, sources, missing, forgotten, embedding_cache or store.default_cache_path, commit_every)
        return replace(report, skipped=unstorable + report.skipped) if unstorable else report


def _new_paths(store: Store, paths: Sequence[Path | str], stdin: BinaryIO | None) -> list[str]:
    """`paths` resolved, "-" replaced by the folder that keeps standard input; SourceNotFound
    when there is nothing to index or a known source named anew is gone."""
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
    return new_paths


def _previous_and_settings(
    tx: WriteTransaction, store: Store, encoder: Encoder, settings: BuildSettings | None
) -> tuple[Manifest | None, BuildSettings]:
    """The live generation to build on (None when there is none or `settings` differ from its
    own) and the settings to build with: `settings`, else the live generation's, else the
    defaults. IndexIncompatible when the live generation was built with another model."""
    previous = tx.previous
    if previous and previous.model != encoder.name:
        raise IndexIncompatible(
            f"{store.location} was built with {previous.model}, not {encoder.name}; "
            "pass --rebuild to build it anew"
        )
    settings = _checked_settings(settings or (previous.settings if previous else BuildSettings()), encoder)
    if previous and previous.settings != settings:
        previous = None  # other passages or boosts: nothing of the old generation can be reused
    return previous, settings


def _source_files(
    sources: list[str], on_skipped: Callable[[Skipped], None] | None
) -> tuple[list[str], list[Path], list[Skipped]]:
    """(sources that are gone, the input files of the others, the files that cannot be stored),
    each of the last passed to `on_skipped` now."""
    present = [s for s in sources if Path(s).exists()]
    missing = [s for s in sources if s not in present]
    # A file whose name is not UTF-8 cannot be recorded in the store: reported, never read.
    files, unstorable = unstorable_paths(iter_input_files(Path(s) for s in present))
    require_readers(files)  # a known source may hold HTML too
    for item in unstorable:
        if on_skipped is not None:
            on_skipped(item)
    return missing, files, unstorable


def _checked_settings(settings: BuildSettings, encoder: Encoder) -> BuildSettings:
    """`settings`, or ValueError when its passage size or sentence splitter cannot be used."""
    if not 16 <= settings.passage_tokens <= encoder.max_tokens:
        raise ValueError(f"passage_tokens must be between 16 and {encoder.max_tokens}")
    if settings.sentence_splitter not in SPLITTERS:
        raise ValueError(f"sentence_splitter must be one of {', '.join(SPLITTERS)}")
    return settings


def resolve_encoder(index_dir: Path | str | Store, *, model: str | None = None, rebuild: bool = False) -> Encoder:
    """The encoder `build` uses when given none: `model`, else the index's own, else
    `DEFAULT_MODEL` (int8 all-MiniLM-L6-v2), e.g. to wrap it in a `DaskEncoder` before building."""
    # Read without the lock only to pick the model; `build` checks it again under the lock.
    peeked = None if rebuild else open_store(index_dir).raw_manifest().get("model")
    named = model or (peeked if isinstance(peeked, str) else None)
    if named:
        return encoder_for(named)
    try:
        return encoder_for(DEFAULT_MODEL)
    except (OnnxExportRefused, OSError) as refused:  # OSError: e.g. a read-only model cache
        # The int8 model is made from the ONNX export; where that cannot be made or checked, the
        # exact model still runs through sentence-transformers, and the manifest says which.
        logging.getLogger("accord").warning("accord: warning: %s; building with the exact %s instead", refused, MINILM_NAME)
        return encoder_for(MINILM_NAME)


class _Update:
    """One run of the indexer, inside a write transaction (under the write lock): its rounds of
    planning, embedding and publishing, and its report."""

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
        self.started = time.monotonic()  # the run's start counts as a publish

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
            known_files, known = known_articles(self.tx, self.previous)  # known: id -> (content hash, file)
            gone_files, retry, to_check = files_to_check(files, missing, known_files)
            small, large, refused = split_by_size(to_check, self.large_files.max_mb, self.large_files.refuse, self._warn)
        cache, cache_warning = open_cache(cache_path, self.encoder.dim)
        for warning in cache_warning:
            self._warn(warning)
        # A large file is read only in its own round: until then it counts as changed.
        state = RunState(known_files, known, {str(p) for p in large} | set(gone_files), retry, len(to_check))
        totals = {"embedded": 0, "new_passages": 0, "generations": 0, "articles": 0, "passages": 0}
        report = ChangeSet(files=list(refused))
        report.skip([s for r in refused for s in r.skipped], self.on_skipped)
        planner = Planner(roots, self.read_options, self.progress, self._warn, self.on_skipped)
        embedder = Embedder(self.encoder, cache, cache_path, self.progress, self._stage)
        batcher = Batcher(
            self.encoder, self.settings, embedder, self.progress, self._stage, self.publish_seconds, self.started
        )
        writer = BatchWriter(self.tx, self.encoder, self.settings, sources, self._stage)
        try:
            planned = rounds(small, large, gone_files, refused)
            for number, paths in enumerate(planned):
                with self._stage("read"):
                    changes = planner.changes(paths, state, gone_files if number == 0 else [])
                if number == 0:
                    changes.files += refused
                for batch, vectors, embedded, first, through in batcher.batches(changes, commit_every):
                    if number == len(planned) - 1 and through == len(changes.add):
                        # The run's last batch (a round's last one ends at its last article):
                        # its keyword commit merges what the run wrote, so a build ends merged.
                        self.tx.last_batch()
                    copy = self.previous is not None or totals["generations"] > 0
                    after = totals["new_passages"] + len(vectors)
                    totals["articles"], totals["passages"] = writer.write(changes, batch, vectors, first, through, copy)
                    batcher.published()
                    totals["embedded"] += embedded
                    totals["new_passages"] = after
                    totals["generations"] += 1
                    del batch, vectors  # the next batch is embedded, or the next file read, without them
                state.commit(changes)
                _add_up(report, changes)
                del changes  # a large file's articles go before the next one is read
        finally:
            cache.close()
        return self._report(report, totals, missing, forgotten)

    def _report(self, report: ChangeSet, totals: dict[str, int], missing: list[str], forgotten: list[str]) -> BuildReport:
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

    def _warn(self, warning: str) -> None:
        """Keep a warning for the report and pass it on now, so that the user sees it at once."""
        self.warnings.append(warning)
        if self.on_warning is not None:
            self.on_warning(warning)


def _add_up(report: ChangeSet, changes: ChangeSet) -> None:
    """Add a round's counts, files and skipped inputs to the run's."""
    report.added += changes.added
    report.updated += changes.updated
    report.removed += changes.removed
    report.files += changes.files
    report.skipped += changes.skipped

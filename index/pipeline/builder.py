"""Building and updating an index: find what changed, clean, split, embed, write, switch.

Incremental. The article store records every source file with its size, modification time and
content hash. An update stats every source file, reads only those whose size or time changed
(and re-indexes them only if their bytes changed), and removes the articles of files that are
gone. Unchanged articles are neither re-read nor re-embedded; new passages are embedded through
a cache keyed by content hash, so even a re-read article whose text is unchanged costs nothing.

Commit protocol. An update never touches the live generation. It copies the live generation's
files (article store, whoosh index, faiss vectors) into a new folder `gen-NNNNNN/`, applies the
changes there, flushes everything to disk, and only then replaces `manifest.json` by an atomic
rename. Readers open whatever generation the manifest names, so they see the old state or the
new one, never a mix; a build killed at any moment leaves the old manifest pointing at the old,
complete generation, and the next build deletes the half-written folder and does the work again.
The previous generation is kept one cycle for readers that opened it before the switch.

One writer at a time: a file lock (filelock) on `INDEX_DIR/.lock`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from index.text.articles import TEXT_SUFFIX, Article, Skipped, iter_input_files, read_articles, text_article_id
from index.text.countries import article_countries
from index.storage.docstore import DocStoreWriter, FileRecord
from index.text.duplicates import band_keys, component, signature, signature_from_bytes, similar_enough
from index.embedding.cache import EmbeddingCache
from index.embedding.encoder import MINILM_NAME, Encoder, encoder_for
from index.errors import IndexIncompatible, IndexLocked, SourceNotFound
from index.storage.keyword import KeywordWriter
from index.storage.directory import IndexDirectory, fsync_tree
from index.storage.layout import CACHE_FILE as LAYOUT_CACHE_FILE
from index.storage.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE
from index.storage.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    BuildSettings,
    Manifest,
    read_manifest,
    write_manifest,
)
from index.text.passages import Passage, split_passages
from index.storage.vectors import VectorWriter, hnsw_path

CACHE_FILE = Path(LAYOUT_CACHE_FILE)
# A file modified this recently may still change within the file system's time resolution
# without its size changing; it is re-hashed on the next run rather than trusted by its stat.
_RACY_SECONDS = 2.0

# Progress callback: (stage, done, total). Stages: "read", "embed".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildReport:
    """What a build did, compared with the index it replaced.

    `skipped` lists the inputs read in this run that could not be indexed; files that did not
    change are not read again, so their problems were reported when they were read.
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


def build(
    paths: Sequence[Path | str],
    index_dir: Path | str,
    *,
    encoder: Encoder | None = None,
    settings: BuildSettings | None = None,
    model: str | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    embedding_cache: Path | None = None,
    lock_timeout: float = 0.0,
) -> BuildReport:
    """Build or update the index at `index_dir` from `paths` (folders or .txt/.jsonl files).

    The index remembers its source paths: `paths` are added to them, and every source is
    checked, so new and changed files are indexed and deleted ones drop out. With no `paths`,
    the known sources are checked. `rebuild=True` keeps the sources but builds from scratch,
    forgetting the old settings and model; new `settings` also mean a build from scratch.
    The model is `encoder`, else the one named by `model`, else the index's own, else
    all-MiniLM-L6-v2. `embedding_cache` puts the vector cache elsewhere than `INDEX_DIR/cache`,
    to share it between indexes of the same texts. A second writer waits `lock_timeout`
    seconds, then raises IndexLocked. Bad paths raise SourceNotFound before anything is written.
    """
    index_dir = Path(index_dir)
    previous = None if rebuild or not (index_dir / MANIFEST_NAME).exists() else read_manifest(index_dir)
    settings = settings or (previous.settings if previous else BuildSettings())
    sources = _merge_sources(_known_sources(index_dir), paths)
    if not sources:
        raise SourceNotFound("nothing to index: pass a folder or a .txt/.jsonl file")
    files = list(iter_input_files(Path(s) for s in sources))

    if encoder is None:
        encoder = encoder_for(model or (previous.model if previous else MINILM_NAME))
    if previous and previous.model != encoder.name:
        raise IndexIncompatible(
            f"{index_dir} was built with {previous.model}, not {encoder.name}; "
            "pass --rebuild to build it anew"
        )
    if not 16 <= settings.passage_tokens <= encoder.max_tokens:
        raise ValueError(f"passage_tokens must be between 16 and {encoder.max_tokens}")
    if previous and previous.settings != settings:
        previous = None  # other passages or boosts: nothing of the old generation can be reused
    prepare = getattr(encoder, "prepare", None)
    if prepare is not None:
        prepare()  # e.g. export the ONNX model now, once, so that queries start without torch

    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(index_dir / ".lock"), timeout=lock_timeout):
            update = _Update(index_dir, previous, encoder, settings, progress)
            return update.run(files, sources, embedding_cache or index_dir / CACHE_FILE)
    except Timeout:
        raise IndexLocked(
            f"{index_dir} is being updated by another process; try again when it has finished"
        ) from None


def _known_sources(index_dir: Path) -> list[str]:
    """The sources an existing index was built from, read leniently so --rebuild can use them."""
    try:
        return [str(s) for s in json.loads((index_dir / MANIFEST_NAME).read_text())["sources"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _merge_sources(known: list[str], paths: Sequence[Path | str]) -> list[str]:
    merged = list(known)
    for path in paths:
        resolved = str(Path(path).resolve())
        if resolved not in merged:
            merged.append(resolved)
    return merged


@dataclass
class _ChangeSet:
    """What an update does to the articles, decided before anything is written."""

    delete: set[str] = field(default_factory=set)  # removed or updated article ids
    add: list[tuple[Article, str]] = field(default_factory=list)  # (article, source file)
    added: int = 0
    updated: int = 0
    removed: int = 0
    files: list[FileRecord] = field(default_factory=list)  # files read, as now
    gone_files: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


class _Update:
    """One run of the indexer, under the write lock."""

    def __init__(
        self,
        index_dir: Path,
        previous: Manifest | None,
        encoder: Encoder,
        settings: BuildSettings,
        progress: Progress | None,
    ) -> None:
        self.index_dir = index_dir
        self.previous = previous
        self.encoder = encoder
        self.settings = settings
        self.progress = progress

    def run(self, files: list[Path], sources: list[str], cache_path: Path) -> BuildReport:
        directory = IndexDirectory(self.index_dir)
        live = directory.live_generation()
        directory.remove_abandoned(live)
        generation = directory.next_generation_name()
        gen_dir = self.index_dir / generation
        gen_dir.mkdir()
        if self.previous is not None:
            _copy_generation(self.index_dir / self.previous.generation, gen_dir)

        docs = DocStoreWriter(gen_dir / DOCSTORE_FILE)
        try:
            changes = self._changes(docs, files, [Path(source) for source in sources])
            report = self._apply(docs, gen_dir, changes, cache_path)
            articles, passages = docs.count_articles(), docs.count_passages()
        finally:
            docs.close()
        fsync_tree(gen_dir)

        write_manifest(
            self.index_dir,
            Manifest(
                format_version=FORMAT_VERSION,
                model=self.encoder.name,
                dim=self.encoder.dim,
                generation=generation,
                articles=articles,
                passages=passages,
                settings=self.settings,
                sources=sources,
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            ),
        )
        directory.prune(keep={generation, live or ""})
        new_passages, embedded = report
        return BuildReport(
            index_dir=str(self.index_dir),
            articles=articles,
            passages=passages,
            added=changes.added,
            updated=changes.updated,
            removed=changes.removed,
            unchanged=articles - changes.added - changes.updated,
            files_read=len(changes.files),
            embedded=embedded,
            reused_embeddings=new_passages - embedded,
            skipped=changes.skipped,
        )

    def _changes(self, docs: DocStoreWriter, files: list[Path], roots: list[Path]) -> _ChangeSet:
        """Compare the source files with the store: which articles to add, update and delete.

        When two files hold the same id, a file that did not change keeps it; among files read
        in this run, the first in path order wins. The other copy is reported as skipped.
        """
        changes = _ChangeSet()
        known_files = docs.files()
        known = docs.content_hashes()  # id -> (content hash, file)
        changes.gone_files = sorted(set(known_files) - {str(p) for p in files})
        reread: dict[str, list[Article]] = {}
        to_check = [p for p in files if stat_changed(p, known_files.get(str(p)))]
        for done, path in enumerate(to_check, start=1):
            record, articles = _read_file(path, roots)
            articles = [replace(a, countries=tuple(article_countries(a.title, a.body))) for a in articles]
            if self.progress:
                self.progress("read", done, len(to_check))
            old = known_files.get(record.path)
            if old is not None and old.sha256 == record.sha256:
                # Touched, not changed: remember the new stat so it is not read again.
                changes.files.append(FileRecord(record.path, record.size, record.mtime_ns, old.sha256, old.skipped))
                continue
            changes.files.append(record)
            changes.skipped += record.skipped
            reread[record.path] = articles

        changed_files = set(reread) | set(changes.gone_files)
        wanted: dict[str, tuple[Article, str]] = {}
        for file, articles in reread.items():
            for article in articles:
                owner = wanted[article.id][1] if article.id in wanted else known.get(article.id, ("", None))[1]
                if owner is not None and owner != file and (article.id in wanted or owner not in changed_files):
                    changes.skipped.append(Skipped(article.path, f"duplicate id {article.id!r} (first in {owner})"))
                    continue
                wanted[article.id] = (article, file)

        for article_id, (_hash, file) in known.items():
            if file in changed_files and article_id not in wanted:
                changes.delete.add(article_id)
                changes.removed += 1
        for article_id, (article, file) in wanted.items():
            if article_id not in known:
                changes.added += 1
            elif known[article_id] != (article.content_hash, file):
                changes.updated += 1
                changes.delete.add(article_id)
            else:
                continue  # re-read but identical
            changes.add.append((article, file))
        return changes

    def _apply(self, docs: DocStoreWriter, gen_dir: Path, changes: _ChangeSet, cache_path: Path) -> tuple[int, int]:
        """Write the change set into the new generation; returns (new passages, of them embedded)."""
        passages = {a.id: self._split(a) for a, _file in changes.add}
        texts = [self._embedding_text(a, p) for a, _f in changes.add for p in passages[a.id]]
        cache = EmbeddingCache(cache_path, self.encoder.dim)
        try:
            on_batch = (lambda done, total: self.progress("embed", done, total)) if self.progress else None
            vectors, embedded = cache.embed(texts, self.encoder.name, self.encoder.encode, on_batch=on_batch)
        finally:
            cache.close()

        # Articles whose duplicate group may change: the new ones, and the groups of those going.
        regroup = {a.id for a, _file in changes.add}
        old_groups = set(docs.duplicate_groups(sorted(changes.delete)).values())
        regroup |= {m for members in docs.group_members(sorted(old_groups)).values() for m in members}
        removed_passages = docs.delete_articles(sorted(changes.delete))
        new_ids: list[int] = []
        for article, file in changes.add:
            sig = signature(article.body)
            new_ids += docs.add_article(article, file, passages[article.id], sig.tobytes(), band_keys(sig))
        for record in changes.files:
            docs.put_file(record)
        docs.delete_files(changes.gone_files)
        _regroup_duplicates(docs, regroup)

        vector_writer = VectorWriter(self.encoder.dim, gen_dir / VECTORS_FILE)
        vector_writer.remove(removed_passages)
        vector_writer.add(new_ids, vectors)
        vector_writer.save(gen_dir / VECTORS_FILE)

        keyword = KeywordWriter(gen_dir / KEYWORD_DIR, self.settings.title_boost)
        try:
            keyword.delete(sorted(changes.delete))
            for article, _file in changes.add:
                keyword.add(article)
        except BaseException:
            keyword.cancel()
            raise
        keyword.commit()
        docs.commit()
        return len(texts), embedded

    def _split(self, article: Article) -> list[Passage]:
        return split_article(article, self.encoder, self.settings)

    def _embedding_text(self, article: Article, passage: Passage) -> str:
        return embedding_text(article, passage, self.settings)


def _title_prefixed(article: Article, settings: BuildSettings) -> bool:
    return settings.title_in_passages and not article.title_is_derived


def split_article(article: Article, encoder: Encoder, settings: BuildSettings) -> list[Passage]:
    """The passages the builder embeds for `article` (its body cut under the token budget)."""
    budget = settings.passage_tokens
    if _title_prefixed(article, settings):
        # The title rides along with every passage, so it must fit beside the passage.
        title_tokens = encoder.count_tokens([article.title])[0] + 1
        budget = max(min(budget, encoder.max_tokens - title_tokens), 16)
    return split_passages(article.body, encoder.count_tokens, budget, settings.overlap_sentences)


def embedding_text(article: Article, passage: Passage, settings: BuildSettings) -> str:
    """What is embedded for a passage: its text, after the article's real title if settings say so."""
    if _title_prefixed(article, settings):
        return f"{article.title}\n{passage.text}"
    return passage.text


def read_sources(files: Sequence[Path], roots: Sequence[Path] = ()) -> tuple[list[Article], list[Skipped]]:
    """Read and clean `files` (found under the source folders `roots`) as a build from scratch
    does: countries found, first id wins."""
    articles: dict[str, Article] = {}
    skipped: list[Skipped] = []
    for path in files:
        record, found = _read_file(path, roots)
        skipped += record.skipped
        for article in found:
            if article.id in articles:
                skipped.append(Skipped(article.path, f"duplicate id {article.id!r} (first in {articles[article.id].path})"))
                continue
            articles[article.id] = replace(article, countries=tuple(article_countries(article.title, article.body)))
    return list(articles.values()), skipped


def _regroup_duplicates(docs: DocStoreWriter, seeds: set[str]) -> None:
    """Recompute the near-duplicate components that contain any of `seeds` (that still exist)."""

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


def stat_changed(path: Path, known: FileRecord | None) -> bool:
    """True when `path` is new, or its size or modification time differ from the record."""
    if known is None:
        return True
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns) != (known.size, known.mtime_ns)


def _read_file(path: Path, roots: Sequence[Path] = ()) -> tuple[FileRecord, list[Article]]:
    """Read a source file once: its record (stat, hash, problems) and its articles; a .txt
    article's id is its path under the source folder in `roots` that holds it."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError as err:
        return FileRecord(str(path), -1, -1, "", [Skipped(str(path), f"cannot be read ({err.strerror})")]), []
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
    return FileRecord(str(path), size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest(), skipped), articles


def _copy_generation(source: Path, target: Path) -> None:
    shutil.copy2(source / DOCSTORE_FILE, target / DOCSTORE_FILE)
    shutil.copy2(source / VECTORS_FILE, target / VECTORS_FILE)
    if hnsw_path(source / VECTORS_FILE).exists():  # grown, not rebuilt, by an update that only adds
        shutil.copy2(hnsw_path(source / VECTORS_FILE), hnsw_path(target / VECTORS_FILE))
    shutil.copytree(source / KEYWORD_DIR, target / KEYWORD_DIR)


def generation_dirs(index_dir: Path) -> list[Path]:
    """The generation folders in `index_dir`, live or not."""
    return IndexDirectory(index_dir).generation_dirs()

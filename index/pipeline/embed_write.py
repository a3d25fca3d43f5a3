"""Embedding through the cache, and writing one embedded batch into the write transaction: a
new generation with its articles, vectors and keyword entries, published by its manifest."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index.embedding.cache import EmbeddingCache
from index.embedding.encoder import Encoder
from index.errors import IndexWriteError
from index.pipeline.duplicates import regroup_duplicates
from index.pipeline.plan import ChangeSet
from index.pipeline.read import add_missing_facts, article_facts
from index.storage.docstore import DocStoreWriter, FileRecord
from index.storage.faults import corrupted, is_corruption, is_disk_full
from index.storage.manifest import FORMAT_VERSION, BuildSettings, Manifest
from index.storage.transaction import WriteTransaction
from index.text.articles import Article
from index.text.defence import DefenceFacts
from index.text.duplicates import band_keys, signature
from index.text.passages import Passage

# Passages looked up in (and added to) the embedding cache at a time.
EMBED_SLICE = 4096

Stage = Callable[[str], AbstractContextManager[None]]
# One article of a batch: the article, its source file, its passages.
Item = tuple[Article, str, list[Passage]]


def open_cache(path: Path, dim: int) -> tuple[EmbeddingCache, list[str]]:
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


class Embedder:
    """Embeds passage texts through the cache, reporting "embed" progress over the whole run's
    passages (`total` grows as each round's articles are split)."""

    def __init__(
        self,
        encoder: Encoder,
        cache: EmbeddingCache,
        cache_path: Path,
        progress: Callable[[str, int, int], None] | None,
        stage: Stage,
    ) -> None:
        self.encoder = encoder
        self.cache = cache
        self.cache_path = cache_path
        self.progress = progress
        self.stage = stage
        self.done = 0
        self.total = 0

    def expect(self, passages: int) -> None:
        """Count `passages` more to embed in this run, and report the new total."""
        self.total += passages
        if self.progress:
            self.progress("embed", self.done, self.total)

    def embed_texts(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """`_embed` with progress over the whole run's passages and storage faults named."""
        on_batch = None
        if self.progress:
            progress, before, total = self.progress, self.done, self.total
            on_batch = lambda done, todo: progress("embed", before + len(texts) * done // max(todo, 1), total)  # noqa: E731
        try:
            with self.stage("embed"):
                vectors, embedded = self._embed(texts, on_batch)
        except sqlite3.DatabaseError as err:
            if is_disk_full(err):
                raise IndexWriteError(
                    f"{self.cache_path}: no space left on device while caching embeddings; free some space and "
                    "run again (the batches published so far are kept)"
                ) from None
            if is_corruption(err):
                raise corrupted(self.cache_path, err) from None
            raise
        self.done += len(texts)
        if self.progress:
            self.progress("embed", self.done, self.total)
        return vectors, embedded

    def _embed(self, texts: list[str], on_batch: Callable[[int, int], None] | None) -> tuple[np.ndarray, int]:
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
            vectors[start : start + len(part)], new = self.cache.embed(
                part, self.encoder.name, self.encoder.encode, batch_size, report
            )
            embedded += new
        return vectors, embedded


def stack(parts: list[np.ndarray], dim: int) -> np.ndarray:
    """One array of the chunks' vectors (no copy for a single chunk)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty((0, dim), dtype=np.float32)


def _slice_progress(on_batch: Callable[[int, int], None], start: int, size: int, total: int) -> Callable[[int, int], None]:
    """Progress within one slice of `size` texts at `start`, reported over all `total` texts."""
    return lambda done, todo: on_batch(start + size * done // max(todo, 1), total)


class BatchWriter:
    """Writes each embedded batch into a new generation of the write transaction and publishes
    it, timing each store's part under its stage name."""

    def __init__(
        self, tx: WriteTransaction, encoder: Encoder, settings: BuildSettings, sources: list[str], stage: Stage
    ) -> None:
        self.tx = tx
        self.encoder = encoder
        self.settings = settings
        self.sources = sources
        self.stage = stage

    def write(
        self, changes: ChangeSet, batch: list[Item], vectors: np.ndarray, first: bool, through: int, copy: bool
    ) -> tuple[int, int]:
        """Write one embedded batch (the articles of `changes.add` up to `through`) into a new
        generation, over the last one's files when `copy`, publish it, and return the index's
        articles and passages. The first batch of a round also removes what the round removes."""
        tx = self.tx
        records = _records_through(changes, len(batch), first, through)
        replaced = {a.id for a, _f, _p in batch if a.id in changes.updated_ids}
        delete = sorted(replaced | (changes.removed_ids if first else set()))
        with self.stage("copy"):
            tx.begin(copy=copy)
        with self.stage("entities"):
            # From the cleaned text the store keeps, so every span points into what `show` prints.
            facts = [article_facts(article) for article, _f, _p in batch]
        with self.stage("articles"), tx.articles() as docs:
            regroup = _regroup_seeds(docs, delete)
            removed_passages, new_ids = _write_articles(docs, batch, facts, delete)
            if first:
                add_missing_facts(docs)
            for record in records:
                docs.put_file(record)
            if first:
                docs.delete_files(changes.gone_files)
            regroup_duplicates(docs, regroup, {a.id for a, _f, _p in batch})
            articles, passages = docs.count_articles(), docs.count_passages()
        with self.stage("vectors"), tx.vectors(self.encoder.dim) as vector_writer:
            vector_writer.remove(removed_passages)
            # One call: adding slice by slice grew the store's buffer by doubling, a higher peak.
            vector_writer.add(new_ids, vectors)
            del vectors  # the store has its own copy; ours goes before saving builds the graph
        del vector_writer
        with self.stage("keyword"), tx.keywords(
            self.settings.title_boost, self.settings.stemmer, self.settings.stop_words
        ) as keyword:
            keyword.delete(delete)
            for article, _file, _p in batch:
                keyword.add(article)
        with self.stage("publish"):
            self._publish(articles, passages)
        return articles, passages

    def _publish(self, articles: int, passages: int) -> None:
        self.tx.publish(
            Manifest(
                format_version=FORMAT_VERSION,
                model=self.encoder.name,
                dim=self.encoder.dim,
                generation=self.tx.generation,
                articles=articles,
                passages=passages,
                settings=self.settings,
                sources=self.sources,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )


def _records_through(changes: ChangeSet, size: int, first: bool, through: int) -> list[FileRecord]:
    """The file records that go with the batch of `size` articles ending at `through`.

    A file's record is written with its last article, so that a run killed between batches
    reads a half-done file again; files with nothing to add go with the first."""
    last_add = {file: i for i, (_a, file) in enumerate(changes.add)}
    start = through - size
    return [
        r for r in changes.files
        if (first and r.path not in last_add) or start <= last_add.get(r.path, -1) < through
    ]


def _regroup_seeds(docs: DocStoreWriter, delete: list[str]) -> set[str]:
    """The members of the duplicate groups that the articles in `delete` belong to (read before
    they go): those groups lose or change an article, so they are found again."""
    old_groups = set(docs.duplicate_groups(delete).values())
    return {m for members in docs.group_members(sorted(old_groups)).values() for m in members}


def _write_articles(
    docs: DocStoreWriter, batch: list[Item], facts: list[DefenceFacts], delete: list[str]
) -> tuple[list[int], list[int]]:
    """Delete `delete` and add the batch's articles with their passages, signatures and facts;
    return the passages removed and added."""
    removed_passages = docs.delete_articles(delete)
    new_ids: list[int] = []
    for (article, file, passages), facts_of_article in zip(batch, facts, strict=True):
        sig = signature(article.body)
        new_ids += docs.add_article(article, file, passages, sig.tobytes(), band_keys(sig))
        docs.put_facts(article.id, facts_of_article)
    return removed_passages, new_ids

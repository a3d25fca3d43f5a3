"""Cutting a round's changes into the batches that are published one generation each: about
`commit_every` passages, or less once `publish_seconds` have passed since the last publish."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from index.embedding.encoder import Encoder
from index.pipeline.embed_write import Embedder, Item, Stage, stack
from index.pipeline.plan import ChangeSet
from index.pipeline.read import embedding_text, split_article
from index.storage.manifest import BuildSettings

# (articles with their passages, their vectors, how many were computed, first?, articles through it)
Batch = tuple[list[Item], np.ndarray, int, bool, int]


class Batcher:
    """Splits and embeds each round's new articles and yields them in batches to publish; the
    caller calls `published` after each, as the time of the last publish starts the next."""

    def __init__(
        self,
        encoder: Encoder,
        settings: BuildSettings,
        embedder: Embedder,
        progress: Callable[[str, int, int], None] | None,
        stage: Stage,
        publish_seconds: float,
        last_publish: float,
    ) -> None:
        self.encoder = encoder
        self.settings = settings
        self.embedder = embedder
        self.progress = progress
        self.stage = stage
        self.publish_seconds = publish_seconds
        self.last_publish = last_publish  # time.monotonic() of the last publish (or the run's start)

    def published(self) -> None:
        """Note that a batch was just published."""
        self.last_publish = time.monotonic()

    def batches(self, changes: ChangeSet, commit_every: int) -> Iterator[Batch]:
        """(articles with their passages, their vectors, how many were computed, first?, articles
        through this batch) for each generation to publish.

        Every article is split first (cheap next to embedding), so the embedding total is exact
        before the first passage is embedded. A batch ends at about `commit_every` passages, or
        once `publish_seconds` have passed since the last publish: embedding goes in chunks of
        a few model calls, so the time is checked every few seconds."""
        items = self._split(changes)
        total = len(items)
        chunk = max(self.encoder.embed_batch_size * 4, 1)
        batch: list[Item] = []
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
            vectors, new = self.embedder.embed_texts(pending)
            parts.append(vectors)
            embedded += new
            pending = []
            if self._due(size, commit_every) and done < total:
                yield batch, stack(parts, self.encoder.dim), embedded, first, done
                batch, parts, size, embedded, first = [], [], 0, 0, False
        if pending:
            vectors, new = self.embedder.embed_texts(pending)
            parts.append(vectors)
            embedded += new
        yield batch, stack(parts, self.encoder.dim), embedded, first, total

    def _split(self, changes: ChangeSet) -> list[Item]:
        """The articles to add with their passages, counted into the run's embedding total."""
        items: list[Item] = []
        total = len(changes.add)
        for done, (article, file) in enumerate(changes.add, start=1):
            with self.stage("split"):
                items.append((article, file, split_article(article, self.encoder, self.settings)))
            if self.progress:
                self.progress("split", done, total)
        self.embedder.expect(sum(len(passages) for _a, _f, passages in items))
        return items

    def _due(self, size: int, commit_every: int) -> bool:
        """True when the batch so far is to be published: by its size, or by the time passed."""
        return size >= commit_every or (
            self.publish_seconds > 0 and time.monotonic() - self.last_publish >= self.publish_seconds
        )

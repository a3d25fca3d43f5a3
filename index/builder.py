"""Building an index: read sources, clean, split, embed (with the cache), write, switch.

Commit protocol. Every build writes a complete new generation folder (`gen-NNNNNN/`: article
store, whoosh index, faiss vectors) beside the live one, flushes it to disk, and only then
replaces `manifest.json` with a rename, which is atomic. A build killed at any moment leaves the
old manifest pointing at the old, complete generation; the half-written folder is removed by the
next build. The previous generation is kept one cycle so that readers that opened it before the
switch can finish. Embeddings are cached by passage content hash in `cache/`, shared across
generations, so a rebuild re-embeds only new or changed text.

One writer at a time: a file lock (filelock) on `INDEX_DIR/.lock`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from index.articles import Article, Skipped, iter_input_files, read_articles
from index.docstore import DocStore, write_docstore
from index.embedding_cache import EmbeddingCache
from index.encoder import Encoder, encoder_for, MINILM_NAME
from index.errors import IndexIncompatible, IndexLocked, SourceNotFound
from index.keyword import write_keyword_index
from index.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    BuildSettings,
    Manifest,
    fsync_dir,
    read_manifest,
    write_manifest,
)
from index.passages import Passage, split_passages
from index.vectors import write_vectors

GENERATION_PREFIX = "gen-"
CACHE_FILE = Path("cache") / "embeddings.sqlite"
DOCSTORE_FILE = "articles.sqlite"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"

# Progress callback: (stage, done, total). Stages: "read", "embed".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildReport:
    """What a build did, compared with the index it replaced."""

    index_dir: str
    articles: int
    passages: int
    added: int
    updated: int
    removed: int
    unchanged: int
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
) -> BuildReport:
    """Build or update the index at `index_dir` from `paths` (folders or .txt/.jsonl files).

    The index remembers its source paths: `paths` are added to them, and every source is read
    again, so changed files are re-indexed and deleted ones drop out. With no `paths`, the known
    sources are re-read. `rebuild=True` keeps the sources but forgets the old settings and model.
    The model is `encoder`, else the one named by `model`, else the index's own, else
    all-MiniLM-L6-v2. `embedding_cache` puts the vector cache elsewhere than `INDEX_DIR/cache`,
    to share it between indexes of the same texts.
    Unreadable files are reported in `BuildReport.skipped`; bad paths raise before anything is
    written.
    """
    index_dir = Path(index_dir)
    previous = _previous_manifest(index_dir, rebuild)
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

    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(index_dir / ".lock"), timeout=0):
            cache_path = embedding_cache or index_dir / CACHE_FILE
            return _build_locked(index_dir, files, sources, previous, encoder, settings, progress, cache_path)
    except Timeout:
        raise IndexLocked(
            f"{index_dir} is being updated by another process; try again when it has finished"
        ) from None


def _previous_manifest(index_dir: Path, rebuild: bool) -> Manifest | None:
    if rebuild or not (index_dir / MANIFEST_NAME).exists():
        return None
    return read_manifest(index_dir)


def _known_sources(index_dir: Path) -> list[str]:
    """The sources an existing index was built from, read leniently so --rebuild can use them."""
    try:
        return [str(s) for s in json.loads((index_dir / MANIFEST_NAME).read_text())["sources"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _merge_sources(known: list[str], paths: Sequence[Path | str]) -> list[str]:
    known = list(known)
    for path in paths:
        resolved = str(Path(path).resolve())
        if resolved not in known:
            known.append(resolved)
    return known


def _build_locked(
    index_dir: Path,
    files: list[Path],
    sources: list[str],
    previous: Manifest | None,
    encoder: Encoder,
    settings: BuildSettings,
    progress: Progress | None,
    cache_path: Path,
) -> BuildReport:
    live = _live_generation(index_dir)
    _remove_abandoned_generations(index_dir, live)
    articles, skipped = _collect(files, progress)
    passages = [_split(a, encoder, settings) for a in articles]
    texts = [_embedding_text(a, p, settings) for a, ps in zip(articles, passages) for p in ps]

    cache = EmbeddingCache(cache_path, encoder.dim)
    try:
        on_batch = (lambda done, total: progress("embed", done, total)) if progress else None
        vectors, embedded = cache.embed(texts, encoder.name, encoder.encode, on_batch=on_batch)
    finally:
        cache.close()

    generation = _next_generation(index_dir)
    gen_dir = index_dir / generation
    gen_dir.mkdir()
    write_docstore(gen_dir / DOCSTORE_FILE, articles, passages)
    write_keyword_index(gen_dir / KEYWORD_DIR, articles, settings.title_boost)
    write_vectors(gen_dir / VECTORS_FILE, vectors, encoder.dim)
    _fsync_tree(gen_dir)

    old_hashes = _old_hashes(index_dir, previous)
    new_hashes = {a.id: a.content_hash for a in articles}
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=encoder.name,
        dim=encoder.dim,
        generation=generation,
        articles=len(articles),
        passages=len(texts),
        settings=settings,
        sources=sources,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_manifest(index_dir, manifest)
    _remove_old_generations(index_dir, keep={generation, live or ""})

    unchanged = sum(1 for i, h in new_hashes.items() if old_hashes.get(i) == h)
    updated = sum(1 for i, h in new_hashes.items() if i in old_hashes and old_hashes[i] != h)
    return BuildReport(
        index_dir=str(index_dir),
        articles=len(articles),
        passages=len(texts),
        added=sum(1 for i in new_hashes if i not in old_hashes),
        updated=updated,
        removed=sum(1 for i in old_hashes if i not in new_hashes),
        unchanged=unchanged,
        embedded=embedded,
        reused_embeddings=len(texts) - embedded,
        skipped=skipped,
    )


def _collect(files: list[Path], progress: Progress | None) -> tuple[list[Article], list[Skipped]]:
    articles: dict[str, Article] = {}
    skipped: list[Skipped] = []
    for done, path in enumerate(files, start=1):
        for item in read_articles(path):
            if isinstance(item, Skipped):
                skipped.append(item)
            elif item.id in articles:
                first = articles[item.id].path
                skipped.append(Skipped(item.path, f"duplicate id {item.id!r} (first in {first})"))
            else:
                articles[item.id] = item
        if progress:
            progress("read", done, len(files))
    return list(articles.values()), skipped


def _split(article: Article, encoder: Encoder, settings: BuildSettings) -> list[Passage]:
    budget = settings.passage_tokens
    if settings.title_in_passages:
        # The title rides along with every passage, so it must fit beside the passage.
        title_tokens = encoder.count_tokens([article.title])[0] + 1
        budget = max(min(budget, encoder.max_tokens - title_tokens), 16)
    return split_passages(article.body, encoder.count_tokens, budget, settings.overlap_sentences)


def _embedding_text(article: Article, passage: Passage, settings: BuildSettings) -> str:
    if settings.title_in_passages:
        return f"{article.title}\n{passage.text}"
    return passage.text


def _live_generation(index_dir: Path) -> str | None:
    """The generation the manifest points at, read leniently (also for --rebuild of an old format)."""
    try:
        return str(json.loads((index_dir / MANIFEST_NAME).read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name.removeprefix(GENERATION_PREFIX)) for p in _generation_dirs(index_dir)
               if p.name.removeprefix(GENERATION_PREFIX).isdigit()]
    return f"{GENERATION_PREFIX}{max(numbers, default=0) + 1:06d}"


def _old_hashes(index_dir: Path, previous: Manifest | None) -> dict[str, str]:
    if previous is None:
        return {}
    store = DocStore(index_dir / previous.generation / DOCSTORE_FILE)
    try:
        return store.content_hashes()
    finally:
        store.close()


def _generation_dirs(index_dir: Path) -> list[Path]:
    return [p for p in index_dir.glob(f"{GENERATION_PREFIX}*") if p.is_dir()]


def _remove_abandoned_generations(index_dir: Path, live: str | None) -> None:
    """Remove generation folders newer than the live one: leftovers of a killed build."""
    for path in _generation_dirs(index_dir):
        if live is None or path.name > live:
            shutil.rmtree(path)


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    for path in _generation_dirs(index_dir):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for root, _dirs, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(root))


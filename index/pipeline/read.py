"""Reading articles: a source file read once into its record and cleaned articles (with their
countries), an article cut into the passages that are embedded, and its defence facts."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from index.embedding.encoder import Encoder
from index.storage.docstore import DocStoreWriter, FileRecord
from index.storage.manifest import BuildSettings
from index.text.articles import (
    ONE_ARTICLE_KINDS,
    Article,
    ReadOptions,
    Skipped,
    input_kind,
    read_articles,
    text_article_id,
)
from index.text.countries import article_countries
from index.text.defence import DefenceFacts, extract
from index.text.passages import Passage, split_passages

# A file modified this recently may still change within the file system's time resolution
# without its size changing; it is re-hashed on the next run rather than trusted by its stat.
_RACY_SECONDS = 2.0


def read_file(
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


def with_countries(articles: list[Article]) -> list[Article]:
    """`articles` with the countries their title and body name."""
    return [replace(a, countries=tuple(article_countries(a.title, a.body))) for a in articles]


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
        article.body, encoder.count_tokens, budget, settings.overlap_sentences, settings.sentence_splitter,
        settings.overlap_tokens,
    )


def embedding_text(article: Article, passage: Passage, settings: BuildSettings) -> str:
    """What is embedded for a passage: its text, after the article's real title if settings say so."""
    if _title_prefixed(article, settings):
        return f"{article.title}\n{passage.text}"
    return passage.text


def article_facts(article: Article) -> DefenceFacts:
    """The defence facts of `article`, from the cleaned text the store keeps, so every span
    points into what `show` prints."""
    return extract(article.title, article.body, article.countries)


def add_missing_facts(docs: DocStoreWriter) -> None:
    """Extract and store the defence facts of the articles that have none: those of an index
    built before facts were stored, so one update brings it up to date without re-embedding."""
    missing = docs.articles_without_facts()
    for start in range(0, len(missing), 500):
        for article in docs.articles(missing[start : start + 500]).values():
            docs.put_facts(article.id, article_facts(article))

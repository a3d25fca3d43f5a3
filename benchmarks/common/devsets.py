"""The dev collections the ranking is tuned on, read the same way by every tuning script.

TIME (dev queries only), CISI and Cranfield, from `DATA/{time,cisi,cran}`. Each folder
holds `docs.jsonl` and either `queries-dev.tsv`/`qrels-dev.trec` (TIME) or
`queries.tsv`/`qrels.trec`. Only judged queries are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from index.storage.manifest import BuildSettings
from search.evaluation import read_qrels, read_queries

DEV_COLLECTIONS = ("time", "cisi", "cran")


@dataclass(frozen=True)
class Collection:
    """One dev collection: its articles file, judged queries and judgments."""

    name: str
    docs: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_collection(folder: Path) -> Collection:
    """The collection in `folder` (dev queries only where a split exists)."""
    dev = folder / "queries-dev.tsv"
    queries_path = dev if dev.exists() else folder / "queries.tsv"
    qrels_path = folder / "qrels-dev.trec" if dev.exists() else folder / "qrels.trec"
    qrels = read_qrels(qrels_path)
    queries = {q: t for q, t in read_queries(queries_path).items() if q in qrels}
    return Collection(folder.name, folder / "docs.jsonl", queries, qrels)


def read_collection_articles(docs: Path) -> list:
    """The articles of a collection's docs.jsonl, read and cleaned by Accord's own reader."""
    from index.text.articles import Article, read_articles

    return [item for item in read_articles(docs, docs.read_bytes()) if isinstance(item, Article)]


def write_keyword_only(directory: Path, articles: list, settings: BuildSettings) -> None:
    """A keyword index of `articles` alone, written by the keyword store's own writer (the one a
    build uses) as a build with `settings` writes it (title boost, stemmer, stop list), for
    sweeps of the keyword leg that need no embeddings."""
    from index.storage.keyword import KeywordWriter

    writer = KeywordWriter(directory, settings.title_boost, stemmer=settings.stemmer, stop_words=settings.stop_words)
    for article in articles:
        writer.add(article)
    writer.commit()


def keyword_run(store, text: str, depth: int, settings: BuildSettings | None = None) -> list[tuple[str, float]]:
    """The keyword leg for `text` on `store` (written with `settings`, default the defaults),
    parsed as the engine parses it for such an index, best first."""
    from search.query import parse_query

    return sorted(store.search(parse_query(text, settings=settings).keyword, depth), key=lambda h: (-h[1], h[0]))

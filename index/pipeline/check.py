"""Consistency check of an index: manifest, article store, keyword index, vectors and sources.

Used by `accord index --check`. Problems make the index untrustworthy; notes are things a user
may want to act on (sources changed since the last run, leftovers of an interrupted build) but
that do not make the live index wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from index.text.articles import iter_input_files
from index.pipeline.builder import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE, generation_dirs, stat_changed
from index.storage.docstore import DocStore, FileRecord
from index.errors import AccordError
from index.storage.keyword import WhooshKeywordStore
from index.storage.manifest import read_manifest
from index.storage.vectors import FaissVectorStore, hnsw_path

_REBUILD = "run 'accord index --rebuild' to rebuild it from its sources"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check: consistent when there are no problems."""

    index_dir: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """True when nothing is wrong with the live index."""
        return not self.problems


def check_index(index_dir: Path) -> CheckResult:
    """Check that the live generation's parts all describe the same articles and passages."""
    index_dir = Path(index_dir)
    result = CheckResult(str(index_dir))
    manifest = read_manifest(index_dir)  # IndexNotFound / IndexIncompatible propagate
    generation = index_dir / manifest.generation
    missing = [p for p in (DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE) if not (generation / p).exists()]
    if missing:
        result.problems.append(f"{generation} lacks {', '.join(missing)}; {_REBUILD}")
        return result
    try:
        docs = DocStore(generation / DOCSTORE_FILE)
        keyword = WhooshKeywordStore(generation / KEYWORD_DIR)
        vectors = FaissVectorStore(generation / VECTORS_FILE)
    except (AccordError, OSError, RuntimeError, ValueError) as err:
        result.problems.append(f"{generation} cannot be opened ({err}); {_REBUILD}")
        return result
    try:
        _compare(result, manifest, docs, keyword, vectors)
        _note_stale_sources(result, manifest.sources, docs)
    finally:
        keyword.close()
        docs.close()
    for path in generation_dirs(index_dir):
        if path.name > manifest.generation:
            result.notes.append(f"{path.name} is left from an interrupted build; the next 'accord index' removes it")
    return result


def _compare(result: CheckResult, manifest, docs: DocStore, keyword: WhooshKeywordStore, vectors: FaissVectorStore) -> None:
    articles, passages = docs.article_ids(), docs.passage_ids()
    if (len(articles), len(passages)) != (manifest.articles, manifest.passages):
        result.problems.append(
            f"manifest counts {manifest.articles} articles / {manifest.passages} passages, "
            f"the article store holds {len(articles)} / {len(passages)}; {_REBUILD}"
        )
    keyword_ids = keyword.article_ids()
    if keyword_ids != articles:
        result.problems.append(
            f"keyword index and article store differ by {len(keyword_ids ^ articles)} articles; {_REBUILD}"
        )
    if vectors.dim != manifest.dim:
        result.problems.append(f"vectors have {vectors.dim} dimensions, the manifest says {manifest.dim}; {_REBUILD}")
    vector_ids = vectors.ids()
    if vector_ids != passages:
        result.problems.append(
            f"vector index and article store differ by {len(vector_ids ^ passages)} passages; {_REBUILD}"
        )
    graph_path = hnsw_path(Path(vectors.path))
    if graph_path.exists():
        graph_ids = FaissVectorStore(graph_path).ids()
        if graph_ids != vector_ids:
            result.problems.append(
                f"HNSW graph and exact vector index differ by {len(graph_ids ^ vector_ids)} passages; {_REBUILD}"
            )


def _note_stale_sources(result: CheckResult, sources: list[str], docs: DocStore) -> None:
    known = docs.files()
    try:
        current = list(iter_input_files(Path(s) for s in sources))
    except AccordError as err:
        result.notes.append(f"a source is gone ({err})")
        return
    changed = sum(1 for p in current if _content_changed(p, known.get(str(p))))
    gone = len(set(known) - {str(p) for p in current})
    if changed or gone:
        result.notes.append(
            f"{changed} source files are new or changed and {gone} are gone since the last run; "
            "run 'accord index' to bring the index up to date"
        )


def _content_changed(path: Path, record: FileRecord | None) -> bool:
    # A file whose stat differs is hashed: a touch or a racy timestamp is not a change.
    if not stat_changed(path, record):
        return False
    try:
        return record is None or hashlib.sha256(path.read_bytes()).hexdigest() != record.sha256
    except OSError:
        return True

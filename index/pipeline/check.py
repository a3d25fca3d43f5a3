"""Checking an index: its parts agree, and their content is intact.

Used by `accord index --check`. Counts alone miss damage: flipped bytes in the vector file leave
the counts right and the scores absurd. So the check also reads content: SQLite's
`PRAGMA integrity_check` on every article store segment, every stored field and a sample of
postings of the whoosh index, the length of every stored vector in every vector segment (they
are unit length by construction), and a sample of stored vectors against the embedding cache
they were copied from. The segments must agree with `segments.json`: their files are there,
their counts add up, and a tombstone names only a passage of an older segment.

Problems make the index untrustworthy and name the file that is broken; notes are things a
user may want to act on (sources changed since the last run, leftovers of an interrupted
build, no embedding cache to compare with) that do not make the live index wrong. The check
holds a lease on the generation it reads, so a concurrent update cannot remove it meanwhile.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import AccordError, IndexIncompatible
from index.pipeline.read import embedding_text
from index.pipeline.sources import stat_changed
from index.storage.directory import GenerationLease, IndexDirectory
from index.storage.docstore import DocStore, FileRecord, open_docstore
from index.storage.faults import REBUILD_HINT, flat_vectors_problem
from index.storage.layout import KEYWORD_DIR, SEGMENTS_FILE, docstore_file, removed_file, vectors_file
from index.storage.manifest import Manifest
from index.storage.segments import StoreSegments, generation_segments
from index.text.articles import iter_input_files
from index.text.passages import Passage

_REBUILD = REBUILD_HINT
NORM_TOLERANCE = 1e-3  # float32 unit vectors are within 1e-6 of length 1; damage is far off
CACHE_TOLERANCE = 1e-5
SAMPLE = 200  # passages compared with the embedding cache
_POSTING_TERMS = 200  # whoosh terms whose postings are read
_CHUNK = 50_000  # vectors read at a time


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


def check_index(index_dir: Path, sample: int = SAMPLE, embedding_cache: Path | None = None) -> CheckResult:
    """Check the live generation: its parts describe the same articles and passages, and their
    content is intact. Raises IndexNotFound when there is no index; everything else found
    wrong is a problem in the result, naming the file."""
    directory = IndexDirectory(index_dir)
    result = CheckResult(str(directory.path))
    try:
        lease = directory.lease()
    except IndexIncompatible as err:  # unreadable manifest, other format, missing generation
        result.problems.append(str(err))
        return result
    with lease:
        _check_generation(result, lease, sample, embedding_cache or directory.default_cache_path)
    _check_locks(result, directory, lease.manifest.generation)
    for path in directory.generation_dirs():
        if path.name > lease.generation:
            result.notes.append(f"{path.name} is left from an interrupted build; the next 'accord index' removes it")
    return result


def _check_generation(result: CheckResult, lease: GenerationLease, sample: int, cache_path: Path) -> None:
    manifest, generation = lease.manifest, lease.path
    segments = _segments(result, generation)
    if segments is None:
        return
    doc_files = [docstore_file(s.name) for s in segments.docs]
    vector_files = [vectors_file(s.name) for s in segments.vectors]
    missing = [p for p in (*doc_files, KEYWORD_DIR, *vector_files) if not (generation / p).exists()]
    if missing or not doc_files or not vector_files:
        result.problems.append(f"{generation} lacks {', '.join(missing) or 'store segments'}; {_REBUILD}")
        return
    docs = _open_docstore(result, generation, segments)
    keyword_ids = _check_keyword(result, lease.keyword_path)
    vectors = _open_vectors(result, generation, segments, manifest.dim)
    if docs is None:
        return
    try:
        articles, passages = docs.article_ids(), docs.passage_ids()
        _compare_counts(result, manifest, articles, passages, keyword_ids)
        if not segments.legacy and (segments.articles, segments.passages) != (len(articles), len(passages)):
            result.problems.append(
                f"{generation / SEGMENTS_FILE} counts {segments.articles} articles / {segments.passages} passages, "
                f"the article store holds {len(articles)} / {len(passages)}; {_REBUILD}"
            )
        if vectors is not None:
            try:
                _check_vectors(result, manifest, generation, segments, vectors, passages)
                _check_against_cache(result, manifest, docs, passages, sample, cache_path,
                                     lambda pid: _segment_of(generation, segments, vectors, pid))
            except (RuntimeError, MemoryError) as err:  # faiss, on damage its headers do not show
                result.problems.append(_damaged(generation / vector_files[0], err))
        _note_stale_sources(result, manifest.sources, docs)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as err:  # damaged pages, or text that is not UTF-8
        result.problems.append(f"{lease.docstore_path} is damaged ({err}); {_REBUILD}")
    finally:
        docs.close()


def _segments(result: CheckResult, generation: Path) -> StoreSegments | None:
    """The generation's segments (counted, for one written before segments); None (and a
    problem) when they cannot be read."""
    try:
        return generation_segments(generation)
    except AccordError as err:
        result.problems.append(str(err))
    except (sqlite3.DatabaseError, UnicodeDecodeError) as err:
        result.problems.append(_damaged(generation / docstore_file(""), err))
    return None


def _check_locks(result: CheckResult, directory: IndexDirectory, generation: str) -> None:
    """The writers' lock and the readers' leases must be files that can be locked. Anything else
    there (a folder, say) makes every update fail, or lets searches run without a lease, while
    the index itself reads fine."""
    write_lock = directory.write_lock_path
    if write_lock.exists() and not write_lock.is_file():
        result.problems.append(
            f"{write_lock} is {_kind(write_lock)}, not the writers' lock file, so every update fails; "
            "remove it (the next update makes a new one)"
        )
    leases = directory.lease_lock_path(generation).parent
    if leases.exists() and not leases.is_dir():
        result.problems.append(
            f"{leases} is {_kind(leases)}, not the folder of the readers' leases, so searches run "
            "without one and an update may remove a generation in use; remove it"
        )
    elif leases.is_dir():
        for lease in sorted(leases.iterdir()):
            if not lease.is_file():
                result.problems.append(
                    f"{lease} is {_kind(lease)}, not a reader's lease file, so searches of its "
                    "generation run without one; remove it"
                )


def _kind(path: Path) -> str:
    if path.is_dir():
        return "a folder"
    return "a file" if path.is_file() else "neither a file nor a folder"


def _open_docstore(result: CheckResult, generation: Path, segments: StoreSegments) -> DocStore | None:
    damaged = False
    for segment in segments.docs:
        path = generation / docstore_file(segment.name)
        try:
            probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                verdict = [row[0] for row in probe.execute("PRAGMA integrity_check(20)")]
            finally:
                probe.close()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as err:  # SQLite's message may quote damaged bytes
            result.problems.append(_damaged(path, err))
            return None
        if verdict != ["ok"]:
            result.problems.append(f"{path} fails SQLite's integrity check ({'; '.join(verdict[:3])}); {_REBUILD}")
            damaged = True
    try:
        docs = open_docstore(generation, None if segments.legacy else segments.docs)
        docs.count_articles()  # opens every segment: a damaged one fails here
    except (sqlite3.DatabaseError, UnicodeDecodeError) as err:
        if not damaged:
            result.problems.append(_damaged(generation / docstore_file(""), err))
        return None
    return docs


def _check_keyword(result: CheckResult, path: Path) -> set[str] | None:
    """The article ids in the whoosh index, after reading its stored fields and some postings;
    None (and a problem) when it is damaged."""
    from whoosh import index as whoosh_index

    try:
        ix = whoosh_index.open_dir(str(path))
        with ix.reader() as reader:
            ids = {fields["id"] for fields in reader.all_stored_fields()}
            for count, term in enumerate(reader.lexicon("body")):
                if count >= _POSTING_TERMS:
                    break
                reader.postings("body", term).all_ids()
        return ids
    except Exception as err:
        # Everything above reads the whoosh index, and whoosh reports damage as almost any type
        # (a bare Exception for a bad block tag, TermNotFound, MemoryError for a wild length,
        # ImportError for a damaged pickled class name): here each one means this folder.
        result.problems.append(_damaged(path, err))
        return None


def _open_vectors(result: CheckResult, generation: Path, segments: StoreSegments, dim: int) -> dict | None:
    """Each vector segment's exact index as stored (by segment name), once its file's layout
    checks out (None, and a problem naming the file, when one does not)."""
    from index.storage.vectors import FaissVectorStore

    stores = {}
    for segment in segments.vectors:
        path = generation / vectors_file(segment.name)
        try:
            problem = flat_vectors_problem(path, dim)  # before faiss, which may abort on such a file
            if problem is not None:
                result.problems.append(f"{path} is damaged ({problem}); {_REBUILD}")
                return None
            stores[segment.name] = FaissVectorStore(path)
        except (RuntimeError, MemoryError, OSError) as err:
            result.problems.append(_damaged(path, err))
            return None
    return stores


def _damaged(path: Path, err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{path} is damaged ({type(err).__name__}: {lines[0][:120] if lines else 'no detail'}); {_REBUILD}"


def _compare_counts(result: CheckResult, manifest: Manifest, articles: set[str], passages: set[int], keyword_ids) -> None:
    if (len(articles), len(passages)) != (manifest.articles, manifest.passages):
        result.problems.append(
            f"manifest counts {manifest.articles} articles / {manifest.passages} passages, "
            f"the article store holds {len(articles)} / {len(passages)}; {_REBUILD}"
        )
    if keyword_ids is not None and keyword_ids != articles:
        result.problems.append(
            f"keyword index and article store differ by {len(keyword_ids ^ articles)} articles; {_REBUILD}"
        )


def _check_vectors(
    result: CheckResult, manifest: Manifest, generation: Path, segments: StoreSegments, stores: dict, passages: set[int]
) -> None:
    """Each vector segment's own file checks out, its tombstones name passages of older
    segments, and what the segments hold less what they remove is the article store's passages."""
    import numpy as np

    held: set[int] = set()
    removed_all: set[int] = set()
    for segment in segments.vectors:
        path = generation / vectors_file(segment.name)
        ids = _check_vector_file(result, manifest, path, stores[segment.name])
        if ids is None:
            return
        removed_path = generation / removed_file(segment.name)
        removed = {int(i) for i in np.load(removed_path)} if segment.name and removed_path.exists() else set()
        if removed - held:
            result.problems.append(
                f"{removed_path} removes {len(removed - held)} passages no older segment holds; {_REBUILD}")
        if len(ids) != segment.vectors or ids & held:
            result.problems.append(
                f"{path} holds {len(ids)} vectors ({len(ids & held)} also in older segments), "
                f"{generation / SEGMENTS_FILE} says {segment.vectors}; {_REBUILD}")
        held |= ids
        removed_all |= removed
    live = held - removed_all
    if live != passages:
        result.problems.append(
            f"{generation / vectors_file('')}: vector index and article store differ by {len(live ^ passages)} passages; {_REBUILD}"
        )


def _check_vector_file(result: CheckResult, manifest: Manifest, path: Path, vectors) -> set[int] | None:
    """The passage ids of one vector segment file, once its dimensions, vector lengths and graph
    are checked; None when its dimensions are wrong."""
    import numpy as np

    from index.storage.vectors import FaissVectorStore, hnsw_path

    if vectors.dim != manifest.dim:
        result.problems.append(f"{path} has {vectors.dim} dimensions, the manifest says {manifest.dim}; {_REBUILD}")
        return None
    vector_ids = vectors.ids()
    flat = vectors._index.index  # the IndexFlatIP inside the id map: the stored vectors in order
    bad, worst = 0, 1.0
    for start in range(0, flat.ntotal, _CHUNK):
        block = flat.reconstruct_n(start, min(_CHUNK, flat.ntotal - start))
        with np.errstate(all="ignore"):
            norms = np.linalg.norm(block.astype(np.float64), axis=1)
        off = ~np.isfinite(norms) | (np.abs(norms - 1.0) > NORM_TOLERANCE)
        bad += int(off.sum())
        if off.any():
            finite = norms[off][np.isfinite(norms[off])]
            worst = max(worst, float(finite.max()) if finite.size else float("inf"))
    if bad:
        result.problems.append(
            f"{path}: {bad} of {flat.ntotal} vectors are not unit length (largest norm {worst:.3g}): "
            f"the file is damaged; {_REBUILD}"
        )
    graph_path = hnsw_path(path)
    if graph_path.exists():
        try:
            graph_ids = FaissVectorStore(graph_path).ids()
        except (RuntimeError, MemoryError, OSError) as err:
            result.problems.append(_damaged(graph_path, err))
            return vector_ids
        if graph_ids != vector_ids:
            result.problems.append(
                f"{graph_path}: HNSW graph and exact vector index differ by {len(graph_ids ^ vector_ids)} passages; {_REBUILD}"
            )
    return vector_ids


def _segment_of(generation: Path, segments: StoreSegments, stores: dict, pid: int) -> tuple[Path, Any]:
    """The file and the exact index of the vector segment whose id range holds passage `pid`."""
    from index.storage.segments import removed_counts

    counts = removed_counts(segments.vectors, [pid])
    name = next((s.name for s, n in zip(segments.vectors, counts, strict=True) if n), "")
    return generation / vectors_file(name), stores[name]


def _check_against_cache(
    result: CheckResult, manifest: Manifest, docs: DocStore, passages: set[int], sample: int, cache_path: Path,
    segment_of: Callable[[int], tuple[Path, Any]],
) -> None:
    """Compare an even sample of stored vectors with the cached vectors of the same texts."""
    import numpy as np

    from index.embedding.cache import EmbeddingCache, passage_key

    if not passages or sample <= 0:
        return
    if not cache_path.exists():
        result.notes.append(f"no embedding cache at {cache_path}: stored vectors were not compared with it")
        return
    ordered = sorted(passages)
    chosen = ordered[:: max(1, len(ordered) // sample)][:sample]
    owners = docs.passage_articles(chosen)
    articles = docs.articles(sorted(set(owners.values())))
    keys: dict[int, str] = {}
    for article_id in sorted(set(owners.values())):
        article = articles.get(article_id)
        if article is None:
            continue
        for stored in docs.passages_of(article_id):
            if stored.id in owners:
                passage = Passage(stored.start, stored.end, article.body[stored.start:stored.end])
                keys[stored.id] = passage_key(manifest.model, embedding_text(article, passage, manifest.settings))
    try:
        cache = EmbeddingCache(cache_path, manifest.dim)
        try:
            cached = cache.get_many(list(keys.values()))
        finally:
            cache.close()
    except sqlite3.DatabaseError as err:
        result.notes.append(f"the embedding cache {cache_path} cannot be read ({err}); the next 'accord index' sets it aside")
        return
    compared = [pid for pid in chosen if keys.get(pid) in cached]
    if not compared:
        result.notes.append(f"none of the {len(chosen)} sampled passages is in the embedding cache {cache_path}")
        return
    found = np.vstack([segment_of(pid)[1].vectors([pid]) for pid in compared])
    expected = np.vstack([cached[keys[pid]] for pid in compared])
    with np.errstate(all="ignore"):
        differs = ~np.all(np.abs(found - expected) <= CACHE_TOLERANCE, axis=1)
    if differs.any():
        where = segment_of(compared[int(np.flatnonzero(differs)[0])])[0]
        result.problems.append(
            f"{where}: {int(differs.sum())} of {len(compared)} sampled vectors differ from the "
            f"embedding cache: the file is damaged; {_REBUILD}"
        )


def _note_stale_sources(result: CheckResult, sources: list[str], docs: DocStore) -> None:
    known = docs.files()
    gone_sources = [s for s in sources if not Path(s).exists()]
    for source in gone_sources:
        result.notes.append(f"source {source} is gone; 'accord index --forget {source}' removes its articles")
    try:
        current = list(iter_input_files(Path(s) for s in sources if s not in gone_sources))
    except AccordError as err:
        result.notes.append(f"a source cannot be read ({err})")
        return
    kept = [f for f in known if not any(f == s or f.startswith(s.rstrip("/") + "/") for s in gone_sources)]
    changed = sum(1 for p in current if _content_changed(p, known.get(str(p))))
    gone = len(set(kept) - {str(p) for p in current})
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


def check_store(url: str) -> CheckResult:
    """Check a PostgreSQL store: its tables describe the same articles and passages as its
    manifest, every passage has a unit vector, and the keyword totals match their rows.

    Reads in one REPEATABLE READ snapshot, so a concurrent update cannot make it disagree with
    itself. Raises IndexNotFound or StoreUnavailable; the rest is reported in the result.
    """
    from index.errors import IndexNotFound
    from index.storage.postgres.connection import connect, redact, repeatable_read
    from index.storage.postgres.docstore import PgDocStore
    from index.storage.postgres.keyword import PgKeywordStore
    from index.storage.postgres.schema import check_version
    from index.storage.postgres.transaction import read_manifest

    where = redact(url)
    result = CheckResult(where)
    with connect(url) as conn:
        repeatable_read(conn)
        conn.read_only = True
        try:
            check_version(conn, where)
        except IndexIncompatible as err:
            result.problems.append(str(err))
            return result
        manifest = read_manifest(conn, where)
        if manifest is None:
            raise IndexNotFound(f"no Accord index in {where}; build one with 'accord index PATH --db URL'")
        docs = PgDocStore(conn)
        keyword = PgKeywordStore(conn)
        articles, passages = docs.article_ids(), docs.passage_ids()
        _compare_counts(result, manifest, articles, passages, keyword.article_ids())
        result.problems.extend(f"{where}: {problem}; {_REBUILD}" for problem in keyword.problems())
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE embedding IS NULL), "
            "count(*) FILTER (WHERE embedding IS NOT NULL AND abs(vector_norm(embedding) - 1) > %s), "
            "count(*) FILTER (WHERE embedding IS NOT NULL AND vector_dims(embedding) <> %s), "
            "count(*) FILTER (WHERE article_id NOT IN (SELECT id FROM accord.articles)) FROM accord.passages",
            (NORM_TOLERANCE, manifest.dim),
        ).fetchone()
        without, off_norm, off_dim, orphans = row if row else (0, 0, 0, 0)
        for count, what in [(without, "have no vector"), (off_norm, "have a vector that is not unit length"),
                            (off_dim, f"have a vector of other than {manifest.dim} dimensions"),
                            (orphans, "belong to no article")]:
            if count:
                result.problems.append(f"{where}: {count} passages {what}; {_REBUILD}")
        _note_stale_sources(result, manifest.sources, docs)  # type: ignore[arg-type]  # same read methods
    return result

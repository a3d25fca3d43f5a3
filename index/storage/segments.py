"""The segments of an index folder's article and vector stores: which files make a generation's
stores, in which order, with their counts, and which of them a new segment folds in.

Each store of a generation is a list of immutable segments, oldest first. The oldest (the base)
is `articles.sqlite` / `vectors.faiss`; a newer one is named by the generation that wrote it
(`articles-000007.sqlite`, `vectors-000007.faiss`: index/storage/layout.py). A segment holds
what its generation added and says what it removed from the older ones (tombstones): the
article store by article id, the vector store by passage id. So a generation's stores are the
rows of every segment that no newer segment removed. An update hard-links the segments it
keeps into its new generation and writes one new segment, in proportion to what it changes;
the readers of the old generation never see the new file. The new segment folds in the small
newer segments as the size tiers say (`fold_from`), and a build ends with one segment per store.

An article and all its rows (passages, bands, countries, facts) live in one segment: a change
to any of them moves the article into the new segment and removes it from its old one. Passage
ids only grow, so each vector segment holds the ids from its `first` up to the next non-empty
segment's `first`, and a removed passage's segment is found from its id alone.

`segments.json` lists the segments with their counts; a generation written before segments has
none and is one base segment of each store (`legacy_segments`). Everything here is plain data:
share it freely.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from index.errors import IndexCorrupted
from index.storage.faults import REBUILD_HINT
from index.storage.layout import DOCSTORE_FILE, GENERATION_PREFIX, SEGMENTS_FILE

SEGMENTS_VERSION = 1
# The size tiers, as the keyword index's (index/storage/keyword.py): a new segment folds in the
# newest segments, one after the other, while each holds at most FOLD_TIER times what the fold
# already holds; so a small update rewrites only the small segments earlier updates left, each
# row is rewritten about log5(store / update) times over the store's life, and a segment that
# stays outweighs four times all newer ones together.
FOLD_TIER = 4
# A reader attaches every article segment to one SQLite connection (at most 10 databases).
MAX_SEGMENTS = 6
# A segment with more than this share of its rows removed is rewritten without them (with every
# newer segment): a cost in proportion to what was removed.
MAX_DEAD_SHARE = 0.1


@dataclass(frozen=True)
class DocSegment:
    """One article store segment: its rows, and how many of them newer segments removed.
    `facts` is True when every one of its articles that is still live has its defence facts."""

    name: str  # "" for the base, else the number of the generation that wrote it
    articles: int
    passages: int
    dead_articles: int = 0
    dead_passages: int = 0
    facts: bool = True

    @property
    def live_articles(self) -> int:
        return self.articles - self.dead_articles

    @property
    def live_passages(self) -> int:
        return self.passages - self.dead_passages


@dataclass(frozen=True)
class VectorSegment:
    """One vector segment: the lowest passage id it may hold, its vectors, and how many of them
    newer segments removed."""

    name: str
    first: int
    vectors: int
    dead: int = 0

    @property
    def live(self) -> int:
        return self.vectors - self.dead


@dataclass(frozen=True)
class StoreSegments:
    """The segments of one generation's article and vector stores, and the next passage id."""

    docs: tuple[DocSegment, ...] = ()
    vectors: tuple[VectorSegment, ...] = ()
    next_passage: int = 1
    legacy: bool = field(default=False, compare=False)  # read from a generation without segments.json

    @property
    def articles(self) -> int:
        """Live articles."""
        return sum(s.live_articles for s in self.docs)

    @property
    def passages(self) -> int:
        """Live passages."""
        return sum(s.live_passages for s in self.docs)

    def to_json(self) -> str:
        data = {
            "version": SEGMENTS_VERSION,
            "next_passage": self.next_passage,
            "articles": [asdict(s) for s in self.docs],
            "vectors": [asdict(s) for s in self.vectors],
        }
        return json.dumps(data, indent=1) + "\n"

    def write(self, generation: Path) -> None:
        """Write `segments.json` into the generation folder (flushed with it when published)."""
        (generation / SEGMENTS_FILE).write_text(self.to_json())


def segment_name(generation: str) -> str:
    """The name of the segments generation `generation` (gen-NNNNNN) writes: its number."""
    return generation.removeprefix(GENERATION_PREFIX)


def read_segments(generation: Path) -> StoreSegments | None:
    """The segments `generation` lists, or None when it has no `segments.json` (written before
    segments: one base segment of each store). Raises IndexCorrupted when the file is damaged."""
    path = generation / SEGMENTS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if data.get("version") != SEGMENTS_VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {SEGMENTS_VERSION}")
        return StoreSegments(
            docs=tuple(DocSegment(**s) for s in data["articles"]),
            vectors=tuple(VectorSegment(**s) for s in data["vectors"]),
            next_passage=int(data["next_passage"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise IndexCorrupted(f"{path} is damaged ({type(err).__name__}: {err}); {REBUILD_HINT}") from None


def legacy_segments(generation: Path) -> StoreSegments:
    """A generation written before segments as one base segment of each store, counted from its
    article store (SQLite counts a table from its b-tree: milliseconds at 100k articles). Its
    facts are not known to be complete: the next update's writer looks once."""
    db = sqlite3.connect(f"file:{generation / DOCSTORE_FILE}?mode=ro", uri=True)
    try:
        articles = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        passages, top = db.execute("SELECT COUNT(*), max(id) FROM passages").fetchone()
    finally:
        db.close()
    return StoreSegments(
        docs=(DocSegment("", articles, passages, facts=False),),
        vectors=(VectorSegment("", 0, passages),),
        next_passage=(top or 0) + 1,
        legacy=True,
    )


def generation_segments(generation: Path) -> StoreSegments:
    """The segments of `generation`, listed or (written before segments) counted."""
    listed = read_segments(generation)
    return listed if listed is not None else legacy_segments(generation)


def fold_from(sizes: Sequence[int], dead: Sequence[int], always: Sequence[bool], new_size: int) -> int:
    """Which of a store's segments (oldest first, `sizes` rows each, `dead` of them removed) a new
    segment of `new_size` rows folds in: those from the returned index on (len(sizes): none).

    Newest first, a segment is folded in when `always` says so (a run's last batch folds what
    the run wrote), or while it holds at most FOLD_TIER times what the fold already holds. Past
    MAX_SEGMENTS the newest are folded too; and a segment with more than MAX_DEAD_SHARE of its
    rows removed is rewritten without them, with every newer one. Only the newest segments are
    ever folded, so the segments stay in the order their rows were written.
    """
    start = len(sizes)
    merged = max(new_size, 1)
    for i in reversed(range(len(sizes))):
        if not (always[i] or sizes[i] <= FOLD_TIER * merged):
            break
        start = i
        merged += sizes[i]
    start = min(start, MAX_SEGMENTS - 1)
    for i in range(start):
        if dead[i] > MAX_DEAD_SHARE * max(sizes[i], 1):
            return i
    return start


def removed_counts(segments: Sequence[VectorSegment], ids: Sequence[int]) -> list[int]:
    """How many of the passage ids `ids` each vector segment holds (by the segments' id ranges)."""
    import bisect

    firsts = [(s.first, i) for i, s in enumerate(segments) if s.vectors]
    starts = [f for f, _ in firsts]
    counts = [0] * len(segments)
    for pid in ids:
        at = bisect.bisect_right(starts, pid) - 1
        if at >= 0:
            counts[firsts[at][1]] += 1
    return counts


def with_dead(segments: Sequence[VectorSegment], added: Sequence[int]) -> tuple[VectorSegment, ...]:
    """`segments` with `added[i]` more vectors of segment i removed."""
    return tuple(replace(s, dead=s.dead + n) if n else s for s, n in zip(segments, added, strict=True))

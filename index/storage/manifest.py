"""The manifest: the file that says what an index directory holds and which generation is live.

An index directory is self-describing. `manifest.json` names the model and its dimension, the
build settings, the source paths, the counts and the live generation folder; everything a
reader needs to decide whether it can use the index comes from here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.errors import IndexIncompatible, IndexNotFound, InvalidArgument

# 3: Snowball, 127 stop words, Lucene idf, titles in the body field, explicit titles real.
# 4: a generation's article store and vectors may be several segment files (segments.json); a
# format-3 generation reads as one base segment, so both are read and new generations say 4 (an
# Accord that reads only 3 would see the base segment alone and miss every later update).
FORMAT_VERSION = 4
READABLE_FORMATS = (3, 4)
MANIFEST_NAME = "manifest.json"
# The sentence splitter of indexes whose manifest predates `BuildSettings.sentence_splitter`.
LEGACY_SPLITTER = "regex"
# The overlap limit of indexes whose manifest predates `BuildSettings.overlap_tokens`: none.
LEGACY_OVERLAP_TOKENS = 0
# How the keyword index cuts title and body text into terms (index/storage/keyword.py builds the
# analyzers). A manifest from before these settings has neither, and reads as the defaults, which
# are what every index was built with then.
STEMMERS = ("snowball", "porter", "none")
STOP_LISTS = ("english", "whoosh", "lucene", "none")


@dataclass(frozen=True)
class BuildSettings:
    """How articles are cut into passages and weighted; chosen by `accord eval` (docs/tuning.md)."""

    # 64-token passages overlapping by one sentence scored best on TIME dev (docs/tuning.md).
    passage_tokens: int = 64
    overlap_sentences: int = 1
    # Overlapping sentences only as many as hold at most this many tokens (0: no limit). A limit
    # embeds a long sentence once, not twice (21: 29% fewer tokens per BBC article), but lost
    # CISI 0.006-0.009 nDCG@10 at 21-40 (docs/tuning.md, T table), so it is opt-in.
    overlap_tokens: int = 0
    # Real titles only (derived ones are never used). title_in_passages is unmeasured (TIME has
    # no titles; CISI and Cranfield were embedded with it on). title_boost: how many times a real
    # title counts in the keyword leg's body text (whole numbers; docs/tuning.md, keyword leg).
    title_in_passages: bool = True
    title_boost: float = 2.0
    # How bodies are cut into sentences (index/text/passages.py): "regex" or "syntok". Part of
    # the settings so that an update never mixes passages cut two ways. syntok splits news text
    # better but did not rank better on the dev collections (docs/tuning.md), so it is opt-in.
    sentence_splitter: str = "regex"
    # The keyword index's analysis: the stemmer (`STEMMERS`) and the stop list (`STOP_LISTS`:
    # whoosh.lang's 127 English words, whoosh's default analyzer's short list, Lucene's
    # EnglishAnalyzer set, or none). Queries are analysed as the open index was built. Snowball
    # and the 127 words scored best on the dev collections (docs/tuning.md, keyword leg).
    stemmer: str = "snowball"
    stop_words: str = "english"

    def __post_init__(self) -> None:
        if self.stemmer not in STEMMERS:
            raise InvalidArgument(f"stemmer must be one of {', '.join(STEMMERS)}, not {self.stemmer!r}")
        if self.stop_words not in STOP_LISTS:
            raise InvalidArgument(f"stop_words must be one of {', '.join(STOP_LISTS)}, not {self.stop_words!r}")


@dataclass(frozen=True)
class Manifest:
    """What an index directory holds."""

    format_version: int
    model: str
    dim: int
    generation: str
    articles: int
    passages: int
    settings: BuildSettings
    sources: list[str] = field(default_factory=list)
    created: str = ""

    def to_json(self) -> str:
        """The manifest as pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def read_manifest(index_dir: Path) -> Manifest:
    """Read and check the manifest of `index_dir`.

    Raises IndexNotFound when there is none and IndexIncompatible when it was written by another
    format version.
    """
    path = index_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexNotFound(
            f"no index at {index_dir}; build one with 'accord index PATH' or pass --index DIR"
        ) from None
    except (OSError, ValueError) as err:
        raise IndexIncompatible(f"{path} cannot be read ({err}); rebuild with 'accord index --rebuild'") from None
    return manifest_from_dict(data, str(index_dir))


def manifest_from_dict(data: dict, where: str) -> Manifest:
    """A manifest from its JSON form; raises IndexIncompatible naming `where` when it was
    written by a format version this Accord does not read (READABLE_FORMATS)."""
    version = data.get("format_version")
    if version not in READABLE_FORMATS:
        raise IndexIncompatible(
            f"{where} has index format {version}, this Accord reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}; rebuild it with 'accord index --rebuild'"
        )
    legacy = {"sentence_splitter": LEGACY_SPLITTER, "overlap_tokens": LEGACY_OVERLAP_TOKENS}
    try:
        settings = BuildSettings(**{**legacy, **data["settings"]})
    except InvalidArgument as err:
        raise IndexIncompatible(f"{where}: {err}; rebuild it with 'accord index --rebuild'") from None
    return Manifest(**dict(data, settings=settings))


def write_manifest(index_dir: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically: readers see the old one or the new one, never a mix."""
    tmp = index_dir / (MANIFEST_NAME + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(manifest.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / MANIFEST_NAME)
    fsync_dir(index_dir)


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries to disk, so a rename survives power loss."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""The corpora and queries several benchmarks share: Reuters-21578 as indexer JSONL,
replicated copies, chunked folders, and the mixed query set drawn from Reuters."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path

REUTERS = Path("reuters21578") / "reuters21578.jsonl.gz"


BBC = Path("bbc")


def convert_reuters(gz: Path, out: Path, limit: int | None) -> dict[str, int]:
    """Write Reuters records with a non-empty body as indexer JSONL; returns the counts."""
    kept = empty = total = 0
    with gzip.open(gz, "rt", encoding="utf-8") as source, open(out, "w", encoding="utf-8") as sink:
        for line in source:
            record = json.loads(line)
            total += 1
            if not (record.get("body") or "").strip():
                empty += 1
                continue
            if limit is not None and kept >= limit:
                continue
            sink.write(json.dumps({"id": str(record["newid"]), "title": record.get("title") or "",
                                   "body": record["body"], "date": record.get("date") or ""}) + "\n")
            kept += 1
    return {"records": total, "empty_body_skipped": empty, "written": kept}


TOPIC_WORDS = {
    "acq": "acquisition", "earn": "earnings", "money-fx": "foreign exchange", "nat-gas": "natural gas",
    "veg-oil": "vegetable oil", "bop": "balance of payments", "cpi": "consumer prices",
    "gnp": "gross national product", "dlr": "dollar", "ipi": "industrial production", "wpi": "wholesale prices",
    "money-supply": "money supply", "interest": "interest rates", "ship": "shipping", "jobs": "unemployment",
}


SHARES = (("title", 0.40), ("topic place", 0.25), ("question", 0.20), ("phrase", 0.10), ("field", 0.05))


def _words(title: str) -> list[str]:
    title = re.sub(r"<[^>]*>", " ", title)
    return re.findall(r"[a-z][a-z0-9]+", title.lower())


def _label(value: str) -> str:
    return TOPIC_WORDS.get(value, value.replace("-", " "))


def make_queries(gz: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct (kind, query) pairs drawn from Reuters articles with a body; see the module doc."""
    with gzip.open(gz, "rt", encoding="utf-8") as handle:
        records = [r for r in map(json.loads, handle) if (r.get("body") or "").strip()]
    rng = random.Random(seed)
    titled = [r for r in records if len(_words(r.get("title") or "")) >= 2]
    labelled = [r for r in records if r.get("topics") and r.get("places")]
    queries: dict[str, str] = {}
    for kind, share in SHARES:
        want = round(n * share) if kind != SHARES[-1][0] else n - len(queries)
        target = len(queries) + want
        for _attempt in range(100 * max(want, 1)):  # bounded: a tiny corpus may not have enough distinct ones
            if len(queries) >= target:
                break
            if kind in ("title", "phrase", "field"):
                words = _words(rng.choice(titled)["title"])
                if kind == "title":
                    text = " ".join(words[:8])
                elif kind == "phrase":
                    start = rng.randrange(len(words) - 1)
                    text = f'"{words[start]} {words[start + 1]}"'
                else:
                    text = f"title:{rng.choice([w for w in words if len(w) > 3] or words)}"
            else:
                record = rng.choice(labelled)
                topic, place = _label(rng.choice(record["topics"])), _label(rng.choice(record["places"]))
                text = f"{topic} {place}" if kind == "topic place" else f"news about {topic} in {place}"
            queries.setdefault(text, kind)
    if len(queries) < n:
        raise ValueError(f"only {len(queries)} distinct queries could be made from {gz}; ask for fewer")
    return [(kind, text) for text, kind in queries.items()]


def replicate_jsonl(base: Path, out: Path, size: int) -> dict[str, int]:
    """Write `size` articles to `out`: those of `base` (indexer JSONL), then dated-on copies."""
    records = [json.loads(line) for line in base.read_text(encoding="utf-8").splitlines()]
    with open(out, "w", encoding="utf-8") as sink:
        for number in range(size):
            copy, position = divmod(number, len(records))
            record = dict(records[position])
            if copy:
                record["id"] = f"{record['id']}-copy{copy}"
                record["date"] = record["date"].replace("1987", str(1987 + copy))
            sink.write(json.dumps(record) + "\n")
    return {"articles": size, "distinct_texts": min(size, len(records)), "copies_max": (size - 1) // len(records)}


CHUNK = 500


def reuters_articles(data: Path) -> list[dict]:
    """Reuters-21578 records with a body, as Accord JSONL records."""
    records = []
    with gzip.open(data / "reuters21578.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            if (r.get("body") or "").strip():
                records.append({"id": str(r["newid"]), "title": r.get("title") or "", "body": r["body"],
                                "date": r.get("date") or "", "dateline": r.get("dateline") or ""})
    return records


def write_chunks(folder: Path, records: Sequence[dict], prefix: str) -> None:
    """`records` as JSONL files of CHUNK records each, named PREFIX-NNNN.jsonl, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(records), CHUNK):
        with open(folder / f"{prefix}-{start // CHUNK:04d}.jsonl", "w", encoding="utf-8") as handle:
            for record in records[start : start + CHUNK]:
                handle.write(json.dumps(record) + "\n")

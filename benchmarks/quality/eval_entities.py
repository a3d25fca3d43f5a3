"""Score the defence extraction (index/text/defence) against hand labels, and time it.

    python -m benchmarks.quality.eval_entities DATA LABELS_DIR [--out runs/entities.md] [--timing]

LABELS_DIR holds `labels.jsonl`: one article a line, labelled by the rubric in docs/entities.md:
`{"id", "systems": [names], "organisations": [names], "people": [{"name", "role"}], "kinds": [...],
"transfers": [{"supplier", "recipient", "system"}]}`. The labels are not openly licensed data
and are never copied into the repository. Article ids name where the text is read from, at run
time, in DATA_DIR: `ag:ROW` (row of ag_news/test.csv, 0-based: title and description),
`reuters:NEWID` (reuters21578.jsonl.gz: title, and dateline + body), `bbc:CATEGORY/NNN`
(bbc/CATEGORY/NNN.txt through Accord's reader), `time:DOCNO` (time/docs.jsonl, no title), and
`seed:STEM` (the repository's seeds/STEM.txt as raw text: the first line is the title).

Scores are micro precision and recall over (article, item) pairs:
- systems and organisations: the labelled names are mapped to the extractor's names through its
  own alias table (`resolve_system`, `resolve_organisation`); a label it cannot map stays as it
  is and can only be a miss. Organisations implied by a role and not named are not scored.
- people: by surname; "officials" are the labelled people with a role (recall only).
- kinds: per kind and overall.
- transfers: (supplier, recipient) pairs; the system is reported apart.
Articles are split in two by a hash of their id: `dev` (two thirds, whose errors were read while
improving the rules) and `held-out` (one third, scored only). Both are reported, and all.

--timing also times extraction over every BBC article (2,225) and reports ms per article.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from index.text.articles import read_articles
from index.text.countries import article_countries
from index.text.defence import KINDS, extract, resolve_organisation, resolve_system
from index.text.defence.gazetteer import load_gazetteer

REPO = Path(__file__).resolve().parents[2]


class Texts:
    """Article texts by label id, read lazily from DATA_DIR and the repository's seeds."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._ag: list[tuple[str, str]] | None = None
        self._reuters: dict[str, tuple[str, str]] | None = None
        self._time: dict[str, str] | None = None

    def get(self, article_id: str) -> tuple[str, str]:
        source, _, key = article_id.partition(":")
        if source == "ag":
            if self._ag is None:
                with open(self.data_dir / "ag_news" / "test.csv", newline="", encoding="utf-8") as f:
                    self._ag = [(title, text.replace("\\", " ")) for _, title, text in csv.reader(f)]
            return self._ag[int(key)]
        if source == "reuters":
            if self._reuters is None:
                self._reuters = {}
                with gzip.open(self.data_dir / "reuters21578" / "reuters21578.jsonl.gz", "rt", encoding="utf-8") as f:
                    for line in f:
                        r = json.loads(line)
                        body = f"{r.get('dateline') or ''} {r.get('body') or ''}"
                        self._reuters[str(r["newid"])] = (r.get("title") or "", body)
            return self._reuters[key]
        if source == "bbc":
            article = next(iter(read_articles(self.data_dir / "bbc" / f"{key}.txt")))
            return article.title, article.body  # type: ignore[union-attr]
        if source == "time":
            if self._time is None:
                with open(self.data_dir / "time" / "docs.jsonl", encoding="utf-8") as f:
                    self._time = {str(r["docno"]): r["text"] for r in map(json.loads, f)}
            return "", self._time[key]
        if source == "seed":
            title, _, body = (REPO / "seeds" / f"{key}.txt").read_text(encoding="utf-8").partition("\n")
            return title.strip(), body
        raise SystemExit(f"labels: unknown article id {article_id!r}: expected ag:, reuters:, bbc:, time: or seed:")


def held_out(article_id: str) -> bool:
    """One article in three, fixed by its id, is held out from rule tuning."""
    return int(hashlib.sha1(article_id.encode()).hexdigest(), 16) % 3 == 0


class Score:
    """True positives, false positives and false negatives of one measure."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0
        self.errors: list[str] = []

    def add(self, article_id: str, gold: set, found: set) -> None:
        self.tp += len(gold & found)
        self.fp += len(found - gold)
        self.fn += len(gold - found)
        for item in sorted(map(str, found - gold)):
            self.errors.append(f"{article_id} FP {item}")
        for item in sorted(map(str, gold - found)):
            self.errors.append(f"{article_id} FN {item}")

    def row(self, name: str) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        return f"| {name} | {self.tp + self.fn} | {self.tp + self.fp} | {p:.2f} | {r:.2f} |"


def _surname(name: str) -> str:
    return name.split()[-1].casefold().strip(".,")


def evaluate(labels: list[dict], texts: Texts) -> tuple[dict[str, dict[str, Score]], float, int]:
    """Scores per split ('all', 'dev', 'held-out') and measure; and the extraction seconds and count."""
    splits = {name: {} for name in ("all", "dev", "held-out")}
    seconds = 0.0
    for label in labels:
        article_id = label["id"]
        title, body = texts.get(article_id)
        countries = article_countries(title, body)
        started = time.perf_counter()
        facts = extract(title, body, countries)
        seconds += time.perf_counter() - started
        gold_people = {_surname(p["name"]) for p in label["people"]}
        measures = {
            "systems": ({resolve_system(n) or f"?{n}" for n in label["systems"]}, {s.name for s in facts.systems}),
            "organisations": (
                {resolve_organisation(n) or f"?{n}" for n in label["organisations"]},
                {o.name for o in facts.organisations if o.mentions},
            ),
            "people": (gold_people, {_surname(p.name) for p in facts.people}),
            "officials (recall only)": (
                {_surname(p["name"]) for p in label["people"] if p.get("role")},
                {_surname(p.name) for p in facts.people} & {_surname(p["name"]) for p in label["people"] if p.get("role")},
            ),
            "kinds (all)": ({k for k in label["kinds"]}, set(facts.kinds)),
            "transfers (supplier, recipient)": (
                {(t["supplier"], t["recipient"]) for t in label["transfers"]},
                {(t.supplier, t.recipient) for t in facts.transfers},
            ),
        }
        for kind in KINDS:
            measures[f"kind {kind}"] = ({kind} & set(label["kinds"]), {kind} & set(facts.kinds))
        for split in ("all", "held-out" if held_out(article_id) else "dev"):
            for name, (gold, found) in measures.items():
                splits[split].setdefault(name, Score()).add(article_id, gold, found)
    return splits, seconds, len(labels)


def time_bbc(data_dir: Path) -> tuple[int, float, int]:
    """(articles, seconds, characters) to extract from every BBC article, countries included."""
    paths = sorted((data_dir / "bbc").glob("*/*.txt"))
    articles = [a for p in paths for a in read_articles(p) if hasattr(a, "body")]
    started = time.perf_counter()
    for article in articles:
        extract(article.title, article.body, article_countries(article.title, article.body))  # type: ignore[union-attr]
    return len(articles), time.perf_counter() - started, sum(len(a.body) for a in articles)  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="the shared data folder (ag_news/, reuters21578/, bbc/, time/)")
    parser.add_argument("labels_dir", type=Path, metavar="LABELS_DIR", help="folder holding labels.jsonl")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) to this file")
    parser.add_argument("--errors", type=Path, help="write every false positive and negative of the dev split here")
    parser.add_argument("--timing", action="store_true", help="also time extraction over all BBC articles")
    args = parser.parse_args(argv)
    labels_file = args.labels_dir / "labels.jsonl"
    if not labels_file.is_file():
        raise SystemExit(f"{labels_file}: no such file; LABELS_DIR must hold labels.jsonl (see docs/entities.md)")
    if not (args.data_dir / "ag_news").is_dir():
        raise SystemExit(f"{args.data_dir}: not the shared data folder (no ag_news/ in it)")
    labels = [json.loads(line) for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]

    started = time.perf_counter()
    load_gazetteer()
    load_seconds = time.perf_counter() - started
    splits, seconds, count = evaluate(labels, Texts(args.data_dir))

    sizes = Counter("held-out" if held_out(label["id"]) else "dev" for label in labels)
    lines = [
        f"Command: `python -m benchmarks.quality.eval_entities {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}`",
        "",
        f"{count} labelled articles ({sizes['dev']} dev, {sizes['held-out']} held-out); "
        f"gazetteer loaded and compiled in {load_seconds * 1000:.0f} ms (once per process).",
        "",
    ]
    for split in ("all", "dev", "held-out"):
        lines += [f"### {split}", "", "| measure | gold | found | P | R |", "|---|---:|---:|---:|---:|"]
        lines += [score.row(name) for name, score in splits[split].items()]
        lines.append("")
    lines.append(f"Extraction on the labelled set: {seconds / count * 1000:.2f} ms per article (countries included).")
    if args.timing:
        n, bbc_seconds, chars = time_bbc(args.data_dir)
        lines.append(
            f"Extraction over all BBC articles: {n} articles, {bbc_seconds:.1f} s, {bbc_seconds / n * 1000:.2f} ms per "
            f"article, {chars / bbc_seconds / 1e6:.2f} M characters/s (article_countries included)."
        )
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
    if args.errors:
        errors = [e for score in splits["dev"].values() for e in score.errors]
        args.errors.write_text("\n".join(sorted(set(errors))) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

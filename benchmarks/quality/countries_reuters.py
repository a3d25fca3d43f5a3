"""Score Accord's country extraction against the human `places` labels of Reuters-21578.

    python -m benchmarks.quality.countries_reuters DATA/reuters21578 --out runs/countries.md

Reads `reuters21578.jsonl.gz` from DATA_DIR at run time (the collection is not openly licensed:
nothing of it is copied into the repository). Only articles with at least one place label count.
The extractor reads the text the index gives it (index/text/articles.py, index/pipeline/builder.py): the title,
a line break, and the body with its `dateline` field at its head ("CHICAGO, Feb 26 - Shr 30 cts").
Labels are mapped to canonical
names with normalise_country, plus the few Reuters spellings it cannot know (`_REUTERS_LABELS`);
`ussr` is Russia and `west-germany`/`east-germany` are Germany, as in index/text/countries.py. A label
that still maps to nothing stays in the gold set under its own name, so it can only count as a
miss, never be quietly dropped.

Scores: micro precision and recall over (article, country) pairs, and macro precision and recall
averaged over articles (precision over the articles where something was found). Runs: what the
index stores (`article_countries`: the countries of the dateline, title and lead sentence, and
those mentioned at least twice); every mention (`extract_countries`), with and without the
dateline and capitals as metonyms; and the index with the United States left out of both sides.

Reading the numbers: the labels say what an article is about, the extractor what it mentions.
Before datelines were read, most misses were `usa` labels on company notices and earnings tables
whose only place is the dateline; the report counts the misses in articles that name no country
at all. Most false positives are real mentions the labellers did not list (trade partners, G-7
lists, "Chinese-made").
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from index.text.cleaning import normalise_body
from index.text.countries import article_countries, extract_countries, normalise_country

DATA_FILE = "reuters21578.jsonl.gz"

# Reuters place labels whose spelling normalise_country does not take as it is.
_REUTERS_LABELS = {
    "yemen-arab-republic": "Yemen",
    "yemen-demo-republic": "Yemen",
    "trinidad-tobago": "Trinidad and Tobago",
    "us-virgin-islands": "US Virgin Islands",
    # In 1987 "Congo" was Congo-Brazzaville; today's DR Congo was Zaire (label `zaire`).
    "congo": "Republic of the Congo",
}


def gold_countries(labels: list[str]) -> set[str]:
    """Canonical names for Reuters place labels; an unmappable label is kept as `?label`."""
    gold = set()
    for label in labels:
        name = _REUTERS_LABELS.get(label) or normalise_country(label.replace("-", " "))
        gold.add(name or f"?{label}")
    return gold


def load(data_dir: Path, datelines: bool = True) -> list[tuple[str, str, set[str]]]:
    """(newid, text, gold countries) for every article with a place label. The text is the title
    and the body with its dateline at the head, as the index has it; without `datelines`, the title
    and the bare body (what this benchmark measured before the index kept datelines)."""
    articles = []
    with gzip.open(data_dir / DATA_FILE, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("places"):
                # As the index builds it (index/text/articles.py, index/pipeline/builder.py): the body's
                # paragraphs normalised, the dateline at its head, the title above.
                body = normalise_body(record.get("body") or "")
                dateline = (record.get("dateline") or "").strip()
                if datelines and dateline and not body.startswith(dateline):
                    body = f"{dateline} {body}"
                text = f"{record.get('title') or ''}\n{body}"
                articles.append((str(record["newid"]), text, gold_countries(record["places"])))
    return articles


def index_countries(text: str) -> set[str]:
    """What the index stores for an article: index.text.countries.article_countries."""
    title, _, body = text.partition("\n")
    return set(article_countries(title, body))


def score(articles, setting: str, capitals: bool = True, leave_out: str | None = None, mentions: bool = False) -> dict:
    """Precision and recall of what the index stores (article_countries) on `articles`, or of
    every mention (extract_countries) with `mentions`; `leave_out` drops one country from both
    sides (the `usa` label mostly comes from the dateline, see the report)."""
    start = time.perf_counter()
    if not mentions:
        found = [index_countries(text) for _, text, _ in articles]
    else:
        found = [set(extract_countries(text, capitals=capitals)) for _, text, _ in articles]
    seconds = time.perf_counter() - start
    true_pos, false_pos, false_neg = Counter(), Counter(), Counter()
    precisions, recalls = [], []
    missed_in_countryless = 0  # gold pairs of articles where nothing at all was found
    for (_, _, gold), predicted in zip(articles, found):
        if not predicted:
            missed_in_countryless += len(gold - {leave_out})
        gold, predicted = gold - {leave_out}, predicted - {leave_out}
        true_pos.update(gold & predicted)
        false_pos.update(predicted - gold)
        false_neg.update(gold - predicted)
        if predicted:
            precisions.append(len(gold & predicted) / len(predicted))
        if gold:
            recalls.append(len(gold & predicted) / len(gold))
    tp, fp, fn = (sum(c.values()) for c in (true_pos, false_pos, false_neg))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {
        "setting": setting,
        "articles": len(articles),
        "pairs": tp + fn,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
        "macro_precision": sum(precisions) / len(precisions),
        "macro_recall": sum(recalls) / len(recalls),
        "articles_per_s": len(articles) / seconds,
        "missed_in_countryless": missed_in_countryless,
        "false_negatives_total": fn,
        "false_positives": false_pos.most_common(15),
        "false_negatives": false_neg.most_common(15),
    }


def report(results: list[dict], command: str, unmapped: Counter, gazetteer_seconds: float) -> str:
    lines = [
        f"`{command}`",
        "",
        "| setting | articles | gold pairs | micro P | micro R | micro F1 | macro P | macro R | articles/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['setting']} | {r['articles']} | {r['pairs']} | {r['precision']:.3f} "
            f"| {r['recall']:.3f} | {r['f1']:.3f} | {r['macro_precision']:.3f} "
            f"| {r['macro_recall']:.3f} | {r['articles_per_s']:,.0f} |"
        )
    lines.append("")
    lines.append(f"Loading the gazetteer of dateline cities (once, not timed above): {gazetteer_seconds:.2f} s")
    lines.append("")
    lines.append("Unmapped labels (counted as misses): " + (
        ", ".join(f"{label} ({n})" for label, n in unmapped.most_common()) or "none"))
    for r in results:
        lines.append("")
        lines.append(f"Top errors, {r['setting']}:")
        lines.append("- false positives: " + ", ".join(f"{c} {n}" for c, n in r["false_positives"]))
        lines.append("- false negatives: " + ", ".join(f"{c} {n}" for c, n in r["false_negatives"]))
        lines.append(
            f"- {r['missed_in_countryless']} of the {r['false_negatives_total']} misses are in articles "
            "whose text names no country at all"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", help=f"folder holding {DATA_FILE}")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) to this file")
    args = parser.parse_args(argv)

    articles = load(args.data_dir)
    unmapped = Counter(name[1:] for _, _, gold in articles for name in gold if name.startswith("?"))
    extract_countries("warm up")  # compile the patterns outside the timed loop
    extract_countries("warm up", capitals=False)
    start = time.perf_counter()
    extract_countries("CHICAGO, Feb 26 - warm up")  # and load the gazetteer of dateline cities
    gazetteer_seconds = time.perf_counter() - start
    results = [
        score(articles, "index: dateline, title, lead sentence, 2+ mentions"),
        score(articles, "every mention (title, dateline, body)", mentions=True),
        score(load(args.data_dir, datelines=False), "every mention, no dateline", mentions=True),
        score(articles, "every mention, no capitals", capitals=False, mentions=True),
        score(articles, "index, without United States", leave_out="United States"),
    ]
    command = shlex.join(["python", *sys.argv])
    text = report(results, command, unmapped, gazetteer_seconds)
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

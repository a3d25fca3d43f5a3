"""Why the keyword leg trails plain BM25: analyzer, stop words, idf, k1/b and titles, one at a time.

    python -m benchmarks.tuning.keyword_diagnosis DATA/time DATA/cisi DATA/cran

Builds only whoosh indexes (no embeddings) from each collection's `docs.jsonl` through Accord's
reader, once per analyzer variant (a stemmer and stop list of `BuildSettings`, written by the
keyword store's own writer as a build with those settings writes it), and scores the keyword leg
with nDCG@10 beside bm25s (k1=1.5, b=0.75, English stop words, Snowball stemmer) on the same
queries. Queries are passed as typed, as `accord eval` passes them, and parsed for each variant as
the engine parses them for an index built with its settings (a malformed query as plain words);
bm25s's tokenizer keeps only runs of word characters, so it needs no cleaning either.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

from benchmarks.common.devsets import keyword_run, load_collection, read_collection_articles, write_keyword_only
from index.storage.keyword import WhooshKeywordStore, query_term_weighting
from index.storage.manifest import BuildSettings
from search.evaluation import score_run

DEPTH = 100


# The analyzer variants as BuildSettings (stemmer, stop_words): whoosh's default analyzer (Porter,
# its short list), Accord's (Snowball, whoosh.lang's 127 English words) and the steps between.
ANALYZERS = {
    "porter, 33 stop words": ("porter", "whoosh"),
    "snowball, 33 stop words": ("snowball", "whoosh"),
    "porter, 127 stop words": ("porter", "english"),
    "snowball, 127 stop words": ("snowball", "english"),
    "snowball, lucene's 33 stop words": ("snowball", "lucene"),
}
IDFS = {"whoosh idf": "whoosh", "lucene idf": "lucene"}  # RankingConfig.idf / the store's idf


def bm25s_run(articles, queries):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    tokenize = lambda texts: bm25s.tokenize(texts, stopwords="en", stemmer=stemmer,  # noqa: E731
                                            return_ids=False, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokenize([f"{a.title} {a.body}" if not a.title_is_derived else a.body for a in articles]),
                    show_progress=False)
    qids = list(queries)
    res = retriever.retrieve(tokenize([queries[q] for q in qids]), k=DEPTH, show_progress=False)
    return {q: [(articles[int(d)].id, float(s)) for d, s in zip(res.documents[i], res.scores[i]) if s > 0]
            for i, q in enumerate(qids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--k1", type=float, nargs="+", default=[1.2, 1.5, 2.0])
    parser.add_argument("--b", type=float, nargs="+", default=[0.75])
    parser.add_argument("--title-boost", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    parser.add_argument("--analyzers", nargs="+", default=list(ANALYZERS), choices=list(ANALYZERS))
    parser.add_argument("--idfs", nargs="+", default=list(IDFS), choices=list(IDFS))
    parser.add_argument("--qtf", type=int, nargs="+", default=[1], help="1: repeated query terms count (Accord's parse); 0: once")
    args = parser.parse_args()
    print(f"command: python -m benchmarks.tuning.keyword_diagnosis {' '.join(sys.argv[1:])}")
    print("| collection | analyzer | idf | query tf | title boost | k1 | b | nDCG@10 | R@100 |\n|---|---|---|---|---:|---:|---:|---:|---:|")
    for folder in args.folders:
        coll = load_collection(folder)
        queries = coll.queries
        articles = read_collection_articles(coll.docs)
        m = score_run(coll.qrels, bm25s_run(articles, queries))
        print(f"| {coll.name} | bm25s (snowball, its 33 stop words) | lucene idf | yes | - | 1.5 | 0.75 | {m['nDCG@10']:.4f} | {m['R@100']:.4f} |", flush=True)
        with tempfile.TemporaryDirectory(prefix="kwdiag-") as tmp:
            for (aname, (stemmer, stop_words)), boost in [(a, t) for a in ANALYZERS.items() if a[0] in args.analyzers
                                                          for t in args.title_boost]:
                settings = BuildSettings(title_boost=max(boost, 1.0), stemmer=stemmer, stop_words=stop_words)
                index_dir = Path(tmp) / f"{aname}-{boost}".replace(" ", "_").replace(",", "")
                if boost <= 0.0:  # one field: the title folded into the body (as bm25s reads them)
                    from dataclasses import replace  # 0: the title once in the body; -2: twice
                    times = 1 if boost == 0.0 else int(-boost)
                    docs = [a if a.title_is_derived else
                            replace(a, body=" ".join([a.title] * (times - a.body.startswith(a.title)) + [a.body]))
                            for a in articles]
                    docs = [replace(a, title_derived=True) for a in docs]
                else:
                    docs = articles
                write_keyword_only(index_dir, docs, settings)
                for (iname, idf), k1, b, qtf in [(i, k, bb, t) for i in IDFS.items() if i[0] in args.idfs
                                                 for k in args.k1 for bb in args.b for t in args.qtf]:
                    store = WhooshKeywordStore(index_dir, k1, b, idf)
                    # Without query tf, a repeated word counts once ("once"); with it, as Accord counts.
                    with query_term_weighting("once") if not qtf else contextlib.nullcontext():
                        run = {q: keyword_run(store, t, DEPTH, settings) for q, t in queries.items()}
                    store.close()
                    m = score_run(coll.qrels, run)
                    print(f"| {coll.name} | {aname} | {iname} | {'yes' if qtf else 'no'} | {boost} | {k1} | {b} | {m['nDCG@10']:.4f} | {m['R@100']:.4f} |", flush=True)


if __name__ == "__main__":
    main()

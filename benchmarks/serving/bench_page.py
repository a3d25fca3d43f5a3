"""What one search on the web page costs the server, before and after the analyst views.

    python -m benchmarks.serving.bench_page --index WORK/accord-bench/index-20000 --query "arms sales"

The page's API calls for one search, through the ASGI app in-process (no network), warm and
interleaved so load changes hit every call alike: before the views it asked `/api/search`
(with facets) and `/api/months`; now it asks `/api/search`, `/api/timeline` and
`/api/watchlist`, plus `/api/alerts?name=` while a saved search is open and `/api/pairs` on the
pairs tab. Prints p50/p95 per call and the per-search sums (the page sends its calls at once,
so the sum is the server's work, not the wait). Saves a search named `bench-page` on the index
for the alerts call and removes it at the end. `--fake-encoder` serves an index built with the
tests' hashing encoder; with `--reuters DATA --articles N` too, that index is first built at
`--index` from the first N Reuters-21578 articles when it is not there:

    python -m benchmarks.serving.bench_page --index WORK/wv-bench/index-2000 --fake-encoder \
        --reuters DATA/reuters21578 --articles 2000 --query "oil prices"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    wait_for_quiet,
)

SAVED = "bench-page"


def main() -> None:
    from fastapi.testclient import TestClient

    from search.web.app import create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--query", default="arms sales")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--fake-encoder", action="store_true", help="the tests' hashing encoder (an index built with it)")
    parser.add_argument("--reuters", type=Path, help="with --fake-encoder: build --index from this reuters21578 folder if missing")
    parser.add_argument("--articles", type=int, default=2000, help="how many Reuters articles to build it from")
    add_run_options(parser)
    args = parser.parse_args()
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    print(header("The page's API calls per search, warm", command_line(__file__, sys.argv[1:]), info))
    encoder = None
    if args.fake_encoder:
        from tests.conftest import HashingEncoder

        encoder = HashingEncoder()
        if args.reuters and not (args.index / "manifest.json").exists():
            build_reuters(args.reuters, args.articles, args.index, encoder)
    q = urlencode({"q": args.query})
    calls = {
        "search (facets)": f"/api/search?{q}&facets=true",
        "months": f"/api/months?{q}",
        "timeline": f"/api/timeline?{q}",
        "watchlist": "/api/watchlist",
        "alerts (one search)": f"/api/alerts?name={SAVED}",
        "pairs": f"/api/pairs?{q}",
    }
    with TestClient(create_app(args.index, encoder=encoder), base_url="http://127.0.0.1") as client:
        saved = client.post("/api/watchlist", json={"name": SAVED, "query": args.query})
        if saved.status_code != 201:
            sys.exit(f"bench_page: could not save {SAVED!r}: {saved.text}")
        try:
            for path in calls.values():
                assert client.get(path).status_code == 200, path  # warm-up
            times: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(args.repeat):
                for name, path in calls.items():
                    started = time.perf_counter()
                    client.get(path)
                    times[name].append(time.perf_counter() - started)
            timeline = client.get(calls["timeline"]).json()
            pairs = client.get(calls["pairs"]).json()
        finally:
            client.delete(f"/api/watchlist/{SAVED}")
    summary = {name: latency_summary(values) for name, values in times.items()}
    p50 = {name: s["p50_ms"] for name, s in summary.items()}
    before = p50["search (facets)"] + p50["months"]
    renders = {
        "before: search + months": before,
        "now: search + timeline + watchlist": p50["search (facets)"] + p50["timeline"] + p50["watchlist"],
        "now, a saved search open: + alerts": p50["search (facets)"] + p50["timeline"] + p50["watchlist"] + p50["alerts (one search)"],
        "now, pairs tab: + pairs": p50["search (facets)"] + p50["timeline"] + p50["watchlist"] + p50["pairs"],
    }
    print(f"{timeline['total']} matches of {args.query!r}, {len(pairs['pairs'])} country pairs\n")
    print(markdown_table(["call", "p50 ms", "p95 ms"], [[n, s["p50_ms"], s["p95_ms"]] for n, s in summary.items()]))
    print()
    print(markdown_table(["one search on the page", "sum of p50 ms", "/ before"], [[n, v, v / before] for n, v in renders.items()]))
    finish(args.out, {"info": info, "matches": timeline["total"], "pairs": len(pairs["pairs"]), "latency": summary, "renders_ms": renders})


def build_reuters(data: Path, count: int, index_dir: Path, encoder) -> None:
    """Index the first `count` Reuters-21578 articles (as bench_update.py reads them) at `index_dir`."""
    from benchmarks.common.corpora import reuters_articles, write_chunks
    from index.pipeline.builder import build

    corpus = index_dir.parent / f"{index_dir.name}-corpus"
    write_chunks(corpus, reuters_articles(data)[:count], "base")
    started = time.perf_counter()
    build([corpus], index_dir, encoder=encoder)
    print(f"built {index_dir} from {count} Reuters articles in {time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()

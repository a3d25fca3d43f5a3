"""`accord`: the command line over Accord's Python API (`index.build`, `search.Engine`).

Each command opens the API, calls one method and formats the result. Errors from the API are
turned into one line on stderr and exit code 1 in one place, `_user_errors`. Heavy modules are
imported inside the commands, so `accord --help` starts fast.

Index location precedence: `--index DIR`, then `$ACCORD_INDEX`, then
`$XDG_DATA_HOME/accord/index` (default `~/.local/share/accord/index`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from index.errors import AccordError
from index.storage.location import ENV_VAR, default_index_dir

app = typer.Typer(
    name="accord",
    help="Hybrid keyword + semantic search over defense-cooperation news.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich for it doubles the time of `accord --help`
)


class Mode(str, Enum):
    hybrid = "hybrid"
    keyword = "keyword"
    semantic = "semantic"


IndexOption = Annotated[
    Optional[Path],
    typer.Option(
        "--index",
        envvar=ENV_VAR,
        show_default=False,
        help=f"Index directory. Default: ${ENV_VAR}, else ~/.local/share/accord/index.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn Accord's errors into one line on stderr and exit code 1, with no traceback."""
    try:
        yield
    except AccordError as err:
        typer.echo(f"accord: error: {err}", err=True)
        raise typer.Exit(1) from None
    except OSError as err:
        typer.echo(f"accord: error: {err.filename or ''}: {err.strerror or err}", err=True)
        raise typer.Exit(1) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        typer.echo("accord: interrupted; the index is unchanged or fully updated", err=True)
        raise typer.Exit(130) from None
    except Exception as err:  # a bug: still one line, with the way to see more
        if os.environ.get("ACCORD_DEBUG"):
            raise
        typer.echo(f"accord: internal error: {type(err).__name__}: {err} (ACCORD_DEBUG=1 shows the traceback)", err=True)
        raise typer.Exit(2) from None


def _index_dir(option: Path | None) -> Path:
    return (option or default_index_dir()).expanduser()


@app.command("index")
def index_command(
    paths: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Folders or .txt/.jsonl files to add. None: re-read the known sources.", show_default=False),
    ] = None,
    index: IndexOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build anew from the known sources, forgetting the old settings and model.")] = False,
    model: Annotated[
        Optional[str],
        typer.Option("--model", help="Embedding model for a new index. Default: the index's own, else all-MiniLM-L6-v2."),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only verify the index is consistent (exit 0 only if it is).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Build or update the index from article files.

    The index remembers its sources: each run checks all of them (plus PATHS) and indexes only
    what changed: new and changed files are (re)indexed, deleted ones removed, unchanged text is
    never re-read or re-embedded.
    """
    with _user_errors():
        if check:
            _check(_index_dir(index), as_json)
            return
        from index.pipeline.builder import build

        with _Progress() as progress:
            report = build(paths or [], _index_dir(index), model=model, rebuild=rebuild, progress=progress)
        for skipped in report.skipped:
            typer.echo(f"accord: skipped {skipped.path}: {skipped.reason}", err=True)
        if as_json:
            typer.echo(json.dumps(asdict(report)))
            return
        typer.echo(
            f"Indexed {report.articles} articles ({report.passages} passages) in {report.index_dir}: "
            f"{_changes_line(report)}; {report.embedded} passages embedded, {report.reused_embeddings} from cache."
        )


def _changes_line(report) -> str:
    return (
        f"{report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped"
    )


def _check(index_dir: Path, as_json: bool) -> None:
    from index.pipeline.check import check_index

    result = check_index(index_dir)
    if as_json:
        typer.echo(json.dumps({**asdict(result), "consistent": result.consistent}))
    else:
        for problem in result.problems:
            typer.echo(f"problem: {problem}")
        for note in result.notes:
            typer.echo(f"note: {note}")
        if result.consistent:
            typer.echo(f"{index_dir}: consistent")
    if not result.consistent:
        raise typer.Exit(1)


@app.command("watch")
def watch_command(
    folder: Annotated[Path, typer.Argument(help="Folder of .txt/.jsonl articles to follow.", show_default=False)],
    index: IndexOption = None,
    debounce_ms: Annotated[int, typer.Option("--debounce-ms", min=50, help="Group file events this close together.")] = 1600,
) -> None:
    """Index FOLDER, then keep the index current as files are added, changed or deleted.

    One log line per batch. Files still being written are indexed once they stop changing; bad
    files are reported and skipped. Stop with Ctrl-C: the index keeps its last complete state.
    """
    import time as clock

    from index.pipeline.watch import watch

    def log(report, seconds: float) -> None:
        stamp = clock.strftime("%H:%M:%S")
        if isinstance(report, AccordError):
            typer.echo(f"{stamp} error: {report}", err=True)
            return
        for skipped in report.skipped:
            typer.echo(f"{stamp} skipped {skipped.path}: {skipped.reason}", err=True)
        typer.echo(f"{stamp} {_changes_line(report)}; {report.articles} articles ({seconds:.1f}s)")

    with _user_errors():
        index_dir = _index_dir(index)
        typer.echo(f"Watching {folder} for {index_dir}; Ctrl-C stops.")
        try:
            watch(folder, index_dir, log, debounce_ms=debounce_ms)
        except KeyboardInterrupt:
            typer.echo("Stopped; the index holds the last complete batch.")


class Fusion(str, Enum):
    rrf = "rrf"
    convex = "convex"


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class SortOrder(str, Enum):
    relevance = "relevance"
    date = "date"


CountryOption = Annotated[
    Optional[list[str]],
    typer.Option("--country", "-c", help="Only articles mentioning this country (repeatable: all must match).", show_default=False),
]
SourceOption = Annotated[
    Optional[list[str]], typer.Option("--source", help="Only articles from this outlet (repeatable: any may match).", show_default=False)
]
SinceOption = Annotated[Optional[str], typer.Option("--since", help="Only articles dated on or after: 2019, 2019-05 or 2019-05-31.", show_default=False)]
UntilOption = Annotated[Optional[str], typer.Option("--until", help="Only articles dated on or before: a year, month or date.", show_default=False)]
KOption = Annotated[int, typer.Option("--k", "-k", min=1, help="Number of hits.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (readable), json (one object per hit per line) or csv.")]
NoCollapseOption = Annotated[bool, typer.Option("--no-collapse", help="Show near-duplicate copies as hits of their own.")]


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help='Words, "phrases", field:word (title, body, source, date, countries), AND/OR/NOT.')],
    index: IndexOption = None,
    k: KOption = 10,
    mode: Annotated[Mode, typer.Option("--mode", "-m", help="hybrid fuses keyword and semantic ranks.")] = Mode.hybrid,
    country: CountryOption = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    sort: Annotated[SortOrder, typer.Option("--sort", help="relevance, or date (newest first, among the relevant candidates).")] = SortOrder.relevance,
    facets: Annotated[bool, typer.Option("--facets", help="Also count the candidates by country, year and source.")] = False,
    no_collapse: NoCollapseOption = False,
    output: FormatOption = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show each hit's keyword and semantic rank and score.")] = False,
) -> None:
    """Search the index; best hits first.

    Filters apply inside both the keyword and the semantic leg, before fusion. Near-duplicate
    copies of a story are collapsed into one hit that lists them. With --json, one JSON object
    per hit per line (and, with --facets, a last line {"facets": ...}).
    """
    with _user_errors():
        from index.storage.filters import Filters
        from search.engine import Engine

        filters = Filters.parse(country or [], source or [], since, until)
        with Engine.open(_index_dir(index)) as engine:
            result = engine.search(
                query, k=k, mode=mode.value, filters=filters, sort=sort.value, collapse=not no_collapse, facets=facets
            )
        _print_result(result, Format.json if as_json else output, explain)


@app.command("similar")
def similar_command(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="The article to find others like.")],
    index: IndexOption = None,
    k: KOption = 10,
    country: CountryOption = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    no_collapse: NoCollapseOption = False,
    output: FormatOption = Format.table,
    explain: Annotated[bool, typer.Option("--explain", help="Show each hit's keyword and semantic rank and score.")] = False,
) -> None:
    """Articles most like article ID (more-like-this through the hybrid ranker), itself and its copies left out."""
    with _user_errors():
        from index.storage.filters import Filters
        from search.engine import Engine

        filters = Filters.parse(country or [], source or [], since, until)
        with Engine.open(_index_dir(index)) as engine:
            result = engine.similar(article_id, k=k, filters=filters, collapse=not no_collapse)
        _print_result(result, output, explain)


def _print_result(result, output: Format, explain: bool) -> None:
    hits, facets = result.hits, result.facets
    if output is Format.json:
        for hit in hits:
            typer.echo(json.dumps(asdict(hit), ensure_ascii=False))
        if facets is not None:
            typer.echo(json.dumps({"facets": asdict(facets)}, ensure_ascii=False))
        return
    if output is Format.csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["rank", "id", "title", "date", "source", "countries", "score", "duplicates", "snippet", "url", "path"])
        for rank, hit in enumerate(hits, start=1):
            writer.writerow([rank, hit.id, hit.title, hit.date or "", hit.source or "", "; ".join(hit.countries),
                             f"{hit.score:.6f}", "; ".join(hit.duplicates), hit.snippet, hit.url or "", hit.path])
        return
    if explain:
        for note in result.notes:  # how the query was read, e.g. a region as its countries
            typer.echo(f"note: {note}")
    if not hits:
        typer.echo("No hits.")
    for rank, hit in enumerate(hits, start=1):
        typer.echo(_format_hit(rank, hit, explain))
    if facets is not None:
        typer.echo(_format_facets(facets))


def _format_hit(rank: int, hit, explain: bool) -> str:
    facts = " · ".join(x for x in (hit.date, hit.source, ", ".join(hit.countries), hit.id) if x)
    lines = [f"{rank:>2}. " + typer.style(hit.title, bold=True), f"    {facts} · score {hit.score:.4f}"]
    if hit.duplicates:
        lines.append(f"    also: {', '.join(hit.duplicates)}")
    if explain:
        legs = [
            f"{name} " + (f"#{leg.rank} ({leg.score:.3f})" if leg else "—")
            for name, leg in (("keyword", hit.keyword), ("semantic", hit.semantic))
        ]
        lines.append("    " + " · ".join(legs))
    if hit.snippet:
        lines.append("    " + _highlight(hit.snippet, hit.highlights))
    return "\n".join(lines) + "\n"


def _highlight(text: str, spans) -> str:
    # Styles are dropped by typer.echo when stdout is not a terminal.
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], typer.style(text[start:end], fg="yellow", bold=True)]
        last = end
    return "".join(out) + text[last:]


def _format_facets(facets) -> str:
    def line(name: str, counts) -> str:
        return f"{name:>9}: " + (", ".join(f"{value} {count}" for value, count in counts[:10]) or "—")

    return "\n".join([
        f"Facets over {facets.total} candidates:",
        line("countries", facets.countries),
        line("years", facets.years),
        line("sources", facets.sources),
    ])


@app.command("show")
def show_command(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="The article's id, as search shows it.")],
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print one cleaned article as it is indexed."""
    with _user_errors():
        from search.engine import Engine

        with Engine.open(_index_dir(index)) as engine:
            article = engine.article(article_id)
        if as_json:
            typer.echo(json.dumps(asdict(article), ensure_ascii=False))
            return
        typer.echo(article.title)
        typer.echo(" · ".join(x for x in (article.date, article.source, article.path, article.url) if x))
        typer.echo("")
        typer.echo(article.body)


@app.command("stats")
def stats_command(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """Counts and description of the index: articles, passages, model, format version."""
    with _user_errors():
        from search.engine import Engine

        with Engine.open(_index_dir(index)) as engine:
            stats = engine.stats()
        if as_json:
            typer.echo(json.dumps(asdict(stats)))
            return
        for name, value in asdict(stats).items():
            typer.echo(f"{name:>15}: {', '.join(value) if isinstance(value, list) else value}")


@app.command("eval")
def eval_command(
    docs: Annotated[Path, typer.Option("--docs", help="Articles as JSONL (id or docno, body or text).", show_default=False)],
    queries: Annotated[Path, typer.Option("--queries", help="Queries as TSV: qid<TAB>text.", show_default=False)],
    qrels: Annotated[Path, typer.Option("--qrels", help="Judgments as TREC qrels.", show_default=False)],
    index: Annotated[
        Optional[Path],
        typer.Option("--index", help="Index to build or reuse. Default: one per docs file under ~/.cache/accord/eval.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
    run_out: Annotated[
        Optional[Path], typer.Option("--run-out", help="Folder to write one TREC run file per mode into.", show_default=False)
    ] = None,
    fusion: Annotated[Optional[Fusion], typer.Option("--fusion", help="Hybrid fusion to score. Default: Accord's.", show_default=False)] = None,
    weight: Annotated[Optional[float], typer.Option("--weight", min=0.0, max=1.0, help="Keyword share for convex fusion.", show_default=False)] = None,
    rrf_k: Annotated[Optional[int], typer.Option("--rrf-k", min=0, help="Constant of reciprocal rank fusion.", show_default=False)] = None,
    fail_on_error: Annotated[
        bool, typer.Option("--fail-on-error", help="Exit with status 1 when any query could not be run.")
    ] = False,
) -> None:
    """Score keyword, semantic and hybrid search side by side on judged queries.

    Prints nDCG@10, MRR@10, Recall@100 and MAP@100 (ir-measures) for each mode. The fusion
    options try another hybrid ranking on the same index. A query that cannot be run scores 0
    and is listed with the reason after the table (in --json, under "failed" of each mode); the
    exit status stays 0 unless --fail-on-error is given.
    """
    with _user_errors():
        from index.pipeline.builder import build
        from search.engine import Engine, RankingConfig
        from search.evaluation import evaluate, failed_queries, format_table, read_qrels, read_queries, write_trec_run

        topics, judgments = read_queries(queries), read_qrels(qrels)
        index_dir = index or _eval_index_dir(docs)
        with _Progress() as progress:
            report = build([docs], index_dir, progress=progress)
        for skipped in report.skipped:
            typer.echo(f"accord: skipped {skipped.path}: {skipped.reason}", err=True)
        ranking = RankingConfig()
        overrides = {"fusion": fusion.value if fusion else None, "weight": weight, "rrf_k": rrf_k}
        ranking = replace(ranking, **{name: value for name, value in overrides.items() if value is not None})
        with Engine.open(index_dir, ranking=ranking) as engine:
            scores, runs = evaluate(engine, topics, judgments)
        if run_out:
            run_out.mkdir(parents=True, exist_ok=True)
            for mode, run in runs.items():
                write_trec_run(run_out / f"accord-{mode}.run", run, f"accord-{mode}")
        failed = failed_queries(scores)
        if as_json:
            typer.echo(json.dumps([asdict(s) for s in scores]))
        else:
            typer.echo(f"{report.articles} articles, {scores[0].queries} judged queries, index {index_dir}\n")
            typer.echo(format_table(scores))
            if failed:
                typer.echo(f"\n{len(failed)} of {scores[0].queries} queries could not be run (each scored 0):")
                for failure in failed.values():
                    typer.echo(f"  {failure.qid}: {failure.reason}")
    if failed and fail_on_error:
        typer.echo(f"accord: error: {len(failed)} queries could not be run (--fail-on-error)", err=True)
        raise typer.Exit(1)


def _eval_index_dir(docs: Path) -> Path:
    import hashlib

    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(str(docs.resolve()).encode()).hexdigest()[:12]
    return cache_home / "accord" / "eval" / f"{docs.stem}-{key}"


class _Progress:
    """A tqdm bar on stderr per build stage; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self._bars: dict = {}
        self._enabled = sys.stderr.isatty()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self._bars.values():
            bar.close()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        if stage not in self._bars:
            from tqdm import tqdm

            unit = "passage" if stage == "embed" else "file"
            self._bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr)
        bar = self._bars[stage]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()  # a finished stage shows its final count, rate and time, not a stale 0%


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

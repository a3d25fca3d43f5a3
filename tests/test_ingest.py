"""Getting a real archive in: ids that never collide silently, the inputs analysts have (CSV/TSV,
compressed files, stdin, HTML pages), headline metadata, and a build that reports its progress
truthfully, publishes early and stops cleanly on Ctrl-C."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import cli
from cli import app
from index.extras import missing
from index.pipeline.builder import build
from index.pipeline.check import check_index
from index.storage.manifest import read_manifest
from index.text.articles import ReadOptions, Skipped, read_articles
from index.text.cleaning import clean_raw_article
from search.engine import Engine
from tests.conftest import FAKE_MODEL, HashingEncoder, interruptible

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def run(*args: str, **kwargs):
    result = runner.invoke(app, list(args), **kwargs)
    print(result.output)  # shown when an assertion fails
    return result


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _bbc_and_reuters(tmp_path: Path) -> tuple[Path, Path]:
    """A BBC-like folder of NNN.txt and a Reuters-like JSONL whose newids are the same numbers."""
    politics = tmp_path / "politics"
    politics.mkdir()
    for n in (100, 101):
        (politics / f"{n}.txt").write_text(f"Minister {n} calls for talks\n\nThe minister called for defence talks number {n}.\n")
    reuters = _jsonl(tmp_path / "reuters.jsonl", [
        {"newid": n, "title": f"Wheat report {n}", "body": f"Wheat prices rose in Chicago, report {n}."} for n in (100, 101, 102)
    ])
    return politics, reuters


# 1. Ids never collide silently.

def test_equal_ids_from_two_sources_are_both_indexed_under_source_qualified_ids(tmp_path):
    politics, reuters = _bbc_and_reuters(tmp_path)
    warnings: list[str] = []
    report = build([politics, reuters], tmp_path / "ix", encoder=HashingEncoder(), on_warning=warnings.append)
    assert report.articles == 5 and report.skipped == []
    assert any("'100'" in w and "'reuters:100'" in w for w in warnings)
    with Engine.open(tmp_path / "ix", encoder=HashingEncoder()) as engine:
        assert "defence talks number 100" in engine.article("100").body  # the first source keeps the plain id
        assert "report 100" in engine.article("reuters:100").body
        assert "report 102" in engine.article("102").body  # no collision, no qualification


def test_qualified_ids_work_in_show_similar_and_the_api(tmp_path):
    politics, reuters = _bbc_and_reuters(tmp_path)
    index_dir = tmp_path / "ix"
    build([politics, reuters], index_dir, encoder=HashingEncoder())
    shown = run("show", "reuters:101", "--index", str(index_dir), "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == "reuters:101"
    similar = run("similar", "reuters:101", "--index", str(index_dir), "--json")
    assert similar.exit_code == 0 and "reuters:100" in similar.stdout
    from search.web.app import create_app

    with TestClient(create_app(index_dir, encoder=HashingEncoder()), base_url="http://127.0.0.1") as client:
        # The page builds the URL with encodeURIComponent, which writes ":" as %3A.
        response = client.get("/api/articles/reuters%3A101")
        assert response.status_code == 200 and response.json()["id"] == "reuters:101"
        assert client.get("/api/similar/reuters%3A101").status_code == 200


def test_a_collision_inside_one_file_is_reported_as_it_is_read_and_exits_3(tmp_path):
    source = tmp_path / "wire"
    source.mkdir()
    _jsonl(source / "a.jsonl", [{"id": "5", "body": "First record."}, {"id": 5, "body": "Second record."}])
    (source / "b.txt").write_text("Navy talks\n\nThe navies held talks today in Oslo.\n")
    events: list[str] = []
    report = build([source], tmp_path / "ix", encoder=HashingEncoder(),
                   on_skipped=lambda s: events.append(f"skipped {s.path}: {s.reason}"),
                   progress=lambda stage, done, total: events.append(stage))
    assert report.skipped == [Skipped(f"{source / 'a.jsonl'}:2", "duplicate id '5' (first on line 1)")]
    # Said while reading, before any passage is embedded.
    assert events.index(f"skipped {source / 'a.jsonl'}:2: duplicate id '5' (first on line 1)") < events.index("embed")

    result = run("index", str(source), "--index", str(tmp_path / "ix2"), "--model", FAKE_MODEL)
    assert result.exit_code == cli.EXIT_SKIPPED == 3
    assert f"accord: skipped {source / 'a.jsonl'}:2: duplicate id '5'" in result.output
    assert "Indexed 2 articles" in result.output


# 2. Inputs analysts have.

AG_NEWS = (
    '"3","Wall St. Bears Claw Back","Short-sellers, Wall Street\'s dwindling band of ultra-cynics, are seeing green again."\n'
    '"1","Navies hold joint drill","India and France held a joint naval exercise in the Indian Ocean on Monday."\n'
)


def test_headerless_csv_needs_columns_and_reads_with_them(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(AG_NEWS)
    (skipped,) = read_articles(path)
    assert isinstance(skipped, Skipped) and "--columns" in skipped.reason
    first, second = read_articles(path, options=ReadOptions(columns=("class", "title", "body")))
    assert (first.id, first.title, first.path) == ("1", "Wall St. Bears Claw Back", f"{path}:1")
    assert (second.id, second.title) == ("2", "Navies hold joint drill")
    assert second.body.startswith("India and France")


def test_csv_and_tsv_with_a_header_row(tmp_path):
    (tmp_path / "a.csv").write_text('id,headline,description,date,link\nn1,"Navy deal, signed","India signed a naval deal.",2021-05-04,https://x.example/n1\n')
    (tmp_path / "b.tsv").write_text("title\ttext\tsource\nTalks held\tThe navies held talks today.\tExample Wire\n")
    (a,) = read_articles(tmp_path / "a.csv")
    assert (a.id, a.title, a.date, a.url) == ("n1", "Navy deal, signed", "2021-05-04", "https://x.example/n1")
    (b,) = read_articles(tmp_path / "b.tsv")
    assert (b.id, b.title, b.source, b.path) == ("2", "Talks held", "Example Wire", f"{tmp_path / 'b.tsv'}:2")


def test_the_cli_indexes_ag_news_with_columns(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "test.csv").write_text(AG_NEWS)
    result = run("index", str(tmp_path / "in"), "--index", str(tmp_path / "ix"), "--model", FAKE_MODEL,
                 "--columns", "class,title,body")
    assert result.exit_code == 0 and "Indexed 2 articles" in result.output


def test_compressed_inputs_of_every_form_are_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(b'{"id": "j1", "body": "Gzip record about a navy deal."}\n'))
    (folder / "b.txt.bz2").write_bytes(bz2.compress(b"Bzip headline here\n\nThe bzip article body is about talks.\n"))
    (folder / "c.csv.xz").write_bytes(lzma.compress(b"id,title,body\nc1,Xz title,The xz row is about a treaty.\n"))
    (folder / "d.jsonl.gz").write_bytes(b"not gzip at all")
    report = build([folder], tmp_path / "ix", encoder=HashingEncoder())
    assert report.articles == 3
    assert [s.path for s in report.skipped] == [str(folder / "d.jsonl.gz")] and "gz" in report.skipped[0].reason
    with Engine.open(tmp_path / "ix", encoder=HashingEncoder()) as engine:
        assert engine.article("b").title == "Bzip headline here"  # the id drops both suffixes
        assert engine.article("j1").body.startswith("Gzip record")
        assert engine.article("c1").title == "Xz title"


def test_jsonl_on_stdin_is_indexed_and_kept_as_a_source(tmp_path):
    index_dir = tmp_path / "ix"
    lines = "".join(json.dumps({"id": f"s{n}", "title": f"Piped {n}", "body": f"Piped article {n} about talks."}) + "\n" for n in (1, 2))
    result = run("index", "-", "--index", str(index_dir), "--model", FAKE_MODEL, input=lines)
    assert result.exit_code == 0 and "Indexed 2 articles" in result.output
    again = run("index", "-", "--index", str(index_dir), "--model", FAKE_MODEL, input=lines)
    assert again.exit_code == 0 and "0 added" in again.output  # the same input twice is one file
    update = run("index", "--index", str(index_dir), "--model", FAKE_MODEL)
    assert update.exit_code == 0 and "Indexed 2 articles" in update.output and "0 removed" in update.output
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        assert engine.article("s2").title == "Piped 2"


PAGE = """<!doctype html><html><head><title>Navy deal signed | Example News</title>
<link rel="canonical" href="https://news.example.com/2021/05/navy-deal">
<meta property="og:site_name" content="Example News">
<meta property="article:published_time" content="2021-05-04T10:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>Navy deal signed</h1>
<p>India and France signed a naval cooperation agreement on Tuesday, officials said in a statement released in Paris.</p>
<p>The agreement covers joint exercises, training and the exchange of information between the two navies over the next five years.</p>
</article><footer>Subscribe to our newsletter. Cookie policy. Share on Twitter.</footer></body></html>"""


@pytest.mark.skipif(bool(missing("html")), reason="the html extra is not installed: pip install 'accord[html]'")
def test_an_html_page_keeps_the_article_and_its_metadata_not_the_boilerplate(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "navy-deal.html").write_text(PAGE)
    report = build([tmp_path / "pages"], tmp_path / "ix", encoder=HashingEncoder())
    assert report.articles == 1
    with Engine.open(tmp_path / "ix", encoder=HashingEncoder()) as engine:
        article = engine.article("navy-deal")
    assert (article.title, article.date, article.source, article.url) == (
        "Navy deal signed", "2021-05-04", "Example News", "https://news.example.com/2021/05/navy-deal")
    assert article.body.startswith("India and France") and "five years." in article.body
    assert "Subscribe" not in article.body and "Home" not in article.body


def test_html_without_the_extra_is_one_line_naming_it(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.html").write_text(PAGE)
    script = (
        "import sys\n"
        "sys.modules['trafilatura'] = None\n"
        "import tests.conftest\n"
        "from cli import main\n"
        f"sys.argv = ['accord', 'index', {str(tmp_path / 'pages')!r}, '--index', {str(tmp_path / 'ix')!r}, '--model', {FAKE_MODEL!r}]\n"
        "main()\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines() == [ran.stderr.strip()]
    assert ran.stderr.startswith("accord: error: ") and "pip install 'accord[html]'" in ran.stderr
    assert not (tmp_path / "ix").exists()


# 3. Metadata from plain-text news.

@pytest.mark.parametrize("text, title, source, date", [
    # BBC: a headline quoting someone ends "- Name"; the name is no outlet and the line is the title.
    ("Lords wrong on detainees - Straw\n\nJack Straw has attacked the decision by Britain's highest court.\n\n"
     "The foreign secretary said the right to life was the most important liberty.\n",
     "Lords wrong on detainees - Straw", None, None),
    ("Could rivalry overshadow election?\n\nTony Blair and Gordon Brown are said to be at odds again.\n",
     "Could rivalry overshadow election?", None, None),
    # Wire copy: outlet and date from the dateline.
    ("Navies sign pact\nWASHINGTON, May 5, 2021 (AP) — The two navies signed a pact on Wednesday, officials said.\n",
     "Navies sign pact", "AP", "2021-05-05"),
    # A date line under the headline.
    ("Treaty ratified\n\nMonday 7 February 2005\n\nThe parliament ratified the defence treaty on Monday.\n",
     "Treaty ratified", None, "2005-02-07"),
    # A caption credited to an outlet still names it.
    ("Talks in Tehran\nDefence Minister at the talks - Sputnik International\n"
     "Russia and Iran signed an agreement on military cooperation on Tuesday in Tehran.\n",
     "Talks in Tehran", "Sputnik", None),
])
def test_headline_date_and_outlet_of_plain_text_news(text, title, source, date):
    cleaned = clean_raw_article(text)
    assert (cleaned.title, cleaned.source, cleaned.date, cleaned.title_derived) == (title, source, date, False)


# 4. A build that tells the truth.

def _many(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "many"
    folder.mkdir(exist_ok=True)
    _jsonl(folder / "wire.jsonl", [
        {"id": f"a{i}", "title": f"Report {i}", "body": f"Sentence one of report {i} about navy talks. " * 3} for i in range(n)
    ])
    return folder


def test_the_embedding_total_is_known_before_the_first_passage_is_embedded(tmp_path):
    calls: list[tuple[int, int]] = []
    report = build([_many(tmp_path, 30)], tmp_path / "ix", encoder=HashingEncoder(), commit_every=4,
                   progress=lambda stage, done, total: calls.append((done, total)) if stage == "embed" else None)
    assert report.generations > 1
    assert {total for _done, total in calls} == {report.passages}  # never extrapolated
    assert calls[0] == (0, report.passages)


def test_a_build_publishes_by_elapsed_time_as_well_as_by_count(tmp_path):
    # Time is checked after each chunk of a few model calls (4 x 64 texts here): 300 make two.
    report = build([_many(tmp_path, 300)], tmp_path / "ix", encoder=HashingEncoder(), commit_every=1_000_000,
                   publish_seconds=1e-9)
    assert report.generations == 2 and report.articles == 300
    once = build([_many(tmp_path, 300)], tmp_path / "ix2", encoder=HashingEncoder(), commit_every=1_000_000, publish_seconds=0)
    assert once.generations == 1


def test_a_build_to_a_non_terminal_prints_plain_progress_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "PLAIN_PROGRESS_SECONDS", 0.0)  # every update is due: the build is short
    result = run("index", str(_many(tmp_path, 5)), "--index", str(tmp_path / "ix"), "--model", FAKE_MODEL)
    assert result.exit_code == 0
    assert "accord: embed 5/5 passages (100%)" in result.output
    quiet = run("index", str(_many(tmp_path, 5)), "--index", str(tmp_path / "ix3"), "--model", FAKE_MODEL, "--progress", "none")
    assert quiet.exit_code == 0 and "accord: embed" not in quiet.output


_BLOCKING_BUILD = """
import sys, time
from pathlib import Path
from index.embedding.encoder import register_encoder
from tests.conftest import HashingEncoder

class Blocking(HashingEncoder):
    # After the first batch the model "runs" until interrupted: the build cannot finish first.
    name = "test/blocking"
    def encode(self, texts):
        if self.calls:
            while True:
                time.sleep(0.05)
        return super().encode(texts)

register_encoder("test/blocking", Blocking)
from cli import main
sys.argv = ["accord", "index", sys.argv[1], "--index", sys.argv[2], "--model", "test/blocking", "--commit-every", "3"]
main()
"""


def test_ctrl_c_stops_a_build_and_leaves_the_last_published_generation(tmp_path):
    index_dir = tmp_path / "ix"
    child = subprocess.Popen([sys.executable, "-c", _BLOCKING_BUILD, str(_many(tmp_path, 20)), str(index_dir)],
                             cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    try:
        deadline = time.monotonic() + 120
        while not (index_dir / "manifest.json").exists():  # the first batch is published
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    print(out, err)
    assert child.returncode == 130 and "interrupted" in err
    manifest = read_manifest(index_dir)
    assert 0 < manifest.articles < 20
    assert check_index(index_dir).consistent

    class SameName(HashingEncoder):
        name = "test/blocking"

    with Engine.open(index_dir, encoder=SameName()) as engine:
        assert engine.article("a0").title == "Report 0"

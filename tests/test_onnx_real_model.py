"""The ONNX export of the packaged all-MiniLM-L6-v2: equal to sentence-transformers, refused when
it is not, cached once, and a hybrid query through the CLI that never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embedding.encoder import MINILM_NAME
from index.embedding.minilm import MiniLMOnnxFirst
from index.embedding.model_files import MINILM_INT8_NAME, OnnxExportRefused, find_onnx, onnx_paths, packaged_model_dir
from index.embedding.onnx_encoder import OnnxEncoder
from index.embedding.onnx_export import ensure_onnx
from index.embedding.torch_encoder import MiniLMEncoder
from tests.conftest import SEEDS

pytestmark = pytest.mark.real_model
REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "Russia may resume military-technical cooperation with Libya",
    "weapons deliveries to North Africa",
    "PERSONS INVOLVED IN THE VIET NAM COUP .",
    "The navies of both countries will make more port calls. " * 60,  # past 256 tokens
    "x",
]


@pytest.fixture(scope="module")
def fp32() -> Path:
    """The session's export (the first test to need it pays for it, once)."""
    return ensure_onnx("fp32")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return MiniLMEncoder().encode(TEXTS)


def test_onnx_vectors_match_sentence_transformers(fp32, reference):
    vectors = OnnxEncoder(fp32, batch_size=2).encode(TEXTS)  # padded batches, sorted by length
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    record = json.loads((fp32.parent / "validation.json").read_text())
    assert record["min_cosine"] >= record["threshold"] == 0.999


def test_default_encoder_runs_on_onnx(fp32, reference):
    encoder = MiniLMOnnxFirst()
    assert isinstance(encoder.backend, OnnxEncoder) and encoder.backend.model_path == fp32
    assert (encoder.encode(TEXTS) * reference).sum(axis=1).min() >= 0.999


def test_export_with_wrong_pooling_is_refused_and_remembered(tmp_path, caplog):
    from index.embedding.onnx_export import export_variant

    paths = onnx_paths("fp32", cache_dir=tmp_path)
    with pytest.raises(OnnxExportRefused, match="does not match sentence-transformers: cosine"):
        export_variant(paths, packaged_model_dir(), pooling="cls")
    assert find_onnx("fp32", cache_dir=tmp_path) is None and not paths.folder.exists()
    assert not list(paths.root.glob(".tmp-*"))  # the rejected files were removed
    assert "does not match" in json.loads(paths.refused.read_text())["reason"]
    with pytest.raises(OnnxExportRefused, match="delete it to try again"):
        ensure_onnx("fp32", cache_dir=tmp_path)  # at once, no second export
    with caplog.at_level("WARNING", logger="accord"):
        fallback = MiniLMOnnxFirst(cache_dir=tmp_path)
        assert isinstance(fallback.backend, MiniLMEncoder)
    assert "using sentence-transformers" in caplog.text


def test_check_refuses_vectors_below_the_tolerance(fp32):
    from index.embedding.onnx_export import check_against_reference

    with pytest.raises(OnnxExportRefused, match=r"< 1\.5"):
        check_against_reference(OnnxEncoder(fp32), packaged_model_dir(), 1.5)


def test_cached_export_is_reused_not_redone(fp32, monkeypatch):
    before = [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(fp32.parent.iterdir())]

    def no_export(*args, **kwargs):
        raise AssertionError("the cached export must be reused")

    monkeypatch.setattr("index.embedding.onnx_export.export_variant", no_export)
    assert ensure_onnx("fp32") == fp32
    assert MiniLMOnnxFirst().backend.model_path == fp32
    assert [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(fp32.parent.iterdir())] == before


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory, fp32) -> Path:
    from index.pipeline.builder import build

    index_dir = tmp_path_factory.mktemp("onnx-seeds") / "ix"
    build([SEEDS], index_dir, model=MINILM_NAME)  # the exact model, which sentence-transformers also runs
    return index_dir


def test_hybrid_query_through_the_cli_imports_no_torch(seeds_index):
    probe = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from cli import app\n"
        f"r = CliRunner().invoke(app, ['search', 'weapons deliveries to North Africa', '--json', '--index', {str(seeds_index)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'onnx': 'onnxruntime' in sys.modules, 'hits': [json.loads(l) for l in r.output.splitlines()]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["heavy"] == [] and result["onnx"]
    notes = [line["notes"] for line in result["hits"] if "notes" in line]
    assert len(notes) == 1 and notes[0][0].startswith('region read as its countries: "North Africa" as ')
    assert "Libya" in notes[0][0]
    result["hits"] = [line for line in result["hits"] if "id" in line]
    assert result["hits"][0]["id"].startswith("004_")
    assert any(hit["semantic"] for hit in result["hits"])
    # The same ranking as with sentence-transformers embedding the query.
    from search.engine import Engine

    with Engine.open(seeds_index, encoder=MiniLMEncoder()) as engine:
        expected = engine.search("weapons deliveries to North Africa", mode="hybrid")
    assert [hit["id"] for hit in result["hits"]] == [hit.id for hit in expected]


def test_int8_index_records_its_own_model_name(tmp_path, seeds_index):
    from index.pipeline.builder import build
    from search.engine import Engine

    index_dir = tmp_path / "int8"
    # The fp32 index's cache: none of its vectors may serve the int8 model.
    report = build([SEEDS], index_dir, model=MINILM_INT8_NAME, embedding_cache=seeds_index / "cache" / "embeddings.sqlite")
    assert report.embedded == report.passages and report.reused_embeddings == 0
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["model"] == MINILM_INT8_NAME != MINILM_NAME
    with Engine.open(index_dir) as engine:
        assert engine.encoder.name == MINILM_INT8_NAME
        hits = engine.search("military-technical cooperation Libya", k=3, mode="semantic")
    assert hits[0].id.startswith("004_")
    validation = json.loads((find_onnx("int8").parent / "validation.json").read_text())
    assert 0.95 <= validation["min_cosine"] < 0.999  # close to, but not, the fp32 function


def test_int8_vector_does_not_depend_on_the_texts_beside_it():
    """Dynamic quantisation scales a run's activations by the whole input: batched, a text's
    int8 vector changed with its neighbours. Alone or among others, one text has one vector."""
    from index.embedding.minilm import int8_encoder

    encoder = int8_encoder()
    together = encoder.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        alone = encoder.encode([text])[0]
        assert np.array_equal(alone, together[i]), text


def test_sessions_keep_residual_adds_and_layer_norms_apart(tmp_path):
    """ONNX Runtime's SkipLayerNormalization, fused from a residual Add and a LayerNormalization,
    cost 5x the two operators on a passage's activations; the encoder's sessions do not fuse them."""
    import onnx

    from index.embedding.onnx_encoder import open_session

    for variant in ("int8", "fp32"):
        graph = tmp_path / f"{variant}.onnx"
        open_session(ensure_onnx(variant), 1, optimized_graph=graph)
        ops = [node.op_type for node in onnx.load(str(graph), load_external_data=False).graph.node]
        assert "SkipLayerNormalization" not in ops, variant
        assert ops.count("LayerNormalization") == 13, variant  # the embeddings' and two per layer


def test_a_new_index_is_built_with_the_int8_model(tmp_path):
    from index.pipeline.builder import build

    build([SEEDS], tmp_path / "ix")
    assert json.loads((tmp_path / "ix" / "manifest.json").read_text())["model"] == MINILM_INT8_NAME


def test_without_a_usable_model_cache_the_default_build_falls_back_to_the_exact_model(tmp_path, monkeypatch, caplog):
    """The int8 model is made from the ONNX export; where it cannot be (here the cache folder is
    a file), the build embeds with the exact model through sentence-transformers and says so."""
    from index.embedding.model_files import CACHE_ENV
    from index.pipeline.builder import build

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocked))
    with caplog.at_level("WARNING", logger="accord"):
        report = build([SEEDS], tmp_path / "ix")
    assert report.articles == 5
    assert json.loads((tmp_path / "ix" / "manifest.json").read_text())["model"] == MINILM_NAME
    assert any("building with the exact" in record.getMessage() for record in caplog.records)

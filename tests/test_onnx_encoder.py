"""The ONNX encoder's mechanics on a tiny synthetic model and the export cache's bookkeeping.
No real model: these run in milliseconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from index.embedding.encoder import MINILM_NAME, encoder_for
from index.embedding.minilm import MiniLMOnnxFirst
from index.embedding.model_files import MINILM_INT8_NAME, OnnxExportRefused, find_onnx, onnx_paths, packaged_model_dir
from index.embedding.onnx_encoder import OnnxEncoder
from index.embedding.onnx_export import ensure_onnx
from index.embedding.torch_encoder import MiniLMEncoder

ROWS = 97  # the toy model's embedding table: token id mod 97 -> a random 384-d row


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A graph shaped like the exported transformer whose output for a token is a fixed row."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.random.default_rng(0).standard_normal((ROWS, 384)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Mod", ["input_ids", "rows"], ["row"]),
            helper.make_node("Gather", ["table", "row"], ["last_hidden_state"]),
        ],
        "toy",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 384])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array(ROWS, dtype=np.int64), "rows")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("toy") / "model.onnx"
    onnx.save_model(model, str(path))
    return path, table


def expected_vector(text: str, table: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """What the encoder must return for `text`: pooled rows of its tokens, unit length."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.no_padding()
    rows = table[np.array(tokenizer.encode(text).ids) % ROWS]
    pooled = rows[0] if pooling == "cls" else rows.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


TEXTS = ["a", "Russia and Libya sign an arms deal", "word " * 300, "navies", "The navies of both countries will make port calls."]


def test_mean_pooling_ignores_padding_and_keeps_input_order(toy_model):
    path, table = toy_model
    encoder = OnnxEncoder(path, batch_size=2)  # several batches of texts sorted by length
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    for text, vector in zip(TEXTS, vectors):
        np.testing.assert_allclose(vector, expected_vector(text, table), atol=1e-5)
    # Alone or with companions of other lengths, a text gets the same vector.
    np.testing.assert_allclose(encoder.encode(TEXTS[2:3])[0], vectors[2], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_truncation_at_256_tokens_and_cls_pooling(toy_model):
    path, table = toy_model
    long_text = " ".join(f"w{i}" for i in range(600))
    encoder = OnnxEncoder(path, pooling="cls")
    np.testing.assert_allclose(encoder.encode([long_text])[0], expected_vector(long_text, table, "cls"), atol=1e-5)
    assert OnnxEncoder(path)._tokenizer.encode(long_text).ids.__len__() == 256
    assert encoder.count_tokens(["Russia and Libya"]) == MiniLMEncoder().count_tokens(["Russia and Libya"])
    with pytest.raises(ValueError):
        OnnxEncoder(path, pooling="max")


def test_cache_folder_is_keyed_by_model_files_and_variant(tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setenv("ACCORD_MODEL_CACHE", str(tmp_path / "cache"))
    fp32 = onnx_paths("fp32", model_dir)
    assert fp32.root.parent == tmp_path / "cache" and fp32.model == fp32.root / "fp32" / "model.onnx"
    assert onnx_paths("int8", model_dir).folder == fp32.root / "int8"
    time.sleep(0.01)
    (model_dir / "model.safetensors").write_bytes(b"other weights")  # reinstalled model
    assert onnx_paths("fp32", model_dir).root != fp32.root
    with pytest.raises(ValueError):
        onnx_paths("fp16", model_dir)


def test_only_a_validated_export_is_used(tmp_path):
    paths = onnx_paths("fp32", cache_dir=tmp_path)
    paths.folder.mkdir(parents=True)
    paths.model.write_bytes(b"half written")
    assert find_onnx("fp32", cache_dir=tmp_path) is None  # no validation record: not ours to trust
    paths.validation.write_text("{}")
    assert find_onnx("fp32", cache_dir=tmp_path) == paths.model


def test_a_refused_export_is_remembered_and_the_torch_path_used(tmp_path, monkeypatch, caplog):
    paths = onnx_paths("fp32", cache_dir=tmp_path)
    paths.root.mkdir(parents=True)
    paths.refused.write_text(json.dumps({"reason": "cosine 0.9 < 0.999"}))

    def no_export(*args, **kwargs):
        raise AssertionError("a remembered refusal must not export again")

    monkeypatch.setattr("index.embedding.onnx_export.export_variant", no_export)
    with pytest.raises(OnnxExportRefused, match="cosine 0.9 < 0.999.*delete it to try again"):
        ensure_onnx("fp32", cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="accord"):
        encoder = MiniLMOnnxFirst(cache_dir=tmp_path)
        assert isinstance(encoder.backend, MiniLMEncoder)
    assert "using sentence-transformers" in caplog.text


def test_torch_backend_can_be_forced(monkeypatch):
    monkeypatch.setenv("ACCORD_ENCODER", "torch")
    assert isinstance(MiniLMOnnxFirst().backend, MiniLMEncoder)


def test_both_models_are_registered_under_their_own_names():
    encoder = encoder_for(MINILM_NAME)
    assert isinstance(encoder, MiniLMOnnxFirst) and encoder.name == MINILM_NAME
    assert MINILM_INT8_NAME != MINILM_NAME and MINILM_INT8_NAME.startswith(MINILM_NAME)


def test_an_unwritable_cache_falls_back_to_torch(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level("WARNING", logger="accord"):
        assert isinstance(MiniLMOnnxFirst(cache_dir=blocker / "models").backend, MiniLMEncoder)
    assert "using sentence-transformers" in caplog.text


def test_a_query_runs_on_one_thread_unless_threads_are_set(toy_model, monkeypatch):
    # One short text: splitting its operators over sleeping threads cost CPU and wall time alike
    # (QUERY_THREADS); ACCORD_ONNX_THREADS still sets them.
    path, _ = toy_model
    monkeypatch.delenv("ACCORD_ONNX_THREADS", raising=False)
    query = OnnxEncoder(path)
    query.prefer_latency()
    assert query._session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv("ACCORD_ONNX_THREADS", "2")
    query = OnnxEncoder(path)
    query.prefer_latency()
    assert query._session.get_session_options().intra_op_num_threads == 2


def test_a_build_runs_batches_side_by_side_and_a_query_splits_its_operators(toy_model):
    # Builds: one thread per batch, several batches at once, no thread spin-waiting on another
    # (spinning burnt 40% of the embedding's CPU on shared cores). Queries: one batch, its
    # operators split over the threads, which sleep between runs too.
    path, _ = toy_model
    bulk, queries = OnnxEncoder(path, threads=2, batch_size=2), OnnxEncoder(path, threads=2, batch_size=2)
    queries.prefer_latency()
    spinning = "session.intra_op.allow_spinning"
    for encoder in (bulk, queries):
        assert encoder._session.get_session_options().get_session_config_entry(spinning) == "0"
    assert (bulk.workers, bulk._session.get_session_options().intra_op_num_threads) == (2, 1)
    assert (queries.workers, queries._session.get_session_options().intra_op_num_threads) == (1, 2)
    texts = [f"arms deal number {i} " * (i % 5 + 1) for i in range(9)]
    assert np.allclose(bulk.encode(texts), queries.encode(texts), atol=1e-6)
    assert np.allclose(bulk.encode(texts[3:4]), queries.encode(texts)[3:4], atol=1e-6)


def test_the_engine_asks_its_encoder_for_query_latency(built_index):
    from search.engine import Engine
    from tests.conftest import HashingEncoder

    class Tunable(HashingEncoder):
        tuned = False

        def prefer_latency(self):
            self.tuned = True

    encoder = Tunable()
    with Engine.open(built_index, encoder=encoder):
        assert encoder.tuned

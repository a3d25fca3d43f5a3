"""The `Encoder` protocol and the registry of models by the name an index's manifest records.

Models are loaded lazily, never at import: importing sentence-transformers costs seconds, and
`accord --help` or a keyword search must not pay it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from index.embedding.model_files import MINILM_INT8_NAME, MINILM_NAME
from index.errors import IndexIncompatible

if TYPE_CHECKING:
    import numpy as np  # imported where used: a keyword search never needs numpy

__all__ = ["MINILM_INT8_NAME", "MINILM_NAME", "Encoder", "encoder_for", "register_encoder"]


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


def _minilm() -> Encoder:
    # ONNX Runtime when its validated export is cached or can be made, else sentence-transformers:
    # the same vectors (cosine >= 0.999), and a query needs no torch.
    from index.embedding.minilm import MiniLMOnnxFirst

    return MiniLMOnnxFirst()


def _minilm_int8() -> Encoder:
    # Opt-in, faster to build with; other vectors, hence another name in the manifest.
    from index.embedding.minilm import int8_encoder

    return int8_encoder()


# Encoders by model name. The manifest records the name, so an index is always queried with the
# model that built it; tests and other tools can register their own.
_REGISTRY: dict[str, Callable[[], Encoder]] = {
    MINILM_NAME: _minilm,
    MINILM_INT8_NAME: _minilm_int8,
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

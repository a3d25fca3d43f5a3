"""The registered all-MiniLM-L6-v2 encoders: ONNX first with a sentence-transformers fallback, and
the opt-in int8 model.

- `MiniLMOnnxFirst` (registered as `sentence-transformers/all-MiniLM-L6-v2`): ONNX fp32 when
  the validated export is there or can be made, else sentence-transformers. Its vectors agree
  with sentence-transformers to cosine >= 0.999, so it can query (and extend) any index built
  under that name.
- `int8_encoder()` (registered as `sentence-transformers/all-MiniLM-L6-v2#onnx-int8`): the
  quantised model, ~2x faster to embed but a different embedding function, hence its own name:
  an index built with it records that name, and its embedding cache entries never mix with
  fp32 ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from index.embedding.base import EncoderBase
from index.embedding.model_files import BACKEND_ENV, MINILM_INT8_NAME, MINILM_NAME, OnnxExportRefused
from index.embedding.onnx_encoder import OnnxEncoder
from index.embedding.onnx_export import ensure_onnx
from index.embedding.torch_encoder import MiniLMEncoder

if TYPE_CHECKING:
    import numpy as np

# The int8 model runs one text at a time. Dynamic quantisation picks each run's activation scale
# from the whole input tensor, so in a batch a passage's vector depended on its neighbours (cosine
# down to 0.975 against the same text alone): an update embedding a text beside other texts got
# another vector, and quality moved with batch composition (CISI hybrid nDCG@10 -0.0059 and
# -0.0043 for two builds of the same articles). One text per run gives each text its own scale
# and one vector, for ~6% more CPU than batches of 8 (docs/tuning.md, T table).
INT8_BATCH = 1

log = logging.getLogger("accord")


class MiniLMOnnxFirst(EncoderBase):
    """all-MiniLM-L6-v2 through ONNX Runtime when its validated export can be had, else torch.

    The choice is made on first use (`prepare`, `encode`): a cached export is used at once; a
    missing one is exported and checked (seconds, once per model); a refused or impossible
    export falls back to sentence-transformers with one warning. `ACCORD_ENCODER=torch`
    forces sentence-transformers.
    """

    name = MINILM_NAME
    dim = MiniLMEncoder.dim
    max_tokens = MiniLMEncoder.max_tokens

    def __init__(self, model_dir: Path | None = None, cache_dir: Path | None = None) -> None:
        self._model_dir = model_dir
        self._cache_dir = cache_dir
        self._torch = MiniLMEncoder(model_dir)  # loads nothing until used
        self._latency = False

    def prefer_latency(self) -> None:
        """Tune the ONNX backend for one query at a time (see OnnxEncoder.prefer_latency)."""
        self._latency = True
        if "backend" in self.__dict__:
            self.backend.prefer_latency()

    @cached_property
    def backend(self):
        """The encoder that does the work: an OnnxEncoder or the sentence-transformers one."""
        if os.environ.get(BACKEND_ENV, "onnx").lower() in ("torch", "sentence-transformers", "st"):
            return self._torch
        try:
            path = ensure_onnx("fp32", self._model_dir, self._cache_dir)
        except (OnnxExportRefused, ImportError, OSError) as err:  # OSError: e.g. a read-only cache
            log.warning("accord: warning: using sentence-transformers for %s, not ONNX: %s", self.name, err)
            return self._torch
        encoder = OnnxEncoder(path, self.name, self._model_dir)
        if self._latency:
            encoder.prefer_latency()
        return encoder

    def prepare(self) -> None:
        """Choose (and if need be export) the backend now, e.g. while an index is built."""
        _ = self.backend  # the cached property does the choosing

    @property
    def embed_batch_size(self) -> int:
        """The backend's: ONNX Runtime's sorts more texts at a time by their length."""
        return self.backend.embed_batch_size

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._torch.count_tokens(texts)  # the tokenizer alone, no model is loaded

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.backend.encode(texts)


def int8_encoder(model_dir: Path | None = None, cache_dir: Path | None = None) -> OnnxEncoder:
    """The dynamically quantised (int8, per channel) model, exported on first use."""
    try:
        path = ensure_onnx("int8", model_dir, cache_dir)
    except ImportError as err:
        raise OnnxExportRefused(f"cannot export the int8 model: {err}") from None
    return OnnxEncoder(path, MINILM_INT8_NAME, model_dir, batch_size=INT8_BATCH)

"""all-MiniLM-L6-v2 through ONNX Runtime: the query path without torch.

This module imports only numpy, `tokenizers` and (when a model is first used) `onnxruntime`.
The ONNX file is made once per model from the packaged all-MiniLM-L6-v2 by `index.embedding.onnx_export`
(which needs torch) and kept in a per-user cache; it is used only after it was checked against
sentence-transformers, and an export that fails that check is refused and remembered, so the
sentence-transformers path is used instead of trying again on every run.

The cache layout is described in `index.embedding.model_files`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from index.embedding.base import EncoderBase
from index.embedding.model_files import MAX_SEQ_LENGTH, MINILM_NAME, THREADS_ENV, packaged_model_dir


class OnnxEncoder(EncoderBase):
    """A sentence-transformers model run by ONNX Runtime: tokenize, run, pool, normalise.

    Reproduces sentence-transformers' encode: the model's own tokenizer truncating at
    `max_seq_length` tokens (special tokens included) and padding each batch to its longest
    text, then mean pooling over the attention mask and L2 normalisation, in float32. Texts
    are sorted by length before batching so that short texts are not padded to long ones;
    the results come back in the input order.
    """

    dim = 384
    max_tokens = MAX_SEQ_LENGTH - 2

    def __init__(
        self,
        model_path: Path,
        name: str = MINILM_NAME,
        model_dir: Path | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        pooling: str = "mean",
        sort_by_length: bool = True,
        max_seq_length: int = MAX_SEQ_LENGTH,
    ) -> None:
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
        self.name = name
        self.model_path = Path(model_path)
        self._model_dir = Path(model_dir or packaged_model_dir())
        self.batch_size = batch_size
        self.threads = threads if threads is not None else int(os.environ.get(THREADS_ENV) or 0)
        self.pooling = pooling
        self.sort_by_length = sort_by_length
        self.max_seq_length = max_seq_length
        self.spin_wait = True

    def prefer_latency(self) -> None:
        """Tune for one short query at a time (the Engine asks for it): ONNX Runtime's threads
        sleep between runs instead of spin-waiting on the cores that the keyword leg and faiss
        need next. Measured at 20k articles, hybrid p50 27 -> 22 ms; bulk embedding is ~4%
        faster with spinning, so builds keep it. Has no effect once the session exists."""
        self.spin_wait = False

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        # tokenizer.json ships with truncation at 128 and fixed padding to 128; sentence-
        # transformers truncates at max_seq_length and pads to the longest text of a batch.
        tokenizer.enable_truncation(self.max_seq_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        return tokenizer

    @cached_property
    def _counter(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads  # 0: ONNX Runtime's default (physical cores)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if not self.spin_wait:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])

    @cached_property
    def _input_names(self) -> set[str]:
        return {i.name for i in self._session.get_inputs()}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces in each text, as the model's tokenizer splits it."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, shape (len(texts), dim), float32."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = list(range(len(texts)))
        if self.sort_by_length and len(texts) > self.batch_size:
            # Character length is a good enough proxy for token length and costs nothing.
            order.sort(key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._session.run(None, feeds)[0]  # (batch, seq, dim)
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

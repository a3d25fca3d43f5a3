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
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import numpy as np

from index.embedding.base import EncoderBase
from index.embedding.model_files import MAX_SEQ_LENGTH, MINILM_NAME, THREADS_ENV, packaged_model_dir

# Texts a builder hands `encode` at once. Sorted by their token counts, 256 news passages pad
# to 5% more tokens than they hold; sorted 64 at a time (the cache's batch) they padded to 15-18%
# more, with the same vectors (docs/benchmarks.md, index throughput).
EMBED_CALL = 256
# Texts per model run. Small batches of texts of one length cost less CPU per passage than large
# ones on this project's CPUs (measured on BBC passages, calls of 256: batches of 8 took 25% less
# CPU than 32 with the int8 model, 17% less with fp32; 4 was no better than 8): less padding,
# and each batch's activations stay in the cache.
BATCH = 8
# ONNX Runtime threads for a query's one text (after `prefer_latency`) unless `threads` or
# ACCORD_ONNX_THREADS says otherwise. With threads that sleep between operators, splitting a short
# text's operators only adds the hand-overs: one thread took 1.34 ms of CPU and 1.35 ms of wall
# time for a Reuters title query against 2.23 and 1.81 ms with two, and 6.9 against 10.6 ms CPU
# (6.9 against 7.5 ms wall) for a 60-word one (int8 MiniLM, 2 cores; docs/performance.md).
QUERY_THREADS = 1
# Graph rewrites of ONNX Runtime's that make these models slower on a CPU. SkipLayerNormFusion
# turns each residual Add + LayerNormalization into one SkipLayerNormalization, which took 112 us
# on a 56-token passage's (1, 56, 384) activations against 22 us for the two operators it
# replaces (onnxruntime 1.32, one thread): 16% of the int8 model's CPU per word piece (73 -> 61 us).
# The fp32 model's vectors stay those of sentence-transformers; the int8 model's move within its
# quantisation noise (cosine to the exact vectors 0.99369 on average against 0.99365 fused;
# docs/benchmarks.md, index throughput, fifth round).
SLOW_FUSIONS = ("SkipLayerNormFusion",)


class OnnxEncoder(EncoderBase):
    """A sentence-transformers model run by ONNX Runtime: tokenize, run, pool, normalise.

    Threads: a build's batches run side by side, one per thread (`threads`, else
    ACCORD_ONNX_THREADS, else one per core), each operator of a batch on one thread; after
    `prefer_latency` (or with `side_by_side=False`) batches run one after another, each on
    `threads` (else QUERY_THREADS: one, the cheapest and the quickest for a query's one text)
    with its operators split over them when there are several.
    Side by side, no thread waits on another between operators: 13-17% less CPU per passage
    than splitting them (docs/benchmarks.md, index throughput). `spin=True` lets ONNX
    Runtime's threads spin-wait between operators, its own default; by default they sleep. With
    `side_by_side=False, spin=True` the encoder runs as Accord's builds did before index
    throughput was measured (benchmarks/build_speed/bench_throughput.py compares the two).

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
        batch_size: int = BATCH,
        threads: int | None = None,
        pooling: str = "mean",
        sort_by_length: bool = True,
        max_seq_length: int = MAX_SEQ_LENGTH,
        spin: bool = False,
        side_by_side: bool = True,
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
        self.spin = spin
        self.side_by_side = side_by_side

    def prefer_latency(self) -> None:
        """Tune for one short query at a time (the Engine asks for it): one batch at a time on
        `threads`, else QUERY_THREADS. Has no effect once the session exists."""
        self.side_by_side = False

    @property
    def workers(self) -> int:
        """Batches run side by side in `encode` (1: one after another)."""
        if not self.side_by_side:
            return 1
        return self.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        # tokenizer.json ships with truncation at 128 and fixed padding to 128; sentence-
        # transformers truncates at max_seq_length and pads to the longest text of a batch,
        # which `_encode_batch` does after the texts are sorted by their token counts.
        tokenizer.enable_truncation(self.max_seq_length)
        tokenizer.no_padding()
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
        # Side by side, each batch's operators run on the calling thread alone; otherwise on
        # `threads`, else QUERY_THREADS.
        return open_session(self.model_path, 1 if self.side_by_side else (self.threads or QUERY_THREADS), spin=self.spin)

    @cached_property
    def _input_names(self) -> set[str]:
        return {i.name for i in self._session.get_inputs()}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces in each text, as the model's tokenizer splits it."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    @property
    def embed_batch_size(self) -> int:
        """EMBED_CALL texts: enough that sorting them by length leaves little padding."""
        return EMBED_CALL

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, shape (len(texts), dim), float32."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        order = list(range(len(texts)))
        if self.sort_by_length:
            # By the model's own token counts: a batch is padded to its longest text, and the
            # padding is computed like any token.
            order.sort(key=lambda i: len(encodings[i].ids))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        workers = min(self.workers, len(batches))
        run = lambda rows: self._encode_batch([encodings[i] for i in rows])  # noqa: E731
        if workers > 1:
            # ONNX Runtime lets go of the GIL while it runs, and a session may be run from
            # several threads at once.
            pool = ThreadPoolExecutor(workers)
            try:
                vectors = list(pool.map(run, batches))
            finally:
                # On Ctrl-C the batches not begun are dropped: only those running are waited for.
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            vectors = [run(rows) for rows in batches]
        for rows, batch_vectors in zip(batches, vectors):
            out[rows] = batch_vectors
        return out

    def _encode_batch(self, encodings: list) -> np.ndarray:
        """Vectors of one batch of tokenized texts, padded to the longest of them."""
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)  # one segment: every type id is 0
        hidden = self._session.run(None, feeds)[0]  # (batch, seq, dim)
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def open_session(model_path: Path, threads: int, *, spin: bool = False, optimized_graph: Path | None = None):
    """An ONNX Runtime CPU session for `model_path` whose operators run on `threads` threads.

    `optimized_graph`: where to write the graph as ONNX Runtime optimised it, to inspect it.
    A session may be shared between threads (ONNX Runtime's `run` is thread-safe)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if optimized_graph is not None:
        options.optimized_model_filepath = str(optimized_graph)
    # ONNX Runtime's threads sleep between operators instead of spin-waiting (unless `spin`,
    # its own default), for queries and builds alike. For a query the spinning took the
    # cores that the keyword leg and faiss need next (hybrid p50 27 -> 22 ms at 20k
    # articles). For a build it burnt CPU while waiting on the other thread: with the cores
    # shared, 40% of the embedding's CPU time went to spinning (docs/benchmarks.md, index
    # throughput), for a wall time no better than without it.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(
        str(model_path), options, providers=["CPUExecutionProvider"], disabled_optimizers=list(SLOW_FUSIONS)
    )

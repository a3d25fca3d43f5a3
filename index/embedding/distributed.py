"""Embedding on a Dask cluster: `DaskEncoder` and `dask_encoder` (`accord index --dask/--workers`).

`DaskEncoder` wraps the encoder a build would use locally and satisfies the same `Encoder`
protocol with the same name, dimension and token counts, so the index and the embedding cache it
produces are those of a local build. Only `encode` goes to the cluster: its texts are cut into
chunks of `BATCH_SIZE` (the size a local build hands its encoder), each chunk is one task, and
the vectors come back in order. Because the chunks are the very batches a local build encodes,
the vectors are the same, bit for bit where the model is deterministic.

Each worker process loads the encoder once, on its first chunk, and keeps it (`_encode_chunk`):
by model name through `encoder_for`, or through a picklable factory for models that are not
registered by name on the workers (tests). The worker hosts need Accord installed.

A lost worker is survived: Dask reruns the chunks it held on the other workers (up to the
scheduler's `allowed-failures`), and a chunk whose encoder raised is retried `retries` times.
The builder commits vectors to the content-hash cache after every `encode` call, so a run that
stops anyway resumes from the last call. dask and distributed are imported only here and only
when a cluster is asked for: `accord --help`, searches and local builds never load them.

Sharing: one `DaskEncoder` may be used by one thread at a time (the builder's); the Dask client
inside it is thread-safe, and the cluster may serve other clients meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embedding.base import Encoder, EncoderBase
from index.embedding.cache import BATCH_SIZE
from index.embedding.encoder import encoder_for
from index.embedding.model_files import THREADS_ENV
from index.errors import AccordError, ClusterError
from index.extras import require

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskEncoder", "dask_encoder", "open_cluster"]

# How often a waiting `encode` checks that workers are left, and how long it waits for one.
POLL_SECONDS = 2.0
STALL_SECONDS = 120.0

# Per worker process: the encoders it has loaded, by (model name, factory token).
_loaded: dict[tuple[str, str], Encoder] = {}
_loading = threading.Lock()


def _encode_chunk(texts: list[str], spec: tuple[str, str, Callable[[], Encoder]]) -> np.ndarray:
    """Run on a worker: the vectors of one chunk, by the encoder this process keeps loaded."""
    name, token, factory = spec
    with _loading:  # a worker with several threads loads the model once
        encoder = _loaded.get((name, token))
        if encoder is None:
            encoder = _loaded[(name, token)] = factory()
    return np.asarray(encoder.encode(texts), dtype=np.float32)


def loaded_encoders() -> dict[tuple[str, str], Encoder]:
    """The encoders this (worker) process has loaded; for inspection with `Client.run`."""
    return dict(_loaded)


class DaskEncoder(EncoderBase):
    """The `Encoder` protocol over a Dask cluster, with the name and tokenizer of `local`.

    `local` counts tokens (the builder splits passages with it) and names the model; the
    workers embed with `factory()` (default: `encoder_for(local.name)`), which must make the
    same model. `label` names the cluster in error messages (e.g. "--dask tcp://host:8786").
    `chunks_sent` and `texts_sent` count what was sent to the cluster.
    """

    def __init__(
        self,
        local: Encoder,
        client: Client,
        *,
        factory: Callable[[], Encoder] | None = None,
        label: str = "the Dask cluster",
        retries: int = 2,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        require("dask")
        from dask.base import tokenize

        self.name = local.name
        self.dim = local.dim
        self.max_tokens = local.max_tokens
        self.label = label
        self.retries = retries
        self.stall_seconds = stall_seconds
        self.chunks_sent = 0
        self.texts_sent = 0
        self._local = local
        self._client = client
        self._factory = factory or partial(encoder_for, local.name)
        # Told to the workers with every chunk, so that two factories for one name never share a model.
        self._spec = (local.name, tokenize(self._factory), self._factory)

    def prepare(self) -> None:
        """Prepare the local model (e.g. the ONNX export, which workers on this host then reuse)."""
        self._local.prepare()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens in each text, counted here by the local model's tokenizer."""
        return self._local.count_tokens(texts)

    @property
    def embed_batch_size(self) -> int:
        """Texts the builder should hand `encode` at once: two chunks per worker thread, so that
        every worker has its next chunk queued while the first one's vectors travel back."""
        # Asked of the scheduler now: `scheduler_info()` is the client's cached copy, which can
        # still list fewer workers than have joined (seen once in CI: 1 of 2).
        threads = sum(int(n) for n in self._client.nthreads().values())
        return BATCH_SIZE * 2 * max(threads, 1)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`, embedded on the cluster chunk by chunk and returned in order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = [texts[i : i + BATCH_SIZE] for i in range(0, len(texts), BATCH_SIZE)]
        futures = self._client.map(_encode_chunk, chunks, spec=self._spec, pure=False, retries=self.retries)
        self.chunks_sent += len(chunks)
        self.texts_sent += len(texts)
        try:
            results = [self._result(future) for future in futures]
        except AccordError:
            raise
        except Exception as err:  # a task's own error (after retries), or a chunk that kept killing workers
            raise ClusterError(
                f"{self.label}: a worker could not embed a batch ({type(err).__name__}: {_first_line(err)}); "
                "the workers need Accord installed with the same model (the batches done so far are cached)"
            ) from None
        finally:
            self._client.cancel(futures)
        for chunk, vectors in zip(chunks, results):
            if vectors.shape != (len(chunk), self.dim):
                raise ClusterError(
                    f"{self.label}: a worker returned vectors of shape {vectors.shape}, not {(len(chunk), self.dim)}; "
                    f"the workers must run the same model ({self.name}) as this machine"
                )
        return np.vstack(results)

    def _result(self, future: Any) -> np.ndarray:
        """One chunk's vectors; fails if the scheduler is lost or no worker is left for `stall_seconds`."""
        workerless_since: float | None = None
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except TimeoutError:
                pass
            if self._client.status != "running":
                raise ClusterError(f"{self.label}: lost the Dask scheduler; run again once it is back (the batches done so far are cached)")
            if self._client.scheduler_info(n_workers=-1).get("workers"):
                workerless_since = None
                continue
            workerless_since = workerless_since or time.monotonic()
            if time.monotonic() - workerless_since > self.stall_seconds:
                raise ClusterError(
                    f"{self.label}: no Dask worker left for {self.stall_seconds:.0f} s; start workers and run again "
                    "(the batches done so far are cached)"
                )


@contextmanager
def open_cluster(
    address: str | None = None,
    workers: int | None = None,
    *,
    connect_timeout: float = 10.0,
    worker_timeout: float = 30.0,
) -> Iterator[tuple[Client, str]]:
    """A Dask client and its label for messages: connected to the scheduler at `address`, or to
    a local cluster of `workers` processes (one thread each, on 127.0.0.1, no dashboard) started
    here and closed on exit. Raises ClusterError if the scheduler does not answer within
    `connect_timeout` seconds or has no worker within `worker_timeout`."""
    if (address is None) == (workers is None):
        raise ValueError("pass exactly one of address and workers")
    if workers is not None and workers < 1:
        raise ClusterError(f"--workers must be at least 1, not {workers}")
    require("dask")
    from distributed import Client, LocalCluster

    if address is not None:
        label = f"--dask {address}"
        try:
            client = Client(address, timeout=connect_timeout, set_as_default=False)
        # Refused, timed out, not an address, or not a Dask scheduler at all (some other server's
        # bytes read as a frame length fail anywhere from an assertion to a huge allocation).
        except Exception as err:
            raise ClusterError(
                f"{label}: no Dask scheduler answered ({type(err).__name__}: {_first_line(err)}); start one with "
                "'dask scheduler' and workers with 'dask worker ADDRESS', or check the address (tcp://HOST:8786)"
            ) from None
        cluster = None
    else:
        label = f"--workers {workers}"
        with warnings.catch_warnings():
            # Without a dashboard the scheduler still serves its health routes, on 127.0.0.1 at
            # 8787 or, when that is taken (another cluster), at a free port: say nothing of it.
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            try:
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, env=_worker_env(workers or 1),
                )
            except Exception as err:  # e.g. no free port, or a script without the __main__ guard
                raise ClusterError(f"{label}: could not start local Dask workers ({type(err).__name__}: {_first_line(err)})") from None
        client = Client(cluster, set_as_default=False)
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except TimeoutError:
            raise ClusterError(
                f"{label}: the scheduler has no workers after {worker_timeout:.0f} s; start some with 'dask worker ADDRESS'"
            ) from None
        yield client, label
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]


def _worker_env(workers: int) -> dict[str, str]:
    # Local workers share this machine's cores: each ONNX session gets its share, not all of
    # them (which would run workers x cores threads). A user's own setting is kept.
    if os.environ.get(THREADS_ENV):
        return {}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return {THREADS_ENV: str(max(1, cores // workers))}


@contextmanager
def dask_encoder(
    local: Encoder,
    *,
    address: str | None = None,
    workers: int | None = None,
    factory: Callable[[], Encoder] | None = None,
) -> Iterator[DaskEncoder]:
    """`local`'s model embedding on a Dask cluster (see `open_cluster`) for the `with` block."""
    with open_cluster(address, workers) as (client, label):
        yield DaskEncoder(local, client, factory=factory, label=label)

"""Embedding on a Dask cluster (`index.embedding.distributed`, `accord index --dask/--workers`).

Real clusters on 127.0.0.1: `LocalCluster`s of worker processes, and one `dask scheduler` /
`dask worker` pair started as commands. The workers are other processes, so the fake encoder
reaches them either as a class they import (`tests.conftest.HashingEncoder`, on the path the
spawned workers inherit) or by name, with `tests.conftest` preloaded on every worker so that its
`register_encoder` runs there too (what a user does with `dask worker --preload MODULE`).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from index.embedding.cache import BATCH_SIZE
from index.errors import ClusterError
from index.pipeline.builder import build
from index.storage.directory import IndexDirectory
from index.storage.vectors import FaissVectorStore
from search.engine import Engine
from tests.conftest import FAKE_MODEL, HashingEncoder, interruptible, requires

pytestmark = requires("dask")

REPO = Path(__file__).resolve().parent.parent
PRELOAD = {"distributed.worker.preload": ["tests.conftest"]}
QUERIES = ["naval exercise in the Indian Ocean", "arms contracts with Libya", "wheat harvest", "port calls"]
WORDS = (
    "navy army treaty missile frigate exercise delegation contract helicopter radar submarine "
    "drone tank artillery training agreement ministry defence cooperation summit pilot"
).split()


class SlowHashingEncoder(HashingEncoder):
    """The fake encoder at a model's pace (0.4 s a batch), so a worker can be killed mid-run."""

    def encode(self, texts):
        time.sleep(0.4)
        return super().encode(texts)


def _broken_factory():
    raise RuntimeError("this worker has no such model")


def _write_corpus(folder: Path, articles: int, start: int = 0) -> Path:
    """`articles` short distinct articles in one .jsonl file (one passage each)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n in range(start, start + articles):
        words = " ".join(WORDS[(n * k) % len(WORDS)] for k in range(1, 12))
        lines.append(json.dumps({"id": f"a{n}", "title": f"Report {n}", "body": f"Talks number {n} covered {words}."}))
    path = folder / f"articles-{start}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return folder


def _vectors(index_dir: Path) -> np.ndarray:
    with IndexDirectory(index_dir).lease() as lease:
        store = FaissVectorStore(lease.vectors_path)
        return store.vectors(sorted(store.ids()))


def _cache_rows(path: Path) -> dict[str, bytes]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, vector FROM vectors"))


def _results(index_dir: Path) -> list:
    with Engine.open(index_dir) as engine:
        return [
            [(h.id, h.score) for h in engine.search(q, k=5, mode=mode)]
            for q in QUERIES
            for mode in ("semantic", "hybrid")
        ]


def _loaded_count() -> int:
    from index.embedding.distributed import loaded_encoders

    return len(loaded_encoders())


def _worker_calls(client) -> int:
    from index.embedding.distributed import loaded_encoders

    per_worker = client.run(lambda: sum(getattr(e, "calls", 0) for e in loaded_encoders().values()))
    return sum(per_worker.values())


@pytest.fixture(scope="module")
def client():
    """A local cluster of two worker processes, shared by the tests that do not break it."""
    import dask

    from index.embedding.distributed import open_cluster

    with dask.config.set(PRELOAD), open_cluster(workers=2) as (dask_client, _label):
        yield dask_client


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return _write_corpus(tmp_path_factory.mktemp("dask-corpus"), 300)


@pytest.fixture(scope="module")
def local_index(tmp_path_factory, corpus: Path) -> Path:
    index_dir = tmp_path_factory.mktemp("local") / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    return index_dir


def test_a_dask_build_equals_the_local_build(tmp_path, client, corpus, local_index):
    from index.embedding.distributed import DaskEncoder

    encoder = DaskEncoder(HashingEncoder(), client, factory=HashingEncoder)
    seen: list[tuple[int, int]] = []
    report = build([corpus], tmp_path / "index", encoder=encoder, progress=lambda stage, done, total: seen.append((done, total)) if stage == "embed" else None)

    assert report.passages == 300 and report.embedded == 300
    # Two workers: calls of 256 texts, each cut into chunks of BATCH_SIZE, both workers used.
    assert encoder.embed_batch_size == 2 * 2 * BATCH_SIZE
    assert encoder.texts_sent == 300 and encoder.chunks_sent == 5
    assert all(n > 0 for n in client.run(_loaded_count).values())
    assert seen[-1] == (300, 300) and [d for d, _t in seen] == sorted(d for d, _t in seen)
    assert IndexDirectory(tmp_path / "index").read_manifest().model == FAKE_MODEL
    assert np.array_equal(_vectors(tmp_path / "index"), _vectors(local_index))
    assert _cache_rows(tmp_path / "index" / "cache" / "embeddings.sqlite") == _cache_rows(local_index / "cache" / "embeddings.sqlite")
    assert _results(tmp_path / "index") == _results(local_index)


def test_the_model_is_found_by_name_on_workers_that_registered_it(tmp_path, client, corpus, local_index):
    from index.embedding.distributed import DaskEncoder

    encoder = DaskEncoder(HashingEncoder(), client)  # workers call encoder_for(FAKE_MODEL)
    build([corpus], tmp_path / "index", encoder=encoder)
    assert encoder.texts_sent == 300
    assert np.array_equal(_vectors(tmp_path / "index"), _vectors(local_index))


def test_cache_hits_never_reach_the_cluster(tmp_path, client):
    from index.embedding.distributed import DaskEncoder

    corpus = _write_corpus(tmp_path / "corpus", 100)
    cache = tmp_path / "shared-cache.sqlite"
    first = DaskEncoder(HashingEncoder(), client, factory=HashingEncoder)
    build([corpus], tmp_path / "one", encoder=first, embedding_cache=cache)
    calls = _worker_calls(client)

    again = DaskEncoder(HashingEncoder(), client, factory=HashingEncoder)
    report = build([corpus], tmp_path / "two", encoder=again, embedding_cache=cache)
    assert report.embedded == 0 and report.reused_embeddings == 100
    assert again.texts_sent == 0 and _worker_calls(client) == calls

    _write_corpus(corpus, 3, start=100)  # three new articles: only their passages travel
    report = build([corpus], tmp_path / "two", encoder=again, embedding_cache=cache)
    assert report.embedded == 3 and again.texts_sent == 3 and again.chunks_sent == 1
    assert _worker_calls(client) == calls + 3


def test_a_worker_that_cannot_embed_is_one_error_and_keeps_the_index(tmp_path, client, corpus, local_index):
    from index.embedding.distributed import DaskEncoder

    index_dir = tmp_path / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    before = _vectors(index_dir)
    more = _write_corpus(tmp_path / "more", 5, start=1000)  # new texts: not in the cache
    encoder = DaskEncoder(HashingEncoder(), client, factory=_broken_factory, retries=1)
    with pytest.raises(ClusterError, match="a worker could not embed a batch .RuntimeError: this worker has no such model"):
        build([more], index_dir, encoder=encoder)
    assert np.array_equal(_vectors(index_dir), before)


def test_a_killed_worker_mid_run_still_gives_the_local_index(tmp_path, corpus, local_index):
    import dask

    from index.embedding.distributed import DaskEncoder, open_cluster

    with dask.config.set(PRELOAD), open_cluster(workers=2) as (client, _label):
        pids = client.run(os.getpid)
        victim = next(iter(pids.values()))
        encoder = DaskEncoder(HashingEncoder(), client, factory=SlowHashingEncoder)
        state: dict = {}
        timer = threading.Timer(0.6, os.kill, (victim, signal.SIGKILL))

        def kill_once(stage: str, done: int, total: int) -> None:
            # Once the first chunks run on both workers, kill one of them outright; the run
            # takes at least 3 x 0.4 s (5 chunks, 2 workers), so the kill lands mid-run.
            if stage == "embed" and "started" not in state:
                state["started"] = (done, total)
                timer.start()
            elif stage == "embed" and done == total:
                state["finished_after_kill"] = timer.finished.is_set()

        started = time.monotonic()
        report = build([corpus], tmp_path / "index", encoder=encoder, progress=kill_once)
        timer.join()
        assert time.monotonic() - started < 120
        assert state == {"started": (0, 300), "finished_after_kill": True}
        assert victim not in client.run(os.getpid).values()  # the nanny started a new process
    assert report.embedded == 300
    assert np.array_equal(_vectors(tmp_path / "index"), _vectors(local_index))
    assert _results(tmp_path / "index") == _results(local_index)


def test_an_unreachable_scheduler_is_a_cluster_error_naming_dask():
    from index.embedding.distributed import open_cluster

    with pytest.raises(ClusterError, match=r"^--dask tcp://127.0.0.1:9: no Dask scheduler answered .*'dask scheduler'"):
        with open_cluster("tcp://127.0.0.1:9", connect_timeout=1):
            pass
    with pytest.raises(ClusterError, match="--workers must be at least 1"):
        with open_cluster(workers=0):
            pass


# The command line, with `dask scheduler` and `dask worker` run as a user would.

runner = CliRunner()


def _run(*args: str):
    result = runner.invoke(app, list(args))
    print(result.output)  # shown when an assertion fails
    return result


def _dask_command(*args: str, tmp_path: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen([str(Path(sys.executable).parent / "dask"), *args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def scheduler(tmp_path):
    """A `dask scheduler` on 127.0.0.1 (random port, no dashboard), with its address."""
    info = tmp_path / "scheduler.json"
    process = _dask_command("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(info), tmp_path=tmp_path, name="scheduler")
    try:
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole, but give the writer a moment to close it
        yield json.loads(info.read_text())["address"], tmp_path
    finally:
        _stop(process)


def test_cli_index_with_dask_uses_the_remote_workers(scheduler, corpus, local_index, tmp_path):
    address, folder = scheduler
    worker = _dask_command(
        "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard",
        "--preload", "tests.conftest", tmp_path=folder, name="worker",
    )
    try:
        result = _run("index", str(corpus), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL, "--dask", address, "--json")
        assert result.exit_code == 0
        assert json.loads(result.output.strip().splitlines()[-1])["embedded"] == 300
        assert np.array_equal(_vectors(tmp_path / "index"), _vectors(local_index))
    finally:
        _stop(worker)


def test_a_scheduler_without_workers_is_a_cluster_error(scheduler):
    from index.embedding.distributed import open_cluster

    address, _folder = scheduler
    with pytest.raises(ClusterError, match=f"^--dask {address}: the scheduler has no workers after 2 s; start some with 'dask worker"):
        with open_cluster(address, worker_timeout=2):
            pass


def test_a_run_whose_last_worker_is_lost_stops_with_a_cluster_error(scheduler):
    from distributed import Client

    from index.embedding.distributed import DaskEncoder

    address, folder = scheduler
    # No nanny: killing the process is losing the worker for good (nothing restarts it).
    worker = _dask_command("worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard", tmp_path=folder, name="worker")
    try:
        with Client(address, timeout=30, set_as_default=False) as dask_client:
            dask_client.wait_for_workers(1, timeout=60)
            encoder = DaskEncoder(HashingEncoder(), dask_client, factory=SlowHashingEncoder, label=f"--dask {address}", stall_seconds=1)
            threading.Timer(1.0, worker.kill).start()  # 40 chunks of 0.4 s: well before the end
            started = time.monotonic()
            with pytest.raises(ClusterError, match=f"^--dask {address}: no Dask worker left for 1 s; start workers and run again"):
                encoder.encode([f"text {n}" for n in range(40 * BATCH_SIZE)])
            assert time.monotonic() - started < 12
    finally:
        _stop(worker)


def test_cli_index_with_local_workers(tmp_path, corpus, local_index):
    import dask

    with dask.config.set(PRELOAD):
        result = _run("index", str(corpus), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL, "--workers", "2")
    assert result.exit_code == 0 and "300 passages embedded" in result.output
    assert np.array_equal(_vectors(tmp_path / "index"), _vectors(local_index))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "Invalid value for '--workers'"),
        (["--workers", "-2"], "Invalid value for '--workers'"),
        (["--workers", "2", "--dask", "tcp://127.0.0.1:8786"], "give --dask ADDRESS or --workers N, not both"),
    ],
)
def test_cli_cluster_options_are_argument_errors(tmp_path, corpus_dir, args, message):
    result = _run("index", str(corpus_dir), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL, *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("address", ["nonsense", "http://127.0.0.1:9"])
def test_cli_bad_dask_address_is_one_line_naming_dask(tmp_path, corpus_dir, address):
    result = _run("index", str(corpus_dir), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL, "--dask", address)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith(f"accord: error: --dask {address}: no Dask scheduler answered")
    assert not (tmp_path / "index").exists()


def test_index_help_names_the_cluster_options():
    result = _run("index", "--help")
    assert "--dask" in result.output and "--workers" in result.output


def test_dask_is_not_imported_by_a_local_build_a_search_or_accord_index(tmp_path, corpus_dir):
    code = (
        "import sys\n"
        "from tests.conftest import HashingEncoder\n"
        "from index.pipeline.builder import build\n"
        "from search.engine import Engine\n"
        f"build([{str(corpus_dir)!r}], {str(tmp_path / 'ix')!r}, encoder=HashingEncoder())\n"
        f"with Engine.open({str(tmp_path / 'ix')!r}) as e: e.search('navy', k=3)\n"
        "import cli\n"
        "from typer.testing import CliRunner\n"
        f"r = CliRunner().invoke(cli.app, ['index', {str(corpus_dir)!r}, '--index', {str(tmp_path / 'ix2')!r}, '--model', {FAKE_MODEL!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print([m for m in ('dask', 'distributed') if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.real_model
def test_real_model_vectors_on_a_worker_equal_local_ones():
    from index.embedding.distributed import DaskEncoder, open_cluster
    from index.embedding.encoder import MINILM_NAME, encoder_for

    texts = [f"Russia and Libya discussed arms contract number {n} and joint naval exercises." for n in range(40)]
    texts += ["Wheat harvest breaks records in Kansas.", "A frigate made a port call in Tartus " * 20]
    local = encoder_for(MINILM_NAME)
    local.prepare()  # the export, once, before the worker looks for it
    expected = local.encode(texts)
    with open_cluster(workers=1) as (dask_client, _label):
        vectors = DaskEncoder(local, dask_client).encode(texts)
    assert vectors.shape == (42, 384)
    assert np.array_equal(vectors, expected)


def test_bench_dask_runs_and_writes_json(tmp_path):
    from benchmarks.build_speed import bench_dask

    _write_corpus(tmp_path / "data", 80)
    (tmp_path / "data" / "articles-0.jsonl").rename(tmp_path / "data" / "docs.jsonl")
    out = tmp_path / "bench.json"
    bench_dask.main([str(tmp_path / "data"), "--passages", "70", "--workers", "1", "--repeats", "1",
                     "--model", f"tests.conftest:{FAKE_MODEL}", "--no-wait", "--out", str(out)])
    payload = json.loads(out.read_text())
    assert payload["command"].startswith("python -m benchmarks.build_speed.bench_dask ")
    assert [(r["config"], r["passages"], r["identical"]) for r in payload["results"]] == [("local", 70, True), ("dask-1", 70, True)]
    assert payload["results"][0]["x_local"] == 1.0 and payload["results"][1]["passages_per_s"] > 0


def test_cli_watch_with_dask_embeds_each_batch_on_the_workers(scheduler, tmp_path):
    """`accord watch --dask`: the watcher keeps one cluster client; a file added while it runs is
    embedded by the remote worker, and the index equals a local build of the same files."""
    import signal

    from distributed import Client

    address, folder = scheduler
    articles = _write_corpus(tmp_path / "watched", 10)
    build([articles], tmp_path / "index", encoder=HashingEncoder())  # the index names the fake model
    worker = _dask_command(
        "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard",
        "--preload", "tests.conftest", tmp_path=folder, name="worker",
    )
    command = [sys.executable, "-c", "import tests.conftest, cli; cli.main()", "watch", str(articles),
               "--index", str(tmp_path / "index"), "--debounce-ms", "100", "--dask", address]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    watcher = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               preexec_fn=interruptible)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("5 added" in line for line in lines):
            assert watcher.poll() is None and time.monotonic() < deadline, "".join(lines)
            if any("10 articles" in line for line in lines):  # the first pass is done: (re)write a file
                _write_corpus(articles, 5, start=100)  # until an event is seen (the observer starts after)
            time.sleep(4)
        with Client(address, timeout=30, set_as_default=False) as dask_client:
            assert _worker_calls(dask_client) >= 1  # the new passages were embedded over there
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=60)
        reader.join(timeout=10)
        _stop(worker)
    build([articles], tmp_path / "local", encoder=HashingEncoder())
    assert np.array_equal(_vectors(tmp_path / "index"), _vectors(tmp_path / "local"))


def test_cli_watch_with_an_unreachable_scheduler_is_one_line(tmp_path, corpus_dir):
    result = _run("watch", str(corpus_dir), "--index", str(tmp_path / "index"), "--dask", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("accord: error: --dask tcp://127.0.0.1:9: no Dask scheduler answered")

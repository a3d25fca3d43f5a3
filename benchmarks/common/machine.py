"""Helpers shared by the benchmark scripts: machine facts, load waiting, timing, tables, output.

Every script prints the exact command line and the machine (cores, RAM, load average) next to
its numbers, and writes the same facts with its results as JSON, so a number is never separated
from how and where it was measured.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

BENCH_EXTRA = "pip install -e '.[bench]'"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def command_line(script: str, argv: Sequence[str]) -> str:
    """The command that reproduces a run, from the repository root."""
    return shlex.join(["python", "-m", ".".join(Path(script).resolve().relative_to(REPO).with_suffix("").parts), *argv])


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


def machine_info() -> dict[str, Any]:
    """Cores, RAM, CPU model, Python, load average, date and the commit being measured."""
    mem_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in load_average()],
        # Thread settings change CPU timings a lot (OpenMP in torch and faiss); record any that are set.
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "MKL_", "KMP_", "GOMP_"))},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line describing the machine for the printed report."""
    load = " ".join(f"{x:.2f}" for x in info["load_avg"])
    waited = f" (after waiting {info['waited_for_load_s']:.0f}s for it)" if info.get("waited_for_load_s") else ""
    return (f"{info['cores_usable']} of {info['cores']} cores ({info['cpu']}), {info['ram_gib']} GiB RAM, "
            f"load average {load} at the start{waited}, Python {info['python']}, {info['date']}, "
            f"commit {info['commit'] or '?'}" + (f", env {info['env']}" if info.get("env") else ""))


class LoadSampler:
    """Samples the 1-minute load average every `every_s` seconds in a thread, from start() to stop().

    So a report can say how busy the machine was while it measured, not only before and after.
    """

    def __init__(self, every_s: float = 5.0) -> None:
        self._every = every_s
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self._samples.append(load_average()[0])
            if self._stop.wait(self._every):
                return

    def start(self) -> LoadSampler:
        """Begin sampling in the background."""
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """End sampling; the number of samples and the mean and max 1-minute load seen."""
        self._stop.set()
        self._thread.join()
        samples = self._samples or [load_average()[0]]
        return {"samples": len(samples), "mean": round(statistics.fmean(samples), 2), "max": round(max(samples), 2)}


def wait_for_quiet(max_load: float, max_wait_s: float, poll_s: float = 60.0) -> float:
    """Wait until the 1-minute load average is at most `max_load`, or `max_wait_s` has passed.

    Returns the seconds waited; a warning is printed if the load is still high.
    """
    waited = 0.0
    load = load_average()[0]
    while load > max_load and waited < max_wait_s:
        print(f"load average {load:.2f} > {max_load}; waiting {poll_s:.0f}s ({waited:.0f}s so far)", flush=True)
        time.sleep(poll_s)
        waited += poll_s
        load = load_average()[0]
    if load > max_load:
        print(f"WARNING: load average still {load:.2f} after {waited:.0f}s; numbers may be slowed by other work")
    return waited


def add_run_options(parser: Any) -> None:
    """The options every timing script ends with: waiting on a quiet machine, and --out."""
    parser.add_argument("--max-load", type=float, default=0.8, help="wait for a 1-minute load average under this")
    parser.add_argument("--max-wait", type=float, default=1200, help="but wait at most this many seconds")
    parser.add_argument("--no-wait", action="store_true", help="do not wait at all (smoke runs)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")


def add_model_option(parser: Any) -> None:
    """--model: the encoder to build and query with."""
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="encoder name, or MODULE:NAME to import MODULE first (it registers NAME)")


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """`with stopwatch() as t: ...` then `t["s"]` is the elapsed wall time in seconds."""
    result = {"s": 0.0}
    started = time.perf_counter()
    try:
        yield result
    finally:
        result["s"] = time.perf_counter() - started


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mib(path: Path) -> float:
    """Bytes of all files under `path` (or of the file itself), in MiB."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile of `values` by linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean and max of latencies, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"), "max_ms": max(ms, default=float("nan"))}


def timed(systems: dict[str, Callable[[str], Any]], queries: list[str], warmup: int) -> dict[str, dict[str, Any]]:
    """Each system's wall and CPU latencies over `queries`, in turns query by query (the order
    rotating), after each runs the first `warmup` of them: timing systems in one process, in
    turns, is what tells a difference of a few percent apart on a shared machine."""
    for run in systems.values():
        for text in queries[:warmup]:
            run(text)
    names = list(systems)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for number, text in enumerate(queries):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            started, used = time.perf_counter(), time.process_time()
            systems[name](text)
            cpu[name].append(time.process_time() - used)
            wall[name].append(time.perf_counter() - started)
    out = {}
    for name in names:
        w, c = latency_summary(wall[name]), latency_summary(cpu[name])
        out[name] = {"wall": w, "cpu": c}
    return out


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats get a precision that suits their size."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}" if abs(value) < 1 else f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def resolve_model(spec: str) -> str:
    """The encoder name in `spec`, which is `NAME` or `MODULE:NAME`.

    `MODULE` is imported first so that it can register `NAME` with
    `index.embedding.encoder.register_encoder` (the tests use `tests.conftest:test/hashing-bag-of-words`).
    """
    module, sep, name = spec.partition(":")
    if not sep:
        return spec
    importlib.import_module(module)
    return name


def model_module(spec: str) -> str | None:
    """The module part of a `MODULE:NAME` model spec, or None."""
    module, sep, _name = spec.partition(":")
    return module if sep else None


def require(modules: Sequence[str], script: str) -> None:
    """Exit with one line naming the bench extra when any of `modules` cannot be imported."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise SystemExit(f"{Path(script).name}: missing {', '.join(missing)}; "
                         f"install the benchmark extra: {BENCH_EXTRA}")


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Write `payload` as indented JSON to `path` (if given) and say where."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"wrote {path}")


def header(title: str, command: str, info: dict[str, Any]) -> str:
    """The lines every report starts with."""
    return f"## {title}\n\ncommand: `{command}`\n\nmachine: {machine_line(info)}\n"


def finish(out: Path | None, payload: dict[str, Any]) -> None:
    """Print the load at the end of a run and write `payload` (plus `load_end`) as JSON to `out`."""
    end = os.getloadavg()
    print(f"\nload at end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**payload, "load_end": end}, indent=2) + "\n")

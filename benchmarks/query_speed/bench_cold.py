"""Cold whole-process latency of the `accord` command: --help, keyword and hybrid searches.

    python -m benchmarks.query_speed.bench_cold --runs 5 --out docs/bench-cold.json

Each case is a fresh process, run --runs times; the cases take turns (round robin) so that a
change in machine load hits them all alike, and the report is the median. The hybrid search runs
on an index of the default model (int8 all-MiniLM-L6-v2, ONNX Runtime) and on one of the exact
model, through ONNX Runtime and through sentence-transformers (`ACCORD_ENCODER=torch`, which only
the exact model has). The indexes are of the built-in seeds corpus, built first in a temporary
folder (which also makes sure the ONNX exports are in the cache) unless --index and --exact-index
are given.

The targets are checked as ratios within the run: `--help` against three times `python -c pass`
plus typer's own import time; keyword search under 0.4 s; hybrid under 0.8 s. Each case's modules
are listed with `python -X importtime`: which of torch, transformers, sentence_transformers,
onnxruntime, faiss and numpy it loads, and its costliest imports.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.machine import finish

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "faiss", "numpy", "tokenizers", "whoosh")
QUERY = "military-technical cooperation Libya"


def accord_command() -> list[str]:
    script = Path(sys.executable).with_name("accord")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def cases(index_dir: Path, exact_dir: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    accord = accord_command()
    search = [*accord, "search", QUERY, "--index", str(index_dir)]
    exact = [*accord, "search", QUERY, "--index", str(exact_dir)]
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], {}),
        "python -c 'import typer'": ([sys.executable, "-c", "import typer"], {}),
        "accord --help": ([*accord, "--help"], {}),
        "search --mode keyword": ([*search, "--mode", "keyword"], {}),
        "search (hybrid, ONNX)": (search, {}),
        "search (hybrid, exact model, ONNX)": (exact, {}),
        "search (hybrid, exact model, torch)": (exact, {"ACCORD_ENCODER": "torch"}),
    }


def run_once(command: list[str], extra_env: dict[str, str]) -> float:
    env = {**os.environ, **extra_env}
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def imports_of(command: list[str], extra_env: dict[str, str]) -> dict:
    """Modules the command loads (python -X importtime), heavy ones flagged, costliest listed."""
    if command[0] != sys.executable:
        command = [sys.executable, "-c", "import sys; from cli import main; sys.argv[0] = 'accord'; main()", *command[1:]]
    env = {**os.environ, **extra_env, "PYTHONPROFILEIMPORTTIME": "1"}
    out = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    rows = []
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[2]), len(match[3]), match[4]))
    modules = {name for _c, _d, name in rows}
    top = sorted((r for r in rows if r[1] == 1), reverse=True)[:6]  # top-level imports by cumulative time
    return {
        "heavy": [m for m in HEAVY if m in modules],
        "top_imports_ms": [(name, round(us / 1000, 1)) for us, _d, name in top],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--index", type=Path, help="an index of the seeds corpus, default model (default: build one)")
    parser.add_argument("--exact-index", type=Path, help="one built with --model minilm (default: build one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as work:
        index_dir, exact_dir = args.index, args.exact_index
        if index_dir is None:
            index_dir = Path(work) / "seeds-index"
            subprocess.run([*accord_command(), "index", str(REPO / "seeds"), "--index", str(index_dir)], check=True, stdout=subprocess.DEVNULL)
        if exact_dir is None:
            exact_dir = Path(work) / "seeds-exact"
            subprocess.run([*accord_command(), "index", str(REPO / "seeds"), "--index", str(exact_dir), "--model", "minilm"],
                           check=True, stdout=subprocess.DEVNULL)
        todo = cases(index_dir, exact_dir)
        for command, env in todo.values():  # warm the file cache once; not timed
            run_once(command, env)
        times: dict[str, list[float]] = {name: [] for name in todo}
        loads: list[float] = []
        for _ in range(args.runs):
            loads.append(os.getloadavg()[0])
            for name, (command, env) in todo.items():
                times[name].append(run_once(command, env))
        imports = {name: imports_of(command, env) for name, (command, env) in todo.items() if name.startswith(("accord", "search"))}

    median = {name: statistics.median(t) for name, t in times.items()}
    typer_import = median["python -c 'import typer'"] - median["python -c pass"]
    help_budget = 3 * median["python -c pass"] + typer_import
    targets = {
        "accord --help": help_budget,
        "search --mode keyword": 0.4,
        "search (hybrid, ONNX)": 0.8,
    }
    print(f"load during runs (1 min): {min(loads):.2f}-{max(loads):.2f}\n")
    print("| case | median s | min s | max s | target s | met | heavy modules loaded |")
    print("|---|---|---|---|---|---|---|")
    for name, t in times.items():
        target = targets.get(name)
        met = "" if target is None else ("yes" if median[name] <= target else "no")
        heavy = ", ".join(imports[name]["heavy"]) if name in imports else ""
        print(f"| {name} | {median[name]:.3f} | {min(t):.3f} | {max(t):.3f} | {'' if target is None else f'{target:.3f}'} | {met} | {heavy} |")
    torch_vs_onnx = median["search (hybrid, exact model, torch)"] / median["search (hybrid, exact model, ONNX)"]
    print(f"\n--help budget = 3 x python -c pass + typer import = 3 x {median['python -c pass']:.3f} + {typer_import:.3f} = {help_budget:.3f} s")
    print(f"hybrid, exact model: torch path / ONNX path = {torch_vs_onnx:.1f}x")
    print("\ncostliest top-level imports (ms, cumulative, from one -X importtime run):")
    for name, info in imports.items():
        print(f"  {name}: " + ", ".join(f"{m} {ms}" for m, ms in info["top_imports_ms"]))
    finish(args.out, {
        "command": sys.argv,
        "machine": {"processor": platform.processor(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "load_start": load, "load_during": loads, "times": times, "median": median,
        "targets": targets, "imports": imports,
    })


if __name__ == "__main__":
    main()

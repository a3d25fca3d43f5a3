"""Chart files of a timeline (`accord timeline --plot FILE.png|svg`), drawn by matplotlib.

matplotlib is imported inside `write_timeline_chart` only, with its file-only Agg backend, so
nothing else pays for it and no display is needed. Safe to call from several threads: each
call draws on its own Figure object, not pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path

from index.errors import InvalidArgument
from index.extras import require
from search.views.timeline import Timeline

CHART_SUFFIXES = (".png", ".svg")


def check_chart_path(path: Path) -> None:
    """Raise InvalidArgument unless `path` ends in .png or .svg and its folder exists, and
    MissingExtra without the 'plot' extra (before a command does any work)."""
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise InvalidArgument(f"--plot {path}: the file must end in .png or .svg")
    if not path.parent.expanduser().is_dir():
        raise InvalidArgument(f"--plot {path}: folder {path.parent} does not exist; create it first")
    require("plot")


def write_timeline_chart(timeline: Timeline, path: Path) -> Path:
    """Write a bar chart of `timeline` to `path` (.png or .svg) and return the path."""
    check_chart_path(path)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [p.label for p in timeline.periods]
    counts = [p.count for p in timeline.periods]
    figure = Figure(figsize=(max(6.0, min(0.28 * len(labels), 18.0)), 4.0), layout="constrained")
    axes = figure.subplots()
    axes.bar(range(len(labels)), counts, color="#3b6ea5")
    step = max(1, len(labels) // 24)  # at most ~24 tick labels, so they stay readable
    axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=60 if timeline.by == "month" else 0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts are whole numbers
    axes.set_ylabel("matching articles")
    undated = f"; {len(timeline.undated)} undated not shown" if timeline.undated else ""
    axes.set_title(f"{timeline.query!r}: {timeline.dated} articles by {timeline.by}{undated}", fontsize=10)
    figure.savefig(path.expanduser(), format=path.suffix.lower().lstrip("."))
    return path

"""A bar chart in plain text for terminals: one row per label, fitting a given width."""

from __future__ import annotations

from collections.abc import Sequence

BAR = "█"


def bar_chart(rows: Sequence[tuple[str, int]], width: int = 80, fold_empty: int = 3) -> list[str]:
    """Lines of `label  count  bar`, each at most `width` characters, bars scaled to the largest
    count (a non-zero count always gets at least one block). Runs of `fold_empty` or more zero
    rows are folded into one line saying how many, so sparse monthly timelines stay short."""
    if not rows:
        return []
    label_width = max(len(label) for label, _ in rows)
    count_width = max(len(str(count)) for _, count in rows)
    room = max(1, width - label_width - count_width - 2)
    top = max(count for _, count in rows) or 1
    lines: list[str] = []
    index = 0
    while index < len(rows):
        end = index
        while end < len(rows) and rows[end][1] == 0:
            end += 1
        if end - index >= fold_empty:
            lines.append(f"{'':>{label_width}}  … {end - index} empty: {rows[index][0]} to {rows[end - 1][0]}"[:width])
            index = end
            continue
        label, count = rows[index]
        blocks = max(1, round(count / top * room)) if count else 0
        lines.append(f"{label:>{label_width}} {count:>{count_width}} {BAR * blocks}".rstrip())
        index += 1
    return lines

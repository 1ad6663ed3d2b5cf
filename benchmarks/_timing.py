"""Shared timing helpers for the benchmarks."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int = 5, clock: Callable[[], float] = time.perf_counter) -> float:
    """Smallest time of ``repeats`` calls, in seconds (the least disturbed run): wall time, or e.g.
    ``time.process_time`` for this process's CPU time, which a busy machine disturbs less."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each contender, running them in turn in every repeat
    (so that all see the same machine)."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeats):
        for name, fn in contenders.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, columns padded to line up in a terminal too."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])

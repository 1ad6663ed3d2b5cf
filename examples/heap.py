"""glibc keeping its heap: what saves a training loop from page-faulting its memory back in at every iteration.

A training iteration allocates and frees much the same arrays every time.
glibc's malloc returns the top of its heap to the kernel once enough of it
is free (M_TRIM_THRESHOLD) and serves large blocks with mmap, returned at
each free (M_MMAP_THRESHOLD; both start at 128 KiB and rise as it goes), so
the next iteration touches fresh pages and takes a page fault for each
(~1.4 µs per 4 KiB page on the development machine). The date translator's
training iteration took 860-2,800 of them, 6-14% of its time
(``python -m benchmarks.seq2seq``).

``keep_heap()`` (the examples package calls it when Python runs an example)
tells glibc, through mallopt(3), to keep up to 1 GiB of free heap and to
serve blocks of up to 32 MiB from the heap: after the first iterations
nothing faults. The price: the process keeps its peak heap until it exits. ``MINIGRAD_KEEP_HEAP=0``
leaves malloc alone; other C libraries (macOS, musl) are left alone too.
A program of your own gets the same by copying ``keep_heap()``, or by
starting Python with MALLOC_TRIM_THRESHOLD_=1073741824
MALLOC_MMAP_THRESHOLD_=33554432 in its environment.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # (malloc.h)
SETTINGS = {M_TRIM_THRESHOLD: 2**30, M_MMAP_THRESHOLD: 32 * 2**20}


def keep_heap() -> bool:
    """Apply MINIGRAD_KEEP_HEAP (see the module docstring); True if glibc took the settings."""
    setting = os.environ.get("MINIGRAD_KEEP_HEAP", "1")
    if setting not in ("0", "1"):
        raise SystemExit(f"MINIGRAD_KEEP_HEAP must be 1 (keep the heap) or 0 (leave malloc alone), got {setting!r}")
    if setting == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl has a mallopt that does nothing)
    except (OSError, AttributeError):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all([mallopt(option, value) == 1 for option, value in SETTINGS.items()])

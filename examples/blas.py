"""One BLAS thread unless told otherwise: what keeps small models fast on a busy machine.

NumPy's BLAS (OpenBLAS in the wheels) starts a worker thread per core, and
they spin while they wait for work. When other programs want the same cores
-- a browser, a second job -- every small matrix product then waits for its
turn, and a training step gets 10-40x slower (``python -m
benchmarks.contention`` measures it). The models here are small: one thread
loses little on an idle machine and nothing collapses on a busy one.

Importing this (the examples and benchmarks packages do) sets the thread
count to ``MINIGRAD_BLAS_THREADS`` (1 if unset; ``default`` leaves BLAS
alone) unless you set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS yourself: through those variables when NumPy is not loaded
yet, and through threadpoolctl, if installed, when it is.
"""

from __future__ import annotations

import os
import sys

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads() -> None:
    """Apply MINIGRAD_BLAS_THREADS (see the module docstring)."""
    threads = os.environ.get("MINIGRAD_BLAS_THREADS", "1")
    if threads == "default" or any(name in os.environ for name in VARIABLES):
        return
    if not threads.isdigit() or int(threads) < 1:
        raise SystemExit(f"MINIGRAD_BLAS_THREADS must be a positive integer or 'default', got {threads!r}")
    for name in VARIABLES:
        os.environ[name] = threads  # read when NumPy loads its BLAS
    if "numpy" in sys.modules:  # already loaded: change it in place, if we can
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return  # (the variables then count for processes this one starts)
        threadpool_limits(int(threads))

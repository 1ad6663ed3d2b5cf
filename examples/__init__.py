"""The example programs (``python -m examples.NAME``). They run NumPy's BLAS
on one thread: see examples/blas.py (MINIGRAD_BLAS_THREADS changes it)."""

from examples.blas import limit_blas_threads

limit_blas_threads()

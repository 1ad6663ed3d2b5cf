"""Speed and memory measurements: ``python -m benchmarks.NAME``. Each compares
minigrad with a reference computed in the same run and prints ratios. Both
sides run NumPy's BLAS on one thread, as the examples do (examples/blas.py;
MINIGRAD_BLAS_THREADS=default for BLAS's own choice)."""

from examples.blas import limit_blas_threads

limit_blas_threads()

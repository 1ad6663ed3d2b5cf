"""Speed and memory measurements: ``python -m benchmarks.NAME``. Each compares
minigrad with a reference computed in the same run and prints ratios. Both
sides run as the examples do: NumPy's BLAS on one thread (examples/blas.py;
MINIGRAD_BLAS_THREADS=default for BLAS's own choice) and glibc keeping its
heap (examples/heap.py; MINIGRAD_KEEP_HEAP=0 for glibc's defaults)."""

from examples.blas import limit_blas_threads
from examples.heap import keep_heap

limit_blas_threads()
HEAP_KEPT = keep_heap()

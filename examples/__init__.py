"""The example programs (``python -m examples.NAME``). They run NumPy's BLAS
on one thread (examples/blas.py; MINIGRAD_BLAS_THREADS changes it) and tell
glibc to keep its heap (examples/heap.py; MINIGRAD_KEEP_HEAP=0 leaves it)."""

from examples.blas import limit_blas_threads
from examples.heap import keep_heap

limit_blas_threads()
HEAP_KEPT = keep_heap()

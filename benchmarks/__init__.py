"""Speed and memory measurements: ``python -m benchmarks.NAME``. Each compares
minigrad with a reference computed in the same run and prints ratios. Both
sides run NumPy's BLAS on one thread, as the examples do (examples/blas.py;
MINIGRAD_BLAS_THREADS=default for BLAS's own choice), and malloc as the
library leaves it (glibc's defaults; ``benchmarks.rnn --keep-heap`` and
``benchmarks.seq2seq`` show what examples/heap.py changes)."""

from examples.blas import limit_blas_threads

limit_blas_threads()

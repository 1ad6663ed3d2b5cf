"""The example programs (``python -m examples.NAME``). They run NumPy's BLAS
on one thread (examples/blas.py; MINIGRAD_BLAS_THREADS changes it) and, when
Python runs one of them as its program, tell glibc to keep its heap
(examples/heap.py; MINIGRAD_KEEP_HEAP=0 leaves it) -- not when tests or the
benchmarks import the package, which leave malloc as the library does."""

import sys

from examples.blas import limit_blas_threads
from examples.heap import keep_heap


def running_an_example(argv: list[str]) -> bool:
    """Is ``argv`` (the interpreter's command line) ``python -m examples.NAME ...``?"""
    return any(flag == "-m" and module.startswith("examples.") for flag, module in zip(argv, argv[1:]))


limit_blas_threads()
HEAP_KEPT = keep_heap() if running_an_example(sys.orig_argv) else False

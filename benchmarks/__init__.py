"""Speed and memory measurements: ``python -m benchmarks.NAME``. Each compares
minigrad with a reference computed in the same run and prints ratios."""

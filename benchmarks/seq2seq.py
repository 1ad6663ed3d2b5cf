"""A training iteration of the date translator, this tree against another.

One iteration of examples.translate_dates' model and batch size (a BiLSTM
encoder over sources of 8-22 tokens with lengths, an LSTM decoder with
general attention, batch 128; forward, backward, Adam) -- the main job's
inner loop -- in worker processes that take turns, ``--rounds`` times; each
round times a few iterations per worker and keeps the best. Workers: this
tree as the examples run it (glibc keeping its heap, examples/heap.py) and
with MINIGRAD_KEEP_HEAP=0; with ``--against DIR`` (a checkout of another
commit, e.g. ``git worktree add ../minigrad-0.1 <commit>``) that tree as it
runs (malloc left alone) and with the heap kept the same way -- so the
library and the process setting can be told apart. It prints each
worker's median time and the median of the per-round ratios to the first
(with the quartiles): the ratio is what to compare, since the machine
changes between runs but hardly within a round. BLAS runs on one thread.

    python -m benchmarks.seq2seq [--against DIR] [--rounds R] [--iterations N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from benchmarks._timing import table
from examples.blas import VARIABLES

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ITERATION = r"""
import numpy as np
import minigrad as mg, nn
rng = np.random.default_rng(0)
mg.manual_seed(0)
source, target, batch, length, answer = 45, 14, 128, 22, 11
model = nn.Seq2Seq(source, target, embedding_dim=24, hidden_size=48, attention="general", bidirectional=True)
optimizer = nn.optim.Adam(model.parameters(), lr=1e-2)
src = rng.integers(4, source, (batch, length))
lengths = rng.integers(8, length + 1, batch)
lengths[0] = length
for b in range(batch):
    src[b, lengths[b]:] = 0
tgt_in, tgt_out = rng.integers(3, target, (batch, answer)), rng.integers(3, target, (batch, answer))

def iteration():
    loss = model.loss(src, lengths, tgt_in, tgt_out)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
"""

WORKER = r"""
import importlib.util, sys
if sys.argv[1]:  # examples/heap.py of this tree, loaded by its path (the other tree may have none)
    spec = importlib.util.spec_from_file_location("heap", sys.argv[1])
    heap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(heap)
    heap.keep_heap()
""" + ITERATION + r"""
import time
for _ in range(3):
    iteration()
print("ready", flush=True)
for line in sys.stdin:  # "N": time N iterations, answer the best
    best = float("inf")
    for _ in range(int(line)):
        start = time.perf_counter()
        iteration()
        best = min(best, time.perf_counter() - start)
    print(best, flush=True)
"""


def worker(tree: str, keep_heap: bool) -> subprocess.Popen:
    """A process that sets the iteration up in ``tree`` and times it on request."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=tree,
               MINIGRAD_KEEP_HEAP="1")
    heap = os.path.join(HERE, "examples", "heap.py") if keep_heap else ""
    process = subprocess.Popen([sys.executable, "-c", WORKER, heap], cwd=tree, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the worker in {tree} did not start")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="DIR", help="a checkout of another commit to time in turns with this one")
    parser.add_argument("--rounds", type=int, default=30, help="rounds (each tree in turn)")
    parser.add_argument("--iterations", type=int, default=3, help="iterations per tree and round (the best counts)")
    args = parser.parse_args()
    contenders = {"this tree": (HERE, True), "this tree, MINIGRAD_KEEP_HEAP=0": (HERE, False)}
    if args.against:
        if not os.path.isdir(os.path.join(args.against, "minigrad")):
            raise SystemExit(f"--against: {args.against} holds no minigrad/ (expected a checkout of this repository)")
        tree = os.path.abspath(args.against)
        contenders.update({args.against: (tree, False), f"{args.against}, heap kept": (tree, True)})
    workers = {name: worker(tree, keep) for name, (tree, keep) in contenders.items()}
    times: dict = {name: [] for name in contenders}
    try:
        for _ in range(args.rounds):
            for name, process in workers.items():
                process.stdin.write(f"{args.iterations}\n")
                process.stdin.flush()
                times[name].append(float(process.stdout.readline()))
    finally:
        for process in workers.values():
            process.stdin.close()
            process.wait()
    ours = times["this tree"]
    rows = []
    for name, values in times.items():
        ratios = sorted(theirs / mine for theirs, mine in zip(values, ours))
        quartiles = f"{ratios[len(ratios) // 4]:.2f}-{ratios[3 * len(ratios) // 4]:.2f}"
        rows.append([name, f"{statistics.median(values) * 1e3:.1f}", f"{statistics.median(ratios):.3f}", quartiles])
    print(f"translate_dates' model, one training iteration (batch 128), best of {args.iterations} per round, "
          f"{args.rounds} rounds in turns, BLAS on one thread")
    print(table(["tree", "median ms", "its time / this tree's (median of rounds)", "quartiles"], rows))


if __name__ == "__main__":
    main()

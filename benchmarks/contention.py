"""Training on a busy machine: BLAS threads against other processes.

NumPy's BLAS (OpenBLAS in the wheels) starts one worker thread per core and
lets them spin while they wait for work. When other processes want the same
cores -- a browser, a second job -- the spinning threads and the other
processes take turns, and every small matrix product waits for a time slice:
a training step of a small model can get 10-40x slower. With one BLAS thread
nothing spins, and the step only shares the cores fairly.

This runs a fixed number of training iterations of the date translator's
model (examples.translate_dates' defaults: a BiLSTM encoder, an LSTM decoder
with attention, batch 128), in a fresh process each time, in four settings:
idle or with ``--busy`` processes spinning on the CPU, and BLAS with its
default threads or limited to one (MINIGRAD_BLAS_THREADS, as the examples
and the other benchmarks do: examples/blas.py). Every run keeps glibc's heap,
as the example does (examples/heap.py).
It prints the seconds per iteration and each setting against the idle run
with default threads.

    python -m benchmarks.contention [--iterations N] [--busy K] [--repeats R]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time

from benchmarks._timing import table
from benchmarks.seq2seq import ITERATION
from examples.blas import VARIABLES

WORKLOAD = ITERATION + r"""
import sys, time
iteration()
start = time.perf_counter()
for _ in range(int(sys.argv[1])):
    iteration()
print((time.perf_counter() - start) / int(sys.argv[1]))
"""


def spin(stop) -> None:
    """Keep one core busy until ``stop`` is set (a stand-in for another job)."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def run(iterations: int, threads: str) -> float:
    """Seconds per training iteration in a fresh process."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    env["MINIGRAD_BLAS_THREADS"] = threads
    code = "import examples.heap as h; h.keep_heap()\n" + WORKLOAD  # (as the examples start: BLAS, heap)
    out = subprocess.run([sys.executable, "-c", code, str(iterations)], env=env, check=True,
                         capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20, help="training iterations per run")
    parser.add_argument("--busy", type=int, default=2, help="processes spinning on the CPU in the busy runs")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting, interleaved; the median counts")
    args = parser.parse_args()
    settings = [(busy, threads) for busy in (False, True) for threads in ("default", "1")]
    times: dict = {setting: [] for setting in settings}
    for _ in range(args.repeats):
        for busy, threads in settings:
            stop = multiprocessing.Event()
            spinners = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(args.busy if busy else 0)]
            for process in spinners:
                process.start()
            time.sleep(0.2 if busy else 0)
            try:
                times[busy, threads].append(run(args.iterations, threads))
            finally:
                stop.set()
                for process in spinners:
                    process.join()
    median = {setting: sorted(values)[len(values) // 2] for setting, values in times.items()}
    idle = median[False, "default"]
    rows = [[f"{args.busy} busy processes" if busy else "idle", "default" if threads == "default" else "1",
             f"{median[busy, threads] * 1e3:.1f}", f"{median[busy, threads] / idle:.2f}"]
            for busy, threads in settings]
    print(f"translate_dates' model, one training iteration (batch 128), {os.cpu_count()} cores, median of "
          f"{args.repeats} interleaved runs of {args.iterations} iterations")
    print(table(["machine", "BLAS threads", "ms per iteration", "vs idle, default threads"], rows))


if __name__ == "__main__":
    main()

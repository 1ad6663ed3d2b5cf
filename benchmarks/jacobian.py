"""Forward vs reverse mode for whole Jacobians: jacfwd vs jacrev on f: Rⁿ → Rᵐ.

    python -m benchmarks.jacobian [--repeats 3] [--hidden 64]

f(x) = W₂ tanh(W₁ x + b) with a hidden layer of fixed size. ``jacfwd`` pushes
one tangent per input direction (n passes of f), ``jacrev`` pulls one
cotangent per output direction (one forward, then m backward sweeps): the
cheaper mode is the one whose side is smaller. The two are checked to agree
first, then timed interleaved (each repeat runs both), best of the repeats.
"""

from __future__ import annotations

import argparse

import numpy as np

import minigrad as mg
from benchmarks._timing import interleaved, table

SHAPES = [(1000, 1), (300, 3), (100, 10), (32, 32), (10, 100), (3, 300), (1, 1000)]


def network(n: int, m: int, hidden: int, rng: np.random.Generator):
    """f: Rⁿ → Rᵐ, a two-layer tanh network (float64), and a point to differentiate it at."""
    w1 = mg.tensor(rng.standard_normal((hidden, n)) / np.sqrt(n))
    b = mg.tensor(rng.standard_normal(hidden))
    w2 = mg.tensor(rng.standard_normal((m, hidden)) / np.sqrt(hidden))
    return (lambda x: w2 @ mg.tanh(w1 @ x + b)), mg.tensor(rng.standard_normal(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for n, m in SHAPES:
        f, x = network(n, m, args.hidden, rng)
        forward, reverse = mg.jacfwd(f)(x), mg.jacrev(f)(x)
        assert forward.shape == (m, n) and np.allclose(forward.data, reverse.data, rtol=1e-12, atol=1e-14)
        best = interleaved({"jacfwd": lambda: mg.jacfwd(f)(x), "jacrev": lambda: mg.jacrev(f)(x)}, args.repeats)
        ratio = best["jacfwd"] / best["jacrev"]
        rows.append([n, m, f"{best['jacfwd'] * 1e3:.1f}", f"{best['jacrev'] * 1e3:.1f}", f"{ratio:.3g}",
                     "jacfwd" if ratio < 1 else "jacrev"])
    print(f"jacfwd vs jacrev, f(x) = W2 tanh(W1 x + b), hidden {args.hidden}, float64, best of {args.repeats} "
          "interleaved runs (both checked to agree first)")
    print(table(["n (inputs)", "m (outputs)", "jacfwd ms", "jacrev ms", "fwd / rev", "faster"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

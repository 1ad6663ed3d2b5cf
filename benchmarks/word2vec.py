"""examples.word2vec's training step (skip-gram and CBOW with negative
sampling, Adam) against the same step written by hand in NumPy.

The reference is what a careful NumPy programmer writes: rows looked up by
fancy indexing, the scores of the true word and the K noise words as one
batched product, the gradient of the logistic loss in closed form
(σ(s) − label), the outer product for the output rows' gradient by
broadcasting, the rows' gradients scattered into dense gradient tables by
np.add.at on the flattened table (one position per element: the fastest
plain-NumPy scatter with repeated rows at these sizes, 3-7x faster than
np.add.at over rows), CBOW's padding row's gradient zeroed after the
scatter, and Adam's update in place. Both sides keep dense gradients and
dense Adam state, as torch.nn.Embedding does by default.

Each size is checked first: loss, both gradients and the updated tables
agree with minigrad's in float64. Timing: one whole step (forward, backward,
update), float32, interleaved, best of several runs, in wall time and in
CPU time (the process's: on a busy shared machine the wall time of a step
includes waiting for a core, which CPU time leaves out); the ids follow a
Zipf law (frequent words repeat within a batch, as in text).

    python -m benchmarks.word2vec [--repeats R]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

import minigrad as mg
import nn
from benchmarks._timing import table
from examples.word2vec import Word2Vec, negative_sampling_loss

# model, vocabulary V, vector size d, batch B, noise words K, window (CBOW's context is 2·window words)
SIZES = [("skipgram", 1280, 100, 1024, 5, 5), ("cbow", 1280, 100, 1024, 5, 5),
         ("skipgram", 10000, 100, 4096, 5, 5), ("cbow", 10000, 100, 4096, 5, 5)]
TARGET = 1.2
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(log_sigmoid(x))


def scatter_rows(table_shape: tuple, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """zeros(table_shape) with values[i] added to row rows[i] (rows repeat)."""
    out = np.zeros(table_shape, dtype=values.dtype)
    width = table_shape[1]
    positions = (rows.reshape(-1, 1) * width + np.arange(width)).reshape(-1)
    np.add.at(out.reshape(-1), positions, values.reshape(-1))
    return out


class Reference:
    """The step by hand: tables v (input, CBOW with a zero padding row last) and u (output), Adam state."""

    def __init__(self, v: np.ndarray, u: np.ndarray, model: str):
        self.tables = {"input": v.copy(), "output": u.copy()}
        self.model = model
        self.moments = {k: (np.zeros_like(t), np.zeros_like(t)) for k, t in self.tables.items()}
        self.t = 0

    def gradients(self, inputs: np.ndarray, candidates: np.ndarray) -> tuple[float, dict]:
        v, u = self.tables["input"], self.tables["output"]
        batch = len(candidates)
        if self.model == "skipgram":
            h = v[inputs]
        else:
            pad = len(v) - 1
            scale = (1.0 / (inputs != pad).sum(axis=1, keepdims=True)).astype(v.dtype)
            h = v[inputs].sum(axis=1) * scale
        rows = u[candidates]  # (B, 1 + K, d)
        scores = (rows @ h[:, :, None])[:, :, 0]
        labels = np.zeros_like(scores)
        labels[:, 0] = 1
        signed = np.where(labels == 1, scores, -scores)
        loss = float(-log_sigmoid(signed).sum() / batch)
        g = (sigmoid(scores) - labels) / batch  # ∂loss/∂scores
        d_h = (g[:, None, :] @ rows)[:, 0]
        d_rows = g[:, :, None] * h[:, None, :]
        grads = {"output": scatter_rows(u.shape, candidates, d_rows)}
        if self.model == "skipgram":
            grads["input"] = scatter_rows(v.shape, inputs, d_h)
        else:
            each = np.broadcast_to((d_h * scale)[:, None, :], inputs.shape + (v.shape[1],))
            grads["input"] = scatter_rows(v.shape, inputs, each)
            grads["input"][pad] = 0  # the padding row learns nothing
        return loss, grads

    def step(self, inputs: np.ndarray, candidates: np.ndarray) -> float:
        loss, grads = self.gradients(inputs, candidates)
        self.t += 1
        (b1, b2), t = BETAS, self.t
        for name, g in grads.items():
            m, s = self.moments[name]
            m *= b1
            m += (1 - b1) * g
            s *= b2
            s += (1 - b2) * g * g
            self.tables[name] -= (LR / (1 - b1 ** t)) * m / (np.sqrt(s) / math.sqrt(1 - b2 ** t) + EPS)
        return loss


def minigrad_step(model: Word2Vec, optimizer: nn.optim.Optimizer, inputs: np.ndarray,
                  candidates: np.ndarray) -> float:
    """examples.word2vec's step (its train_step without the tqdm and clipping)."""
    optimizer.zero_grad()
    loss = negative_sampling_loss(model(inputs, candidates))
    loss.backward()
    optimizer.step()
    return loss.item()


def make_batch(model: str, vocab: int, batch: int, negatives: int, window: int, rng: np.random.Generator):
    """Zipf-distributed ids: inputs (B,) or CBOW's (B, 2·window) with some padding; candidates (B, 1 + K)."""
    zipf = 1.0 / np.arange(1, vocab + 1)
    zipf /= zipf.sum()
    noise = zipf ** 0.75
    noise /= noise.sum()
    if model == "skipgram":
        inputs = rng.choice(vocab, batch, p=zipf)
    else:
        inputs = rng.choice(vocab, (batch, 2 * window), p=zipf)
        reach = rng.integers(1, window + 1, batch)  # dynamic window: pad beyond each example's reach
        offsets = np.abs(np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)]))
        inputs[offsets > reach[:, None]] = vocab
    candidates = np.hstack([rng.choice(vocab, (batch, 1), p=zipf), rng.choice(vocab, (batch, negatives), p=noise)])
    return inputs, candidates


def setup(size: tuple, dtype) -> tuple:
    model_kind, vocab, dim, batch, negatives, window = size
    mg.manual_seed(0)
    model = Word2Vec(vocab, dim, model_kind).to(dtype)
    rng = np.random.default_rng(1)
    with mg.no_grad():  # random output vectors, so that no gradient is trivially zero
        model.output.weight.data[...] = rng.uniform(-0.5, 0.5, model.output.weight.shape) / dim
    inputs, candidates = make_batch(model_kind, vocab, batch, negatives, window, rng)
    reference = Reference(model.input.weight.data, model.output.weight.data, model_kind)
    return model, nn.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS), reference, inputs, candidates


def check(size: tuple) -> float:
    """Largest relative difference (float64) of the loss, the gradients and the tables after two steps."""
    model, optimizer, reference, inputs, candidates = setup(size, np.float64)
    worst = 0.0
    relative = lambda a, b: float(np.abs(a - b).max() / (np.abs(b).max() + 1e-30))
    for _ in range(2):
        ref_loss, ref_grads = reference.gradients(inputs, candidates)
        ours = minigrad_step(model, optimizer, inputs, candidates)
        reference.step(inputs, candidates)
        worst = max(worst, abs(ours - ref_loss) / abs(ref_loss),
                    relative(model.input.weight.grad.data, ref_grads["input"]),
                    relative(model.output.weight.grad.data, ref_grads["output"]),
                    relative(model.input.weight.data, reference.tables["input"]),
                    relative(model.output.weight.data, reference.tables["output"]))
    return worst


def timed(step: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="interleaved timing runs; the best counts")
    args = parser.parse_args(argv)

    rows = []
    for size in SIZES:
        small = (size[0], min(size[1], 50), 8, min(size[3], 64), size[4], size[5])
        error = max(check(small), check(size))
        if error > 1e-9:
            raise SystemExit(f"{size}: minigrad and the NumPy reference disagree (max rel diff {error:.2e})")
        model, optimizer, reference, inputs, candidates = setup(size, np.float32)
        ours = np.full(2, np.inf)
        ref = np.full(2, np.inf)
        for _ in range(args.repeats):  # interleaved, so both see the same machine
            ours = np.minimum(ours, timed(lambda: minigrad_step(model, optimizer, inputs, candidates)))
            ref = np.minimum(ref, timed(lambda: reference.step(inputs, candidates)))
        kind, vocab, dim, batch, negatives, window = size
        rows.append([kind, f"{vocab}x{dim}", f"{batch}x{negatives}", str(2 * window) if kind == "cbow" else "",
                     f"{ours[0] * 1e3:.2f}", f"{ref[0] * 1e3:.2f}", f"{ours[0] / ref[0]:.2f}",
                     f"{ours[1] / ref[1]:.2f}", f"<= {TARGET}"])
    print("one training step (forward, backward, Adam), float32; loss, gradients and update checked against the "
          "reference in float64 first")
    print(table(["model", "V x d", "B x K", "context", "minigrad ms", "numpy ms", "ratio", "CPU-time ratio", "target"],
                rows))


if __name__ == "__main__":
    main()

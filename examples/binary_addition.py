"""A simple (Elman) RNN learns to add two 8-bit numbers bit by bit -- it has
to discover the carry.

    python -m examples.binary_addition       # train, test on every unseen pair, save binary_addition.png

At step t the network reads bit t of a and of b (least significant first) and
writes bit t of a + b; the ninth step (zero inputs) writes the carry out.
It trains on 1000 of the 65,536 pairs and is tested on all the others.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import (
    Number,
    check_plot,
    figure,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    train_step,
)

BITS = 8


def bits(numbers: np.ndarray, width: int) -> np.ndarray:
    """(T=width, N) little-endian bits."""
    return (numbers[None, :] >> np.arange(width)[:, None]) & 1


def make_batch(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (9, N, 2) float bits of a and b (step 9 is zeros), targets (9, N) bits of a + b."""
    x = np.stack([bits(a, BITS + 1), bits(b, BITS + 1)], axis=-1).astype(np.float32)
    return x, bits(a + b, BITS + 1)


class Adder(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.RNN(2, hidden)
        self.out = nn.Linear(hidden, 2)  # logits of the sum bit being 0 or 1

    def forward(self, x) -> mg.Tensor:
        return self.out(self.rnn(mg.tensor(x))[0])


def accuracy(model: Adder, a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pairs whose whole 9-bit sum is right."""
    x, y = make_batch(a, b)
    with mg.no_grad():
        predicted = model(x).data.argmax(-1)
    return float((predicted == y).all(axis=0).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-pairs", type=Number(int, above=0, at_most=4 ** BITS - 1), default=1000,
                        help=f"pairs to train on (the rest of the {4 ** BITS} are held out)")
    parser.add_argument("--hidden", type=positive_int, default=16)
    parser.add_argument("--epochs", type=positive_int, default=40)
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--lr", type=positive_float, default=1e-2)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="binary_addition.png", help="PNG of the training curves ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pairs = rng.permutation(2 ** (2 * BITS))
    a, b = pairs >> BITS, pairs & (2 ** BITS - 1)
    train, test = np.arange(args.train_pairs), np.arange(args.train_pairs, len(pairs))
    model = Adder(args.hidden)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    losses, accuracies = [], []
    start = time.perf_counter()
    for _ in progress(range(args.epochs), "training"):
        for rows in nn.batches(train, batch_size=args.batch_size, rng=rng):
            x, y = make_batch(a[rows], b[rows])
            loss = nn.functional.cross_entropy(model(x), y)
            losses.append(train_step(optimizer, loss))
        accuracies.append(accuracy(model, a[test[:2000]], b[test[:2000]]))
    held_out = accuracy(model, a[test], b[test])
    print(f"{args.train_pairs} training pairs, {args.epochs} epochs in {time.perf_counter() - start:.0f} s; "
          f"exact sums on all {len(test)} held-out pairs: {held_out:.2%}")
    examples = rng.choice(test, 3, replace=False)
    x, _ = make_batch(a[examples], b[examples])
    with mg.no_grad():
        sums = (model(x).data.argmax(-1) << np.arange(BITS + 1)[:, None]).sum(0)
    for i, s in zip(examples, sums):
        print(f"  {a[i]:3d} + {b[i]:3d} = {s}")
    if args.plot:
        with figure(args.plot, 1, 2, figsize=(9, 3.5)) as (fig, (left, right)):
            left.semilogy(losses)
            left.set(xlabel="batch", ylabel="cross-entropy per bit", title="training loss")
            right.plot(range(1, args.epochs + 1), accuracies, marker="o")
            right.set(xlabel="epoch", ylabel="exact sums", title="held-out accuracy (2000 pairs)", ylim=(0, 1.02))
    return 0


if __name__ == "__main__":
    sys.exit(main())

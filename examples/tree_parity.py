"""A recursive neural network reads binary trees: is the number of 1-leaves
odd? Every inner node must compute the XOR of its children's "bits" with the
same weights, h = tanh(W [h_left; h_right] + b).

    python -m examples.tree_parity           # train, print held-out accuracy, save tree_parity.png

Trees have random shapes and 0/1 leaves. Training trees have 2-8 leaves; the
test uses unseen trees with 2-8 leaves and bigger ones with 9-16 leaves, which
the network never saw: it only generalises if it learned the composition.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import check_plot, figure, non_negative_int, positive_float, positive_int, progress, train_step


def random_tree(leaves: int, rng: np.random.Generator):
    """A uniformly split random binary tree with 0/1 leaves, built without recursion."""
    pending = [leaves]  # sizes of subtrees still to build, in pre-order
    sizes, built = [], []
    while pending:
        n = pending.pop()
        sizes.append(n)
        if n > 1:
            left = int(rng.integers(1, n))
            pending += [n - left, left]
    for n in reversed(sizes):  # post-order assembly from the pre-order sizes
        built.append(int(rng.integers(2)) if n == 1 else (built.pop(), built.pop()))
    return built[0]


def parity(tree) -> int:
    stack, total = [tree], 0
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack += node
        else:
            total += node
    return total % 2


class ParityReader(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.tree = nn.RecursiveNN(2, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, trees) -> mg.Tensor:
        return self.out(self.tree(trees))


def accuracy(model: ParityReader, trees: list, labels: np.ndarray) -> float:
    with mg.no_grad():
        return float((model(trees).data.argmax(-1) == labels).mean())


def make_set(n: int, low: int, high: int, rng: np.random.Generator, exclude: set = frozenset()) -> tuple:
    trees = []
    while len(trees) < n:
        tree = random_tree(int(rng.integers(low, high + 1)), rng)
        if tree not in exclude:
            trees.append(tree)
    return trees, np.array([parity(t) for t in trees])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=positive_int, default=3000)
    parser.add_argument("--hidden", type=positive_int, default=16)
    parser.add_argument("--epochs", type=positive_int, default=30)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--lr", type=positive_float, default=1e-2)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="tree_parity.png", help="PNG of the accuracy curves ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_trees, train_labels = make_set(args.train_size, 2, 8, rng)
    seen = set(train_trees)
    test_sets = {"2-8 leaves": make_set(1000, 2, 8, rng, seen), "9-16 leaves": make_set(1000, 9, 16, rng, seen)}
    model = ParityReader(args.hidden)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    curves: dict[str, list] = {name: [] for name in test_sets}
    start = time.perf_counter()
    for _ in progress(range(args.epochs), "training"):
        for rows in nn.batches(np.arange(len(train_trees)), batch_size=args.batch_size, rng=rng):
            logits = model([train_trees[i] for i in rows])
            loss = nn.functional.cross_entropy(logits, train_labels[rows])
            train_step(optimizer, loss)
        for name, (trees, labels) in test_sets.items():
            curves[name].append(accuracy(model, trees, labels))
    print(f"{args.train_size} training trees, {args.epochs} epochs in {time.perf_counter() - start:.0f} s")
    for name, acc in curves.items():
        print(f"held-out parity accuracy, unseen trees with {name}: {acc[-1]:.2%}")
    if args.plot:
        with figure(args.plot, figsize=(6, 3.5)) as (fig, ax):
            for name, acc in curves.items():
                ax.plot(range(1, args.epochs + 1), acc, marker=".", label=f"unseen trees, {name}")
            ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0.4, 1.02), title="recursive NN: parity of a tree's leaves")
            ax.legend()
    return 0


if __name__ == "__main__":
    sys.exit(main())

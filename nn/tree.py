"""A recursive neural network over binary trees (Pollack 1990; Socher et al.
2011): a leaf is an embedded token, an inner node composes its children,

    h = tanh(W [h_left; h_right] + b),

with the same W at every node. A tree is written as nested pairs of token
ids: ``((1, 2), 3)``. Trees are walked with an explicit stack (no recursion)
and evaluated level by level: every node of the same height, across the whole
batch of trees, is composed in one matmul.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import Tensor

from ._checks import check_positive_int
from .layers import Embedding, Linear
from .module import Module

Tree = int | tuple  # a token id, or a pair (left, right) of trees


def flatten_trees(trees: list[Tree], vocab_size: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Number the nodes of all trees by height: leaves first (rows 0..L-1),
    then the inner nodes of height 1, 2, ..., so a node's children always
    come before it. Returns the leaves' token ids, per height ≥ 1 an (n, 2)
    array of the children's rows, and each tree's root row."""
    heights: list[int] = []  # per node, in post-order over all trees
    children: list[tuple[int, int] | None] = []
    tokens: list[int] = []
    roots = []
    for tree in trees:
        stack: list = [(tree, False)]  # post-order with an explicit stack: children before parents
        finished: list[int] = []
        while stack:
            node, expanded = stack.pop()
            if isinstance(node, (int, np.integer)) and not isinstance(node, bool):
                if not 0 <= node < vocab_size:
                    raise ValueError(f"tree leaf {node} is not a token id in 0..{vocab_size - 1}")
                heights.append(0)
                children.append(None)
                tokens.append(int(node))
            elif isinstance(node, tuple) and len(node) == 2 and expanded:
                right, left = finished.pop(), finished.pop()
                heights.append(1 + max(heights[left], heights[right]))
                children.append((left, right))
                tokens.append(-1)
            elif isinstance(node, tuple) and len(node) == 2:
                stack += [(node, True), (node[1], False), (node[0], False)]
                continue
            else:
                raise TypeError(f"a tree is a token id or a pair (left, right) of trees, got {node!r}")
            finished.append(len(heights) - 1)
        roots.append(finished.pop())
    order = np.argsort(heights, kind="stable")
    row = np.empty(len(order), dtype=np.int64)
    row[order] = np.arange(len(order))
    levels: list[list] = [[] for _ in range(max(heights, default=0))]
    for k in order:
        if heights[k]:
            levels[heights[k] - 1].append((row[children[k][0]], row[children[k][1]]))
    leaf_tokens = np.array([tokens[k] for k in order if heights[k] == 0], dtype=np.int64)
    return leaf_tokens, [np.array(level, dtype=np.int64) for level in levels], row[roots]


class RecursiveNN(Module):
    """``roots = model(trees)``: one (hidden_size,) vector per tree, stacked
    to (len(trees), hidden_size). Parameters: ``leaf.weight`` (vocab, H) and
    ``compose`` (a Linear from 2H to H)."""

    def __init__(self, vocab_size: int, hidden_size: int, rng: np.random.Generator | None = None):
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.leaf = Embedding(vocab_size, hidden_size, rng=rng)
        self.compose = Linear(2 * hidden_size, hidden_size, rng=rng)

    def forward(self, trees: list[Tree]) -> Tensor:
        if not isinstance(trees, list) or not trees:
            raise ValueError(f"RecursiveNN: expected a non-empty list of trees, got {trees!r}")
        tokens, levels, roots = flatten_trees(trees, self.vocab_size)
        nodes = self.leaf(tokens)  # (L, H)
        for children in levels:  # one matmul per height, over every tree at once
            pairs = nodes[children.reshape(-1)].reshape(len(children), 2 * self.hidden_size)
            nodes = mg.concat([nodes, mg.tanh(self.compose(pairs))], axis=0)
        return nodes[roots]

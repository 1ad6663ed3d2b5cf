"""What the training examples do the same way: a progress bar, one optimisation step, saving a figure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import minigrad as mg
import nn


def progress(iterable: Iterable, description: str) -> Iterable:
    """A tqdm progress bar over ``iterable`` that disappears when done, or the
    plain iterable when tqdm (the ``examples`` extra) is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=description, ncols=80, leave=False)


def train_step(optimizer: nn.optim.Optimizer, loss: mg.Tensor, max_norm: float | None = None) -> float:
    """Zero the gradients, backpropagate ``loss``, clip the gradient norm to
    ``max_norm`` (if given), update; returns the loss as a float."""
    optimizer.zero_grad()
    loss.backward()
    if max_norm is not None:
        nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], max_norm)
    optimizer.step()
    return loss.item()


@contextmanager
def figure(path: str, *grid: int, **subplots) -> Iterator:
    """``with figure("out.png", 1, 2, figsize=(9, 4)) as (fig, axes):`` draw,
    and the figure is saved to ``path`` (PNG, no display needed) on leaving."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*grid, **subplots)
    yield fig, axes
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"saved {path}")

"""Structures of tensors: what the function transforms take and return.

A *tree* is a Tensor, or a tuple (a namedtuple too), list or dict of trees.
``flatten`` lists its Tensors (the leaves) and describes the rest;
``unflatten`` puts (other) leaves back into the same shape -- so ``jvp``,
``vjp`` and ``checkpoint`` work on the leaves and hand back what the function
gave, tangents or gradients in its place. A dict's leaves come in the order
of its keys; two dicts with the same keys in another order are the same
structure to scan's carry and vjp's cotangents (``ordered_like``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .tensor import Tensor


class _Kept:
    """A non-Tensor in a tree that ``flatten(..., keep=True)`` keeps as it is."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def flatten(tree: Any, what: str, keep: bool = False,
            arrays: Callable[[np.ndarray], Tensor] | None = None) -> tuple[list[Tensor], Any]:
    """The Tensors of ``tree`` in order, and a description to rebuild it
    (nested tuples: hashable when the dict keys are, so it can be part of a key).
    Anything else than Tensors, tuples, lists and dicts is a TypeError naming
    ``what`` -- or, with ``keep``, kept in the description as it is. With
    ``arrays``, a NumPy array counts as the (constant) Tensor ``arrays(it)``."""
    if isinstance(tree, Tensor):
        return [tree], None
    if arrays is not None and isinstance(tree, np.ndarray):
        return [arrays(tree)], None
    if isinstance(tree, (tuple, list)):
        leaves, parts = [], []
        for item in tree:
            sub, description = flatten(item, what, keep, arrays)
            leaves += sub
            parts.append((len(sub), description))
        return leaves, (type(tree), tuple(parts))
    if isinstance(tree, dict):
        leaves, parts = [], []
        for key, item in tree.items():
            sub, description = flatten(item, what, keep, arrays)
            leaves += sub
            parts.append((key, len(sub), description))
        return leaves, (dict, tuple(parts))
    if keep:
        return [], _Kept(tree)
    raise TypeError(f"{what} must be a Tensor or tuples, lists and dicts of Tensors, got {type(tree).__name__}")


def unflatten(description: Any, leaves: list) -> Any:
    """The tree ``flatten`` described, with ``leaves`` in its Tensors' places."""
    if description is None:
        return leaves[0]
    if isinstance(description, _Kept):
        return description.value
    kind, parts = description
    at = 0
    if kind is dict:
        out = {}
        for key, n, sub in parts:
            out[key] = unflatten(sub, leaves[at:at + n])
            at += n
        return out
    items = []
    for n, sub in parts:
        items.append(unflatten(sub, leaves[at:at + n]))
        at += n
    return _rebuild(kind, items)


def _rebuild(kind: type, items: list) -> tuple | list:
    """A ``kind`` (tuple or list, or a subclass) holding ``items``. A namedtuple
    takes its fields as arguments: ``kind(items)`` would put the whole list in
    the first field (or fail, naming a missing argument)."""
    if hasattr(kind, "_fields"):
        return kind(*items)
    try:
        return kind(items)
    except TypeError as error:
        raise TypeError(f"cannot rebuild a {kind.__name__} from its items ({kind.__name__}(list) raised: {error}); "
                        "use a tuple, list, namedtuple or dict") from error


def ordered_like(tree: Any, description: Any) -> Any:
    """``tree`` with each dict's keys in the order of the dict at the same
    place in ``description`` (what ``flatten`` gave for another tree) when
    the two hold the same keys: the order of a dict's keys is no part of its
    structure (as in JAX), so that a scan step may return its carry's dict,
    or a cotangent come, in another order. Anything else is left as it is
    (``flatten`` then tells the difference)."""
    if not (isinstance(description, tuple) and isinstance(tree, (tuple, list, dict))):
        return tree
    kind, parts = description
    if kind is dict and isinstance(tree, dict):
        if len(tree) != len(parts) or any(key not in tree for key, _, _ in parts):
            return tree
        return {key: ordered_like(tree[key], sub) for key, _, sub in parts}
    if kind is not dict and isinstance(tree, (tuple, list)) and len(tree) == len(parts):
        return _rebuild(type(tree), [ordered_like(item, sub) for item, (_, sub) in zip(tree, parts)])
    return tree


def flatten_like(tree: Any, like: Any, what: str, **options) -> tuple[list[Tensor], Any]:
    """``flatten(tree, what, **options)``, with each dict's keys taken in the
    order of ``like`` (a description ``flatten`` gave) when that is the only
    difference (see ``ordered_like``; tried only when the plain flatten
    differs from ``like``). The caller compares the description with ``like``."""
    leaves, description = flatten(tree, what, **options)
    if description != like:
        leaves, description = flatten(ordered_like(tree, like), what, **options)
    return leaves, description


def tensors_in(tree: Any) -> list[Tensor]:
    """The Tensors anywhere in ``tree`` (inside tuples, lists and dicts), in order; other objects are skipped."""
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in tensors_in(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in tensors_in(item)]
    return []


def replace_tensors(tree: Any, new: Callable[[Tensor], Any]) -> Any:
    """``tree`` with every Tensor t in it replaced by ``new(t)``; other objects are kept."""
    if isinstance(tree, Tensor):
        return new(tree)
    if isinstance(tree, (tuple, list)):
        return _rebuild(type(tree), [replace_tensors(item, new) for item in tree])
    if isinstance(tree, dict):
        return {key: replace_tensors(item, new) for key, item in tree.items()}
    return tree

"""Forward mode: dual tensors and ``jvp``.

    outputs, tangents_out = mg.jvp(f, primals, tangents)

gives ``f(*primals)`` and the Jacobian-vector product J·tangents -- the
derivative of f along one direction -- in a single pass, with no tape. Each
input becomes a :class:`Dual`: a Tensor that carries a *primal* (its value)
and a *tangent* ẋ (how it moves along the direction). Every op called on a
dual hands the call to it (the ops' dispatch protocol, see minigrad.ops),
and the dual runs the op on the primals and the op's JVP on the tangents::

    y = op(x₁, …, xₙ),   ẏ = Σᵢ ∂op/∂xᵢ · ẋᵢ        (Primitive.jvp, beside the VJPs in ops.py)

A tangent is known as soon as its value is, and nothing is kept for later:
memory does not grow with the length of the computation. The price is one
pass per input direction, where reverse mode pays one pass per output
(``jacfwd`` vs ``jacrev`` in minigrad.transforms).

Nesting. A dual's primal and tangent are Tensors themselves: plain ones --
recorded on the tape when they require grad, so reverse mode can
differentiate a JVP -- or the duals of an outer ``jvp``, so forward mode
nests (a Hessian is forward over reverse, a third derivative forward over
forward over reverse). Each ``jvp`` call opens a *level* and its duals
belong to it, as in JAX. An op on duals of several levels is handled by the
innermost one: an outer level's dual is a constant to it, and the op and the
JVP it runs on primals and tangents dispatch to the outer level in turn. A
dual used after its ``jvp`` has returned is an error (it would be taken for
another level's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .ops import astype, broadcast_to, promote_arrays, stop_gradient
from .tensor import Tensor, as_array
from .trees import flatten, unflatten


class Level:
    """One ``jvp`` call: how deeply it is nested (outer calls are lower), and whether it is still running."""

    __slots__ = ("depth", "active")

    def __init__(self, depth: int):
        self.depth, self.active = depth, True


class _OpenLevels(threading.local):
    def __init__(self):
        self.stack: list[Level] = []


_open = _OpenLevels()


@contextmanager
def new_level():
    """A level nested inside the open ones, closed on exit (its duals die with it)."""
    stack = _open.stack
    level = Level(len(stack) + 1)
    stack.append(level)
    try:
        yield level
    finally:
        level.active = False
        stack.pop()


def _dispatch(op, args: tuple, settings: dict):
    """An op called on duals: the op on the innermost level's primals, its JVP on their tangents."""
    level = None
    for a in args:
        if type(a) is Dual:
            if not a.level.active:
                raise RuntimeError(f"'{op.spec.name}' got a dual tensor whose mg.jvp has already returned: "
                                   "forward-mode values live only inside the function jvp calls (return them "
                                   "from it instead of keeping them)")
            if level is None or a.level.depth > level.depth:
                level = a.level
    primals = [a.primal if type(a) is Dual and a.level is level else a for a in args]
    out = op(*primals, **settings)
    spec = op.spec
    if not spec.differentiable:
        return out  # comparisons, ids, random draws, stop_gradient: a zero tangent
    if spec.jvp is None:
        raise TypeError(f"'{spec.name}' has no JVP, so forward mode cannot go through it: give its primitive "
                        "jvps= (one per input) or jvp= (see minigrad.ops)")
    tangents = [a.tangent if type(a) is Dual and a.level is level else None for a in args]
    if spec.promote or spec.floating:
        primals = _promoted(spec, primals, out)
    tangent = spec.jvp(tangents, out, *primals, **settings)
    if type(out) is tuple:
        if tangent is None:
            return out
        if type(tangent) not in (tuple, list) or len(tangent) != len(out):  # (zip would drop outputs, or take rows)
            got = f"{len(tangent)} tangents" if type(tangent) in (tuple, list) else f"a {type(tangent).__name__}"
            raise TypeError(f"'{spec.name}' has {len(out)} outputs and its JVP gave {got}: give a tuple of one "
                            "tangent per output (None for one without)")
        return tuple(make_dual(o, _precise(spec, t, o, tangents), level) for o, t in zip(out, tangent))
    return make_dual(out, _precise(spec, tangent, out, tangents), level)


def _precise(spec, tangent, primal: Tensor, tangents: list):
    """``tangent`` (an op's JVP's, for output ``primal``), unless it is a
    float less precise than both the output and an input's tangent: a JVP
    computing in float32 for float64, whose lost digits make_dual's cast
    back would hide. (A float32 tangent of a float32 input into a float64
    output is exact.)"""
    dtype = getattr(tangent, "dtype", None)
    if (dtype is not None and dtype.kind == "f" and primal.dtype.kind == "f" and dtype.itemsize < primal.dtype.itemsize
            and any(t is not None and t.dtype.itemsize > dtype.itemsize for t in tangents)):
        raise TypeError(f"'{spec.name}': its JVP gave a {dtype} tangent for a {primal.dtype} output from "
                        f"{max((t.dtype for t in tangents if t is not None), key=lambda d: d.itemsize)} tangents: "
                        "computed in lower precision, it lost digits; compute it in the output's dtype")
    return tangent


def _promoted(spec, primals: list, out) -> list:
    """The Tensors among ``primals`` cast as the dtype rule casts the op's
    operands (minigrad.ops.promote_arrays), as its VJPs get them: a JVP
    computing log(a) of an int64 base must not do it in float32. (Nothing to
    do, and so checked first, when every Tensor already has the output's
    float dtype: Python numbers are weak.)"""
    dtype = (out[0] if type(out) is tuple else out)._data.dtype
    for p in primals:
        if isinstance(p, Tensor) and p._data.dtype is not dtype and p._data.dtype != dtype:
            break
    else:
        if dtype.kind == "f":
            return primals
    arrays = [p._data if isinstance(p, Tensor) else as_array(p) for p in primals]
    if not spec.needs_cast(arrays):
        return primals
    cast = promote_arrays(spec, list(arrays), primals)
    return [astype(p, c.dtype) if isinstance(p, Tensor) and c.dtype != p.dtype else p for p, c in zip(primals, cast)]


def make_dual(primal: Tensor, tangent, level: Level) -> Tensor:
    """``primal`` with ``tangent`` at ``level`` -- the tangent brought to the
    primal's shape (a JVP may give one that broadcasts) and dtype; just the
    primal when the tangent is None (zero)."""
    if tangent is None:
        return primal
    if not isinstance(tangent, Tensor):
        tangent = Tensor._make(np.asarray(tangent))
    if tangent.shape != primal.shape:
        tangent = broadcast_to(tangent, primal.shape)
    if tangent.dtype != primal.dtype:
        tangent = astype(tangent, primal.dtype)
    return Dual(primal, tangent, level)


class Dual(Tensor):
    """A value with its tangent at one level of forward mode (see the module
    docstring). Its value can be read (``.item()``, ``.numpy()``, ``if x > 0``
    work as usual); what would silently drop the tangent is an error."""

    __slots__ = ("primal", "tangent", "level")

    def __init__(self, primal: Tensor, tangent: Tensor, level: Level):
        self._data, self._grad, self._requires_grad, self._node, self._index, self._version = \
            primal._data, None, False, None, 0, None
        self.primal, self.tangent, self.level = primal, tangent, level

    __minigrad_dispatch__ = staticmethod(_dispatch)

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._refuse("assigning to .data")

    def _refuse(self, what: str):
        raise TypeError(f"{what} on a dual tensor (forward mode, inside mg.jvp) would lose its tangent; write the "
                        "computation with minigrad ops (x = x + y, not in place)")

    def __array__(self, dtype=None, copy=None):
        self._refuse("converting to a NumPy array (np.asarray)")

    def copy_(self, source):
        self._refuse("copy_")

    def requires_grad_(self, requires_grad: bool = True):
        self._refuse("requires_grad_")

    def backward(self, *args, **kwargs):
        raise TypeError("backward() on a dual tensor (inside mg.jvp): to differentiate inside forward mode use the "
                        "function transforms (mg.vjp, mg.value_and_grad, mg.jacrev), which handle duals")

    def detach(self) -> Tensor:
        return stop_gradient(self)  # no gradient and no tangent, as in PyTorch and JAX

    def __repr__(self) -> str:
        return f"dual(primal={self.primal!r}, tangent={self.tangent!r})"


def _as_tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor._make(as_array(value))
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a Tensor or array-like, got {type(value).__name__}") from None


def checked_inputs(primals: Any, caller: str) -> list[Tensor]:
    """``primals`` (a tuple or list: f is called as f(*primals)) as float Tensors, checked."""
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{caller}: primals must be a tuple or list (f is called as f(*primals)), got "
                        f"{type(primals).__name__}; write (x,) for one input")
    out = [_as_tensor(p, f"{caller}: primals[{i}]") for i, p in enumerate(primals)]
    for i, p in enumerate(out):
        if p.dtype.kind != "f":
            raise TypeError(f"{caller}: primals[{i}] has dtype {p.dtype}; only float inputs can be differentiated "
                            "(pass integer arguments through a closure)")
    return out


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """``(f(*primals), J·tangents)``: the outputs of f and their derivatives
    along ``tangents`` (one per primal, of its shape; cast to its dtype), in
    the structure f returns (a Tensor, or tuples, lists and dicts of them).
    An output that does not depend on the primals gets a zero tangent."""
    return checked_jvp(f, primals, tangents, "jvp")


def checked_jvp(f: Callable, primals: Sequence, tangents: Sequence, caller: str) -> tuple[Any, Any]:
    """``jvp``, its bad arguments named as the user's ``caller`` (hvp) calls them."""
    if not callable(f):
        raise TypeError(f"{caller}: f must be callable, got {type(f).__name__}")
    primals = checked_inputs(primals, caller)
    if not isinstance(tangents, (tuple, list)) or len(tangents) != len(primals):
        got = f"{len(tangents)} tangents" if isinstance(tangents, (tuple, list)) else type(tangents).__name__
        raise ValueError(f"{caller}: tangents must be a tuple or list with one tangent per primal ({len(primals)}), "
                         f"got {got}")
    directions = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if not isinstance(t, (Tensor, np.ndarray, np.generic)):
            t = np.asarray(t)  # (a Python 0.1 or [1e8 + 1] as float64, then cast: not through the default float32)
        t = _as_tensor(t, f"{caller}: tangents[{i}]")
        if t.shape != p.shape:
            raise ValueError(f"{caller}: tangents[{i}] has shape {t.shape} but primals[{i}] has shape {p.shape}")
        if t.dtype.kind != "f":
            raise TypeError(f"{caller}: tangents[{i}] has dtype {t.dtype}; tangents must be float")
        directions.append(t if t.dtype == p.dtype else astype(t, p.dtype))
    with new_level() as level:
        out = f(*[Dual(p, t, level) for p, t in zip(primals, directions)])
        leaves, structure = flatten(out, "jvp: what f returns")
        values, derivatives = [], []
        for leaf in leaves:
            if type(leaf) is Dual and leaf.level is level:
                values.append(leaf.primal)
                derivatives.append(leaf.tangent)
            else:
                values.append(leaf)
                derivatives.append(Tensor._make(np.zeros(leaf.shape, leaf.dtype)))
    return unflatten(structure, values), unflatten(structure, derivatives)


# -- duals as sums of parts, for reverse mode over duals (minigrad.transforms.vjp) -------------------

def parts(x: Tensor) -> dict[tuple, Tensor]:
    """A dual as the sum of its plain parts: {(): the value, (L,): its tangent
    at level L, (K, L): the tangent at L of the tangent at K, ...}, keys in
    increasing depth. A plain tensor is {(): itself}."""
    if type(x) is not Dual:
        return {(): x}
    out = parts(x.primal)
    for key, part in parts(x.tangent).items():
        out[key + (x.level,)] = part
    return out


def from_parts(pieces: dict[tuple, Tensor], levels: list[Level]) -> Tensor | None:
    """The dual whose parts are ``pieces`` (the inverse of ``parts``), over
    ``levels`` in increasing depth; a missing part is zero (None if all are)."""
    if not levels:
        return pieces.get(())
    top, rest = levels[-1], levels[:-1]
    primal = from_parts({k: v for k, v in pieces.items() if not k or k[-1] is not top}, rest)
    tangent = from_parts({k[:-1]: v for k, v in pieces.items() if k and k[-1] is top}, rest)
    if tangent is None:
        return primal
    if primal is None:
        primal = Tensor._make(np.zeros(tangent.shape, tangent.dtype))
    return Dual(primal, tangent, top)


def with_base(x: Tensor, base: Tensor) -> Tensor:
    """``x`` with its innermost value replaced by ``base`` (the tangents kept)."""
    if type(x) is not Dual:
        return base
    return Dual(with_base(x.primal, base), x.tangent, x.level)


def innermost(x: Tensor) -> Tensor:
    """The plain value at the bottom of a dual (x itself if it is plain)."""
    while type(x) is Dual:
        x = x.primal
    return x

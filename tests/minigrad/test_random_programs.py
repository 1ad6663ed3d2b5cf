"""Differential fuzzing of the core: random straight-line programs of 3-12 ops
from the public API, on random shapes (0-d, empty, batch-1, broadcasting),
run twice from one description -- with minigrad tensors and with plain NumPy
(PyTorch's dtype rule written out here) -- values and dtypes compared, then
every leaf's gradient compared with float64 central differences of the NumPy
run (detach, stop_gradient and no_grad steps held at their values there), with
mg.grad and with a second backward that must double it.

A program is a list of steps ``(op, operands, params, mode)``; an operand is
``("reg", i)`` (an earlier value) or a constant (a Python number, a NumPy array,
a constant Tensor). Each op below has a generator and two interpreters."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import assume, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

_CAT = {"b": 0, "i": 1, "u": 1, "f": 2}


@contextlib.contextmanager
def default_float(dtype):
    """Run under this default float dtype (what Python floats and integer division give)."""
    before = mg.get_default_dtype()
    mg.set_default_dtype(dtype)
    try:
        yield
    finally:
        mg.set_default_dtype(before)


class Rejected(Exception):
    """The example leaves the domain (a non-finite value, an error minigrad documents)."""


# -- the dtype rule, written out for the NumPy interpreter (docs/api.md, "Ops") ----------------

def torch_dtype(values) -> np.dtype:
    """Dimensioned arrays decide, then 0-d ones, then Python numbers, each only by a higher category."""
    groups = ([], [], [])
    for v in values:
        if isinstance(v, (np.ndarray, np.generic)):
            groups[0 if v.ndim else 1].append(v.dtype)
        elif isinstance(v, bool):
            groups[2].append(np.dtype(bool))
        elif isinstance(v, int):
            groups[2].append(np.dtype(np.int64))
        else:
            groups[2].append(mg.get_default_dtype())
    result = None
    for group in groups:
        if group:
            top = max(_CAT[d.kind] for d in group)
            if result is None or top > _CAT[result.kind]:
                result = np.result_type(*[d for d in group if _CAT[d.kind] == top])
    return result


class Numpy:
    """The reference interpreter's view of dtypes: exact, or (``wide``) every float as float64, for differences."""

    def __init__(self, wide: bool):
        self.wide = wide

    def fix(self, dtype) -> np.dtype:
        dtype = np.dtype(dtype)
        return np.dtype(np.float64) if self.wide and dtype.kind == "f" else dtype

    def cast(self, *values, floating=False):
        dtype = torch_dtype(values)
        if floating and dtype.kind != "f":
            dtype = mg.get_default_dtype()
        dtype = self.fix(dtype)
        return [np.asarray(v).astype(dtype) for v in values]


# -- shapes and constants ---------------------------------------------------------------------

def partner_shape(data, shape: tuple) -> tuple:
    """A shape that broadcasts with ``shape``: axes kept, set to 1, stretched from 1, dropped or added in front."""
    out = []
    for n in shape:
        out.append(data.draw(st.sampled_from([n, 1] if n != 1 else [1, 2, 3])))
    if data.draw(st.booleans()):
        return tuple(out[data.draw(st.integers(0, len(out))):])
    return data.draw(st.sampled_from([(), (), (1,), (2,)])) + tuple(out)


def values(data, shape, low=-2.0, high=2.0) -> np.ndarray:
    return data.draw(hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False, width=64)))


def constant(data, shape: tuple, kinds=("py", "np64", "np32", "t64", "t32", "int", "zero_d", "bool")):
    """A constant operand that broadcasts with ``shape``: a Python number, a 0-d array, a NumPy array or a Tensor."""
    kind = data.draw(st.sampled_from(kinds))
    if kind == "py":
        return ("py", data.draw(st.sampled_from([0.5, -1.5, 2, -1, 3.25])))
    if kind == "zero_d":
        value = np.asarray(data.draw(st.sampled_from([0.5, -1.25])), data.draw(st.sampled_from(["f4", "f8", "f2"])))
        return ("np", value[()] if data.draw(st.booleans()) else value)  # (a NumPy scalar, or a 0-d array)
    pshape = partner_shape(data, shape)
    if kind == "int":
        return (data.draw(st.sampled_from(["np", "t"])), data.draw(hnp.arrays(np.int64, pshape,
                                                                             elements=st.integers(-3, 3))))
    if kind == "bool":
        return ("t", data.draw(hnp.arrays(np.bool_, pshape)))
    array = values(data, pshape).astype(np.float32 if kind.endswith("32") else np.float64)
    return ("np" if kind.startswith("np") else "t", array)


# -- the ops: generator, minigrad interpreter, NumPy interpreter -------------------------------

OPS = {}


def op(name, weight=1):
    def register(cls):
        cls.name, cls.weight = name, weight
        OPS[name] = cls()
        return cls
    return register


class Op:
    floats_only = True  # its first operand must be a float value

    def kink(self, args, params) -> float:
        """How far the inputs are from where the op is not smooth (inf: nowhere)."""
        return np.inf


def _unary(name, mg_fn, np_fn, floating=True, kink=None, weight=1):
    class Unary(Op):
        def gen(self, data, x):
            return [], {}

        def mg(self, x):
            return mg_fn(x)

        def np(self, N, x):
            (x,) = N.cast(x, floating=floating)
            return np_fn(x)

    if kink:
        Unary.kink = lambda self, args, params: kink(args[0])
    op(name, weight)(Unary)


_unary("neg", lambda x: -x, np.negative, floating=False)
_unary("exp", mg.exp, np.exp)
_unary("tanh", lambda x: x.tanh(), np.tanh)
_unary("sigmoid", mg.sigmoid, lambda x: 1 / (1 + np.exp(-x)))
_unary("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), floating=False, kink=lambda x: np.min(np.abs(x),
                                                                                                      initial=np.inf))
_unary("abs", mg.abs, np.abs, floating=False, kink=lambda x: np.min(np.abs(x), initial=np.inf))
_unary("log", lambda x: mg.log(x * x + 0.5), lambda x: np.log(x * x + x.dtype.type(0.5)))
_unary("sqrt", lambda x: (x * x + 0.25).sqrt(), lambda x: np.sqrt(x * x + x.dtype.type(0.25)))
_unary("square", lambda x: x ** 2, lambda x: x ** 2, floating=False)
_unary("clone", mg.clone, np.copy, floating=False)
_unary("rpow", lambda x: 1.5 ** x, lambda x: x.dtype.type(1.5) ** x)


@op("clip")
class Clip(Op):
    def gen(self, data, x):
        low = data.draw(st.sampled_from([None, -1.0, -0.5, 0.25]))
        high = data.draw(st.sampled_from([None, 1.0, 0.5] if low is not None else [1.0, 0.5]))
        return [], {"low": low, "high": high}

    def mg(self, x, low, high):
        return mg.clip(x, low, high)

    def np(self, N, x, low, high):
        (x,) = N.cast(x)
        return np.clip(x, low, high).astype(x.dtype)

    def kink(self, args, params):
        x = args[0]
        return min(np.min(np.abs(x - b), initial=np.inf) for b in (params["low"], params["high"]) if b is not None)


class Binary(Op):
    """x ⊕ b, b another value of a broadcasting shape or a constant; ``swap`` puts b first."""
    floating = False
    swappable = True
    floats_only = False

    def gen(self, data, x, regs):
        shape = np.shape(x)
        others = [i for i, (v, _) in enumerate(regs) if np.asarray(v).dtype.kind == "f" and _broadcasts(v, shape)]
        if others and data.draw(st.booleans()):
            other = ("reg", data.draw(st.sampled_from(others)))
        else:
            other = constant(data, shape)
        return [other], {"swap": self.swappable and data.draw(st.booleans()),
                         "via": data.draw(st.sampled_from(["op", "function"]))}

    def mg(self, x, b, swap, via):
        a, b = self.prepare(*((b, x) if swap else (x, b)))
        if via == "op" and self.operator is not None:
            return self.operator(a, b)
        return self.function(a, b)

    def np(self, N, x, b, swap, via):
        a, b = self.prepare(*((b, x) if swap else (x, b)))
        a, b = N.cast(a, b, floating=self.floating)
        return self.reference(a, b)

    @staticmethod
    def prepare(a, b):
        """The operands kept in the op's domain, by the same arithmetic on a Tensor and on its array."""
        return a, b


def _broadcasts(v, shape) -> bool:
    try:
        np.broadcast_shapes(np.shape(v), shape)
        return True
    except ValueError:
        return False


def _binary(name, function, operator, reference, floating=False, kink=None, weight=2, prepare=None):
    cls = type(name, (Binary,), {"function": staticmethod(function), "operator": staticmethod(operator),
                                 "reference": staticmethod(reference), "floating": floating,
                                 "swappable": name != "pow"})
    if prepare:
        cls.prepare = staticmethod(prepare)
    if name == "pow":
        cls.floats_only = True
    if kink:
        cls.kink = lambda self, args, params: kink(*args)
    op(name, weight)(cls)


_binary("add", mg.add, lambda a, b: a + b, np.add)
_binary("sub", mg.sub, lambda a, b: a - b, np.subtract)
_binary("mul", mg.mul, lambda a, b: a * b, np.multiply)
_binary("div", mg.truediv, lambda a, b: a / b, np.true_divide, floating=True, prepare=lambda a, b: (a, b * b + 1))
_binary("maximum", mg.maximum, None, np.maximum,
        kink=lambda a, b: np.min(np.abs(np.asarray(a, float) - np.asarray(b, float)), initial=np.inf), weight=1)
_binary("minimum", mg.minimum, None, np.minimum,
        kink=lambda a, b: np.min(np.abs(np.asarray(a, float) - np.asarray(b, float)), initial=np.inf), weight=1)
_binary("pow", mg.pow, lambda a, b: a ** b, np.power, weight=1, prepare=lambda a, b: (a * a + 0.5, b))


@op("matmul", 2)
class Matmul(Op):
    def gen(self, data, x, regs):
        shape = np.shape(x)
        if not shape:
            raise Rejected
        k = shape[-1]
        form = data.draw(st.sampled_from(["vec", "mat", "batched", "reg"]))
        if form == "reg":
            fits = [i for i, (v, _) in enumerate(regs) if np.ndim(v) >= 1 and np.shape(v)[0 if np.ndim(v) == 1
                                                                                       else -2] == k
                    and np.asarray(v).dtype.kind == "f" and _matmul_fits(shape, np.shape(v))]
            if fits:
                return [("reg", data.draw(st.sampled_from(fits)))], {"left": False}
            form = "mat"
        bshape = {"vec": (k,), "mat": (k, data.draw(st.integers(0, 3))),
                  "batched": (data.draw(st.integers(1, 2)), k, 2)}[form]
        if not _matmul_fits(shape, bshape):
            raise Rejected
        dtype = data.draw(st.sampled_from([np.float64, np.float32]))
        b = values(data, bshape).astype(dtype)
        return [(data.draw(st.sampled_from(["np", "t"])), b)], {"left": data.draw(st.booleans()) and form == "vec"}

    def mg(self, x, b, left):
        return mg.matmul(b, x.swapaxes(-1, -2) if x.ndim > 1 else x) if left else x @ b

    def np(self, N, x, b, left):
        x, b = N.cast(x, b)
        return np.matmul(b, np.swapaxes(x, -1, -2) if x.ndim > 1 else x) if left else np.matmul(x, b)


def _matmul_fits(a, b) -> bool:
    try:
        np.matmul(np.zeros(a), np.zeros(b))
        return True
    except ValueError:
        return False


@op("addcmul")
class Addcmul(Op):
    def gen(self, data, x, regs):
        shape = np.shape(x)
        same = [("reg", i) for i, (v, _) in enumerate(regs) if np.shape(v) == shape and np.asarray(v).dtype.kind == "f"]
        a = data.draw(st.sampled_from(same))
        return [a, constant(data, shape, ("np64", "t64", "t32", "py"))], {}

    def mg(self, t, a, b):
        return mg.addcmul(t, a, b)

    def np(self, N, t, a, b):
        t, a, b = N.cast(t, a, b)
        return t + a * b


@op("addmm")
class Addmm(Op):
    def gen(self, data, x, regs):
        if np.ndim(x) != 2:
            raise Rejected
        n, k = np.shape(x)
        m = data.draw(st.integers(1, 3))
        bias = data.draw(st.sampled_from([(n, m), (m,), (1, m), ()]))
        return [("t", values(data, (k, m))), ("np", values(data, bias))], {}

    def mg(self, a, b, c):
        return mg.addmm(c, a, b)

    def np(self, N, a, b, c):
        c, a, b = N.cast(c, a, b)
        return c + a @ b


class Reduction(Op):
    def gen(self, data, x, regs):
        ndim = np.ndim(x)
        axes = data.draw(st.sampled_from(["none", "int", "tuple"]))
        if axes == "none" or ndim == 0:
            axis = None if axes == "none" or ndim else data.draw(st.sampled_from([None, 0, -1]))
        elif axes == "int":
            axis = data.draw(st.integers(-ndim, ndim - 1))
        else:
            axis = tuple(data.draw(st.permutations(range(ndim)))[:data.draw(st.integers(0, ndim))])
            axis = tuple(a - ndim if data.draw(st.booleans()) else a for a in axis)
        if self.needs_elements and np.size(x) == 0:
            raise Rejected
        return [], {"axis": axis, "keepdims": data.draw(st.booleans()), "method": data.draw(st.booleans())}

    def mg(self, x, axis, keepdims, method):
        if method:
            return getattr(x, self.name)(axis=axis, keepdims=keepdims)
        return getattr(mg, self.name)(x, axis, keepdims)

    def np(self, N, x, axis, keepdims, method):
        (x,) = N.cast(x)
        if x.ndim == 0 and axis is not None:
            axis = None
        with np.errstate(all="ignore"):
            return np.asarray(self.reference(x, axis=axis, keepdims=keepdims))


def _extremum_kink(x):
    """The smallest gap between two elements of x (0 on a tie: central differences and the shared gradient
    of max/min may then differ)."""
    x = np.asarray(x, float)
    return np.min(np.diff(np.sort(x, axis=None)), initial=np.inf)


def _reduction(name, reference, needs_elements=False, kink=False):
    cls = type(name, (Reduction,), {"reference": staticmethod(reference), "needs_elements": needs_elements})
    if kink:
        cls.kink = lambda self, args, params: _extremum_kink(args[0])
    op(name, 2)(cls)


def _logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros([1] * x.ndim, x.dtype)
    m = np.where(np.isfinite(m), m, 0)
    total = np.sum(np.exp(x - m), axis=axis, keepdims=True, dtype=np.float32 if x.dtype == np.float16 else None)
    y = (np.log(total) + m).astype(x.dtype)
    if not keepdims:
        y = np.squeeze(y, axis=tuple(range(x.ndim)) if axis is None else axis) if x.ndim else y
    return y


_reduction("sum", np.sum)
_reduction("mean", np.mean, needs_elements=True)
_reduction("max", np.max, needs_elements=True, kink=True)
_reduction("min", np.min, needs_elements=True, kink=True)
_reduction("logsumexp", _logsumexp)


class Softmax(Op):
    def gen(self, data, x, regs):
        if np.ndim(x) == 0:
            raise Rejected
        return [], {"axis": data.draw(st.integers(-np.ndim(x), np.ndim(x) - 1))}

    def mg(self, x, axis):
        return getattr(x, self.name)(axis)

    def np(self, N, x, axis):
        (x,) = N.cast(x, floating=True)
        if x.shape[axis] == 0:
            return x.copy()
        shifted = x - np.max(x, axis=axis, keepdims=True)
        lse = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        return np.exp(shifted - lse) if self.name == "softmax" else shifted - lse


op("softmax")(type("softmax", (Softmax,), {}))
op("log_softmax")(type("log_softmax", (Softmax,), {}))


# -- shapes ------------------------------------------------------------------------------------

@op("reshape", 2)
class Reshape(Op):
    floats_only = False

    def gen(self, data, x, regs):
        size = np.size(x)
        dims = []
        rest = size
        for _ in range(data.draw(st.integers(0, 3))):
            d = data.draw(st.sampled_from([f for f in (1, 2, 3, 4) if rest % f == 0] or [1]))
            dims.append(d)
            rest //= d
        if rest != 1 or not dims:
            dims.append(rest if size else 0)
        if size and len(dims) > 1 and data.draw(st.booleans()):
            dims[data.draw(st.integers(0, len(dims) - 1))] = -1
        return [], {"shape": tuple(dims), "how": data.draw(st.sampled_from(["function", "method", "flatten"]))}

    def mg(self, x, shape, how):
        if how == "flatten":
            return x.flatten()
        return x.reshape(*shape) if how == "method" else mg.reshape(x, shape)

    def np(self, N, x, shape, how):
        return np.reshape(x, (-1,) if how == "flatten" else shape)


@op("transpose", 2)
class Transpose(Op):
    floats_only = False

    def gen(self, data, x, regs):
        ndim = np.ndim(x)
        how = data.draw(st.sampled_from(["T", "perm", "swap", "permute"]))
        if how in ("swap",) and ndim == 0:
            how = "T"
        perm = tuple(data.draw(st.permutations(range(ndim))))
        perm = tuple(p - ndim if data.draw(st.booleans()) else p for p in perm)
        pair = (data.draw(st.integers(-ndim, ndim - 1)), data.draw(st.integers(-ndim, ndim - 1))) if ndim else None
        return [], {"how": how, "perm": perm, "pair": pair}

    def mg(self, x, how, perm, pair):
        if how == "T":
            return x.T
        if how == "swap":
            return x.swapaxes(*pair)
        return x.permute(*perm) if how == "permute" else mg.transpose(x, perm)

    def np(self, N, x, how, perm, pair):
        if how == "T":
            return x.T
        return np.swapaxes(x, *pair) if how == "swap" else np.transpose(x, perm)


@op("squeeze")
class Squeeze(Op):
    floats_only = False

    def gen(self, data, x, regs):
        ndim = np.ndim(x)
        how = data.draw(st.sampled_from(["squeeze", "unsqueeze", "expand"]))
        if how == "squeeze":
            ones = [i for i, n in enumerate(np.shape(x)) if n == 1]
            axis = data.draw(st.sampled_from([None, *ones, *[i - ndim for i in ones]]))
            return [], {"how": how, "axis": axis}
        if how == "unsqueeze":
            return [], {"how": how, "axis": data.draw(st.integers(-ndim - 1, ndim))}
        target = np.broadcast_shapes(np.shape(x), partner_shape(data, np.shape(x)))
        return [], {"how": how, "axis": tuple(target)}

    def mg(self, x, how, axis):
        if how == "expand":
            return x.expand(*axis) if axis else mg.broadcast_to(x, axis)
        return getattr(x, how)(axis) if how == "unsqueeze" or axis is not None else x.squeeze()

    def np(self, N, x, how, axis):
        if how == "expand":
            return np.broadcast_to(x, axis)
        return np.expand_dims(x, axis) if how == "unsqueeze" else np.squeeze(x, axis)


# -- indexing ----------------------------------------------------------------------------------

def draw_index(data, shape):
    """A NumPy index for ``shape``: ints, slices (negative steps), None, ..., integer arrays (repeats,
    negatives; as arrays, lists or Tensors) and a boolean mask."""
    parts, axis = [], 0
    ellipsis = data.draw(st.booleans())
    k = data.draw(st.integers(0, 4))  # (index arrays of one length broadcast together)
    while axis < len(shape):
        n = shape[axis]
        kind = data.draw(st.sampled_from(["slice", "slice", "int", "array", "none", "mask", "stop"]))
        if kind == "stop":
            break
        if kind == "none":
            parts.append(None)
            continue
        if kind == "int" and n:
            parts.append(data.draw(st.integers(-n, n - 1)))
        elif kind == "array" and n:
            ids = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=k, max_size=k)),
                           dtype=data.draw(st.sampled_from([np.int64, np.int8, np.int32])))
            if data.draw(st.booleans()) and k:
                ids = ids.reshape(-1, 1) if data.draw(st.booleans()) else ids[:1]
            wrap = data.draw(st.sampled_from(["np", "list", "tensor"]))
            parts.append(ids.tolist() if wrap == "list" and k else mg.tensor(ids) if wrap == "tensor" else ids)
        elif kind == "mask":
            parts.append(data.draw(hnp.arrays(np.bool_, (n,))))
        else:
            start = data.draw(st.sampled_from([None, 0, 1, -1, -2]))
            stop = data.draw(st.sampled_from([None, 2, -1, n]))
            step = data.draw(st.sampled_from([None, 1, 2, -1, -2]))
            parts.append(slice(start, stop, step))
        axis += 1
    if ellipsis:
        parts.insert(data.draw(st.integers(0, len(parts))), Ellipsis)
    return tuple(parts) if len(parts) != 1 or data.draw(st.booleans()) else parts[0]


def _np_index(index):
    if isinstance(index, tuple):
        return tuple(_np_index(i) for i in index)
    if isinstance(index, mg.Tensor):
        return index.numpy().copy()
    if isinstance(index, list):
        return np.asarray(index)
    return index


@op("getitem", 3)
class Getitem(Op):
    floats_only = False

    def gen(self, data, x, regs):
        index = draw_index(data, np.shape(x))
        try:
            np.zeros(np.shape(x))[_np_index(index)]
        except IndexError:
            raise Rejected from None
        return [], {"index": index}

    def mg(self, x, index):
        return x[index]

    def np(self, N, x, index):
        return np.asarray(x[_np_index(index)])


@op("add_at")
class AddAt(Op):
    """zeros(shape) with x added at an index that picks x's shape: repeated and negative rows, or a mask."""

    def gen(self, data, x, regs):
        shape = np.shape(x)
        if not shape:
            raise Rejected
        form = data.draw(st.sampled_from(["rows", "columns", "mask"]))
        n = data.draw(st.integers(1, 4))
        if form == "columns" and len(shape) >= 2:
            ids = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=shape[1], max_size=shape[1])))
            return [], {"index": (slice(None), ids), "shape": (shape[0], n) + shape[2:]}
        if form == "mask":
            n = shape[0] + data.draw(st.integers(0, 2))
            mask = np.zeros(n, bool)
            mask[data.draw(st.permutations(range(n)))[:shape[0]]] = True
            return [], {"index": mask, "shape": (n,) + shape[1:]}
        ids = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=shape[0], max_size=shape[0])), np.int64)
        return [], {"index": ids, "shape": (n,) + shape[1:]}

    def mg(self, x, index, shape):
        return mg.add_at(x, index, shape)

    def np(self, N, x, index, shape):
        out = np.zeros(shape, x.dtype)
        np.add.at(out, index, x)
        return out


@op("take", 2)
class Take(Op):
    def gen(self, data, x, regs):
        shape = np.shape(x)
        if not shape or 0 in shape:
            raise Rejected
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        how = data.draw(st.sampled_from(["take_along_axis", "gather"]))
        ishape = [data.draw(st.integers(0, 3)) if d == axis % len(shape) else
                  (data.draw(st.sampled_from([n, 1] if n > 1 else [1, 2])) if how == "take_along_axis"
                   else data.draw(st.integers(1, n)))
                  for d, n in enumerate(shape)]
        n = shape[axis]
        ids = data.draw(hnp.arrays(np.int64, tuple(ishape), elements=st.integers(-n if how == "take_along_axis" else 0,
                                                                                  n - 1)))
        return [], {"axis": axis, "ids": ids, "how": how}

    def mg(self, x, axis, ids, how):
        return mg.take_along_axis(x, ids, axis) if how == "take_along_axis" else mg.gather(x, axis, mg.tensor(ids))

    def np(self, N, x, axis, ids, how):
        if how == "gather":
            x = x[tuple(slice(None) if d == axis % x.ndim else slice(0, n) for d, n in enumerate(ids.shape))]
        return np.take_along_axis(x, ids, axis)


@op("embedding")
class Embedding(Op):
    def gen(self, data, x, regs):
        if np.ndim(x) != 2 or np.shape(x)[0] == 0:
            raise Rejected
        ids = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
                                   elements=st.integers(0, np.shape(x)[0] - 1)))
        return [], {"ids": ids}

    def mg(self, x, ids):
        return mg.embedding(x, ids)

    def np(self, N, x, ids):
        return x[ids]


@op("where", 2)
class Where(Op):
    """masked_fill by a mask from a comparison of values, or where(x > c, x, other)."""

    def gen(self, data, x, regs):
        shape = np.shape(x)
        threshold = data.draw(st.sampled_from([0.0, 0.3, -0.5]))
        how = data.draw(st.sampled_from(["masked_fill", "where", "where_const_mask"]))
        if how == "where_const_mask":
            other = constant(data, shape, ("py", "np64", "t32", "zero_d"))
            return [other], {"how": how, "mask": data.draw(hnp.arrays(np.bool_, partner_shape(data, shape))),
                             "threshold": threshold}
        if how == "masked_fill":
            return [], {"how": how, "mask": None, "threshold": threshold,
                        "value": data.draw(st.sampled_from([0.0, -1.5, 2]))}
        others = [("reg", i) for i, (v, _) in enumerate(regs) if np.asarray(v).dtype.kind == "f" and
                  _broadcasts(v, shape)]
        return [data.draw(st.sampled_from(others))], {"how": how, "mask": None, "threshold": threshold}

    def mg(self, x, *rest, how, mask, threshold, value=None):
        if how == "masked_fill":
            return x.masked_fill(x > threshold, value)
        if how == "where":
            return mg.where(x > threshold, x, rest[0])
        return mg.where(mask, rest[0], x)

    def np(self, N, x, *rest, how, mask, threshold, value=None):
        if how == "masked_fill":
            (x,) = N.cast(x)
            return np.where(x > threshold, N.fix(x.dtype).type(value), x)
        if how == "where":
            a, b = N.cast(x, rest[0])
            return np.where(x > threshold, a, b)
        a, b = N.cast(rest[0], x)
        return np.where(mask, a, b)

    def kink(self, args, params):
        if params["how"] == "where_const_mask":
            return np.inf
        return np.min(np.abs(np.asarray(args[0], float) - params["threshold"]), initial=np.inf)


@op("join")
class Join(Op):
    """concat or stack of this value with others of its shape (or constants)."""

    def gen(self, data, x, regs):
        shape = np.shape(x)
        how = data.draw(st.sampled_from(["concat", "stack"]))
        if how == "concat" and not shape:
            how = "stack"
        same = [("reg", i) for i, (v, _) in enumerate(regs) if np.shape(v) == shape and np.asarray(v).dtype.kind == "f"]
        others = [data.draw(st.sampled_from(same + [("np", values(data, shape)),
                                                    ("t", values(data, shape).astype(np.float32))]))
                  for _ in range(data.draw(st.integers(0, 2)))]
        ndim = len(shape) + (how == "stack")
        return others, {"how": how, "axis": data.draw(st.integers(-ndim, ndim - 1)),
                        "first": data.draw(st.integers(0, len(others)))}

    def mg(self, x, *others, how, axis, first):
        items = list(others)
        items.insert(first, x)
        return getattr(mg, how)(items, axis=axis)

    def np(self, N, x, *others, how, axis, first):
        items = list(others)
        items.insert(first, x)
        items = N.cast(*items)
        return np.concatenate(items, axis) if how == "concat" else np.stack(items, axis)


@op("split")
class Split(Op):
    def gen(self, data, x, regs):
        shape = np.shape(x)
        if not shape:
            raise Rejected
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        n = shape[axis]
        how = data.draw(st.sampled_from(["split", "sections", "chunk", "unbind"]))
        if how == "unbind" and n > 4:
            how = "split"
        arg = {"split": data.draw(st.integers(1, 3)), "chunk": data.draw(st.integers(1, 3)), "unbind": None,
               "sections": None}[how]
        if how == "sections":
            cut = sorted(data.draw(st.lists(st.integers(0, n), min_size=1, max_size=2)))
            arg = [cut[0]] + [b - a for a, b in zip(cut, cut[1:])] + [n - cut[-1]]
        pieces = self.np(None, np.zeros(shape), axis=axis, how=how, arg=arg)
        return [], {"axis": axis, "how": how, "arg": arg, "pick": data.draw(st.integers(0, max(len(pieces) - 1, 0)))
                    } if pieces else None

    def mg(self, x, axis, how, arg, pick):
        pieces = mg.unbind(x, axis) if how == "unbind" else mg.chunk(x, arg, axis) if how == "chunk" else \
            mg.split(x, arg, axis)
        return pieces[pick] + 0 * pieces[-1].sum()

    def np(self, N, x, axis, how, arg, pick=None):
        n = x.shape[axis]
        if how == "unbind":
            pieces = [np.take(x, i, axis) for i in range(n)]
        elif how == "chunk":
            size = -(-n // arg) if n else 0
            pieces = _pieces(x, [size] * (n // size) + ([n % size] if n % size else []) if n else [0] * arg, axis)
        elif how == "split":
            pieces = _pieces(x, [arg] * (n // arg) + ([n % arg] if n % arg else []) or [0], axis)
        else:
            pieces = _pieces(x, arg, axis)
        if pick is None:
            return pieces
        return pieces[pick] + 0 * np.sum(pieces[-1])


def _pieces(x, sizes, axis):
    return np.split(x, np.cumsum(sizes)[:-1], axis) if len(sizes) > 1 else [x]


@op("astype")
class Astype(Op):
    floats_only = False

    def gen(self, data, x, regs):
        kind = np.asarray(x).dtype.kind
        choices = ["f8", "f4", "f2", "i8", "i4"] if kind == "f" else ["f8", "f4", "i8", "u1", "b1"]
        return [], {"dtype": np.dtype(data.draw(st.sampled_from(choices)))}

    def mg(self, x, dtype):
        return x.astype(dtype)

    def np(self, N, x, dtype):
        return x.astype(N.fix(dtype))


@op("compare")
class Compare(Op):
    """x > c or x <= other: a bool value (no gradient), which later steps use as an operand."""

    def gen(self, data, x, regs):
        return [constant(data, np.shape(x), ("py", "np64", "t32", "zero_d"))], {
            "how": data.draw(st.sampled_from(["greater", "less_equal", "equal"]))}

    def mg(self, x, b, how):
        return getattr(mg, how)(x, b)

    def np(self, N, x, b, how):
        a, b = N.cast(x, b)
        return getattr(np, how)(a, b)

    def kink(self, args, params):
        if params["how"] == "equal":
            return np.inf
        return np.min(np.abs(np.asarray(args[0], float) - np.asarray(args[1], float)), initial=np.inf)


@op("argmax")
class Argmax(Op):
    """argmax/argmin (integers, no gradient), often used as an index below."""

    def gen(self, data, x, regs):
        ndim = np.ndim(x)
        if np.size(x) == 0:
            raise Rejected
        axis = data.draw(st.sampled_from([None] + list(range(-ndim, ndim))))
        return [], {"axis": axis, "keepdims": data.draw(st.booleans()), "how": data.draw(st.sampled_from(
            ["argmax", "argmin"]))}

    def mg(self, x, axis, keepdims, how):
        return getattr(x, how)(axis=axis, keepdims=keepdims)

    def np(self, N, x, axis, keepdims, how):
        return getattr(np, how)(x, axis=axis, keepdims=keepdims)


@op("index_by", 2)
class IndexBy(Op):
    """x indexed by an integer or bool value computed earlier (x[ids], x[mask], x[:, ids], take_along_axis)."""
    floats_only = True

    def gen(self, data, x, regs):
        shape = np.shape(x)
        if not shape:
            raise Rejected
        fits = []
        for i, (v, _) in enumerate(regs):
            v = np.asarray(v)
            if v.dtype.kind == "b" and v.shape == shape[:v.ndim] and v.ndim:
                fits.append((i, "mask"))
            if v.dtype.kind in "iu" and v.size and (v.max() < shape[-1]) and v.min() >= -shape[-1]:
                fits.append((i, "last"))
            if v.dtype.kind in "iu" and v.size and (v.max() < shape[0]) and v.min() >= -shape[0]:
                fits.append((i, "first"))
        if not fits:
            raise Rejected
        i, how = data.draw(st.sampled_from(fits))
        return [("reg", i)], {"how": how}

    def mg(self, x, ids, how):
        return x[ids] if how in ("mask", "first") else x[..., ids]

    def np(self, N, x, ids, how):
        return x[ids] if how in ("mask", "first") else x[..., ids]


@op("inplace")
class Inplace(Op):
    """x op= b. On a value in the graph, a new value (functional, as in JAX); otherwise x's memory changes
    (and any view of it), as in NumPy."""
    floats_only = False

    def gen(self, data, x, regs):
        kind = np.asarray(x).dtype.kind
        if kind == "b":
            raise Rejected
        how = data.draw(st.sampled_from(["add", "subtract", "multiply", "power"] +
                                        (["true_divide"] if kind == "f" else [])))
        b = constant(data, np.shape(x), ("py", "np64", "t32", "int", "zero_d") if kind == "f" else ("int",))
        if how == "power":
            b = ("py", data.draw(st.sampled_from([2, 3])))
        return [b], {"how": how}

    def mg(self, x, b, how):
        if how == "true_divide":
            b = b * b + 1  # (the same arithmetic on a Tensor and on its array: an integer stays one)
        before = x
        try:
            if how == "add":
                x += b
            elif how == "subtract":
                x -= b
            elif how == "multiply":
                x *= b
            elif how == "power":
                x **= b
            else:
                x /= b
        except (ValueError, TypeError, RuntimeError) as error:
            if "in-place" in str(error) or "in place" in str(error):
                raise Rejected from None  # a view, a read-only array, a dtype change: refused, as documented
            raise
        assert (x is before) != (before.requires_grad and mg.is_grad_enabled())
        return x

    def np(self, N, x, b, how, rg=False):
        if how == "true_divide":
            b = b * b + 1
        ufunc = getattr(np, how)
        if rg:
            a, b = N.cast(x, b)
            return ufunc(a, b)
        ufunc(x, np.asarray(b).astype(x.dtype), out=x, casting="unsafe")
        return x


# -- the program and its two interpreters ------------------------------------------------------

def _materialize(operand, regs_mg):
    kind, value = operand
    if kind == "reg":
        return regs_mg[value]
    if kind == "t":
        return mg.tensor(value.copy())
    return value.copy() if isinstance(value, (np.ndarray, np.generic)) else value


def run_minigrad(leaves, program, tensors=None):
    """The program on Tensors (``tensors``: the leaves that require grad, as the caller made them)."""
    supplied = iter(tensors or ())
    regs = [next(supplied) if rg and tensors is not None else mg.tensor(a.copy(), requires_grad=rg)
            for a, rg in leaves]
    for name, operands, params, mode in program:
        args = [_materialize(o, regs) for o in operands]
        if mode == "no_grad":
            with mg.no_grad():
                out = OPS[name].mg(*args, **params)
        elif mode == "checkpoint":
            out = mg.checkpoint(lambda *xs, spec=OPS[name], params=params: spec.mg(*xs, **params))(*args)
        else:
            out = OPS[name].mg(*args, **params)
            if mode == "detach":
                out = out.detach() if name != "clone" else mg.stop_gradient(out)
        if name == "inplace" and operands[0][0] == "reg" and out is args[0]:
            regs[operands[0][1]] = out
        regs.append(out)
    return regs


def run_numpy(leaves, program, wide=False, frozen=None, record=None):
    """The program on arrays: exact dtypes, or ``wide`` (float64) with the ``frozen`` values of a base run
    standing in for what minigrad keeps out of the graph (detach, stop_gradient, no_grad)."""
    N = Numpy(wide)
    regs = [a.copy() if not wide else a.astype(np.float64) for a, rg in leaves]
    rgs = [rg for a, rg in leaves]
    kinks = []
    precision = [np.finfo(a.dtype).eps for a in regs]  # the coarsest float each value went through
    with np.errstate(all="ignore"):
        for k, (name, operands, params, mode) in enumerate(program):
            spec = OPS[name]
            args = [regs[v] if kind == "reg" else v.copy() if isinstance(v, (np.ndarray, np.generic)) else v
                    for kind, v in operands]
            arg_rg = any(rgs[v] for kind, v in operands if kind == "reg")
            extra = {"rg": arg_rg and mode != "no_grad"} if name == "inplace" else {}
            out = spec.np(N, *args, **params, **extra)
            kinks.append(spec.kink(args, params))
            out = np.asarray(out)
            rg = arg_rg and mode in ("grad", "checkpoint") and out.dtype.kind == "f" and name not in ("compare",)
            if name == "astype" and params["dtype"].kind != "f":
                rg = False
            in_place = name == "inplace" and not extra["rg"]
            if frozen is not None and arg_rg and not rg:
                out = frozen[k].copy()  # held at its value: no gradient through it
                if in_place:
                    regs[operands[0][1]][...] = out
            if record is not None:
                record.append(out.copy())
            if in_place:
                out = regs[operands[0][1]]
            regs.append(out)
            rgs.append(rg)
            precision.append(max([np.finfo(out.dtype).eps if out.dtype.kind == "f" else 0.0] +
                                 [precision[v] for kind, v in operands if kind == "reg"]))
    return regs, rgs, kinks, precision


# the ops by weight, getitem first (what a failing example shrinks towards)
NAMES = sorted([n for n, o in OPS.items() for _ in range(o.weight)], key=lambda n: n != "getitem")


@st.composite
def programs(draw, max_ops=12):
    default = draw(st.sampled_from([np.float32, np.float64]))
    with default_float(default):
        leaves, program = draw(_programs(max_ops))
    return leaves, program, default


@st.composite
def _programs(draw, max_ops):
    data = draw(st.data())
    leaves = []
    for _ in range(draw(st.integers(1, 3))):
        full = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
        shape = draw(st.one_of(full, full, full, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=2)))
        dtype = draw(st.sampled_from(["f8", "f8", "f8", "f4", "f2"]))
        leaves.append((values(data, shape).astype(dtype), draw(st.booleans()) or not leaves))
    program = []
    regs = [(a, rg) for a, rg in leaves]
    for _ in range(draw(st.integers(3, max_ops))):
        name = draw(st.sampled_from(NAMES))
        spec = OPS[name]
        usable = [i for i, (v, _) in enumerate(regs) if not spec.floats_only or v.dtype.kind == "f"]
        if not usable:
            continue
        x = draw(st.sampled_from(usable[::-1]))
        try:
            generated = spec.gen(data, regs[x][0]) if spec.gen.__code__.co_argcount == 3 \
                else spec.gen(data, regs[x][0], regs)
        except Rejected:
            continue
        if generated is None:
            continue
        operands, params = generated
        mode = draw(st.sampled_from(["grad"] * 8 + ["no_grad", "detach", "checkpoint"]))
        if name == "inplace" and (regs[x][1] and mode == "no_grad" or mode == "checkpoint"):
            mode = "grad"  # (a change the tape does not see, by design, as in PyTorch: no reference to compare)
        step = (name, [("reg", x)] + operands, params, mode)
        try:
            out_regs, rgs, _, _ = run_numpy(leaves, program + [step])
        except (ValueError, IndexError, TypeError):
            continue
        program.append(step)
        regs = list(zip(out_regs, rgs))
    return leaves, program


def describe(leaves, program) -> str:
    lines = [f"leaf {i}: shape {a.shape} requires_grad={rg}" for i, (a, rg) in enumerate(leaves)]
    for k, (name, operands, params, mode) in enumerate(program):
        shown = [f"v{v}" if kind == "reg" else f"{kind}:{getattr(v, 'dtype', type(v).__name__)}"
                 f"{getattr(v, 'shape', '')}" for kind, v in operands]
        lines.append(f"v{len(leaves) + k} = {name}({', '.join(shown)}, {params}) [{mode}]")
    return "\n".join(lines)


def check_program(leaves, program, default=np.float32):
    with default_float(default):
        check_program_values(leaves, program)


def check_program_values(leaves, program):
    note(describe(leaves, program))
    try:
        with np.errstate(all="ignore"):  # (an inf or NaN on the way: the example is left out below)
            regs = run_minigrad(leaves, program)
    except Rejected:
        assume(False)
    expected, rgs, kinks, precision = run_numpy(leaves, program)
    for k, (got, want) in enumerate(zip(regs, expected)):
        assume(np.all(np.isfinite(want)) if want.dtype.kind == "f" else True)
        assert got.shape == want.shape, f"v{k}: shape {got.shape}, NumPy {want.shape}"
        assert got.dtype == want.dtype, f"v{k}: dtype {got.dtype}, the rule gives {want.dtype}"
        assert got.requires_grad == rgs[k], f"v{k}: requires_grad {got.requires_grad}, expected {rgs[k]}"
        if want.dtype.kind == "f":
            rtol = atol = 100 * precision[k]  # a few roundings apart (as NumPy sums, or x * (1/n) for x / n)
            np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=atol, err_msg=f"v{k}")
        else:
            np.testing.assert_array_equal(got.numpy(), want, err_msg=f"v{k}")
    # the loss: Σ ⟨v, W⟩ over some values in the graph (each may be used again later: one tensor, many uses)
    rng = np.random.default_rng(0)
    chosen = [k for k in range(len(leaves), len(regs)) if rgs[k]]
    chosen = [k for k in chosen if rng.random() < 0.5 or k == chosen[-1]]
    grad_leaves = [i for i, (a, rg) in enumerate(leaves) if rg]
    assume(chosen)
    weights = {k: rng.uniform(-1, 1, size=expected[k].shape) for k in chosen}

    def loss_numpy(point):
        perturbed = [(p, rg) for p, (a, rg) in zip(point, leaves)]
        regs_np, _, _, _ = run_numpy(perturbed, program, wide=True, frozen=frozen)
        return sum(float(np.sum(regs_np[k] * weights[k])) for k in chosen)

    frozen = []
    run_numpy(leaves, program, wide=True, frozen=None, record=frozen)
    loss = None
    for k in chosen:
        term = (regs[k] * mg.tensor(weights[k])).sum()
        loss = term if loss is None else loss + term
    inner = [k for k in range(len(leaves), len(regs)) if rgs[k] and not regs[k].is_leaf][-1:]  # (a retained .grad)
    for k in inner:
        regs[k].retain_grad()
    try:
        with np.errstate(all="ignore"):
            by_grad = mg.grad(loss, [regs[i] for i in grad_leaves + inner], retain_graph=True, allow_unused=True)
            loss.backward(retain_graph=True)
            first = {i: None if regs[i].grad is None else regs[i].grad.numpy().copy() for i in grad_leaves}
            for k, g in zip(inner, by_grad[len(grad_leaves):]):
                want = np.zeros(regs[k].shape) if g is None else g.numpy()
                got = np.zeros(regs[k].shape) if regs[k].grad is None else regs[k].grad.numpy()
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=f"retain_grad of v{k}")
            loss.backward()
    except RuntimeError as error:
        if "in place" in str(error) or "in-place" in str(error) or "changed" in str(error):
            assume(False)  # a saved value was changed in place: the documented error
        raise
    base = [a.astype(np.float64) for a, rg in leaves]
    coarsest = max(precision)
    rtol, atol = (1e-5, 1e-7) if coarsest < 1e-15 else (1e-2, 1e-3) if coarsest < 1e-6 else (0.1, 0.05)
    numerics = []
    magnitude = sum(float(np.sum(np.abs(expected[k]) * np.abs(weights[k]))) for k in chosen) * 1e-16 / 1e-6 / atol
    for j, i in enumerate(grad_leaves):
        numeric = np.zeros_like(base[i])
        eps = 1e-6
        for pos in np.ndindex(base[i].shape):
            plus = [b.copy() for b in base]
            minus = [b.copy() for b in base]
            plus[i][pos] += eps
            minus[i][pos] -= eps
            numeric[pos] = (loss_numpy(plus) - loss_numpy(minus)) / (2 * eps)
        if first[i] is not None:
            assert first[i].dtype == leaves[i][0].dtype, f"leaf {i}: a {leaves[i][0].dtype} leaf got a " \
                f"{first[i].dtype} gradient"
        got = np.zeros_like(base[i]) if first[i] is None else first[i]
        scale = max(1.0, float(np.max(np.abs(numeric), initial=0)), 100 * magnitude)  # (rounding in the loss / eps)
        if not np.allclose(got, numeric, rtol=rtol, atol=atol * scale):
            assume(min(kinks, default=np.inf) > 1e-3)  # near a kink, central differences see both sides
            np.testing.assert_allclose(got, numeric, rtol=rtol, atol=atol * scale, err_msg=f"gradient of leaf {i}")
        if by_grad[j] is not None:
            np.testing.assert_allclose(by_grad[j].numpy(), got, rtol=1e-12, atol=0, err_msg=f"mg.grad, leaf {i}")
        second = regs[i].grad
        np.testing.assert_allclose(np.zeros_like(got) if second is None else second.numpy(), 2 * got, rtol=1e-12,
                                   atol=0, err_msg=f"second backward, leaf {i}")
        numerics.append(numeric)
    if min(kinks, default=np.inf) > 1e-3 and all(mode == "grad" and name != "inplace"
                                                  for name, _, _, mode in program):
        check_higher_order(leaves, program, chosen, weights, grad_leaves, numerics, rtol, atol, rng)


def check_jacobians(leaves, program, base, grad_leaves, rtol, atol):
    """mg.jacrev and mg.jacfwd of the program's last value against central differences of the NumPy run."""
    def last_of(*tensors):
        return run_minigrad(leaves, program, tensors)[-1]

    points = [a.astype(np.float64) for a, rg in leaves]
    argnums = tuple(range(len(base)))
    by_rev, by_fwd = mg.jacrev(last_of, argnums)(*base), mg.jacfwd(last_of, argnums)(*base)
    eps = 1e-6
    for j, i in enumerate(grad_leaves):
        numeric = []
        for pos in np.ndindex(points[i].shape):
            shifted = []
            for sign in (1, -1):
                point = [p.copy() for p in points]
                point[i][pos] += sign * eps
                shifted.append(run_numpy([(p, rg) for p, (a, rg) in zip(point, leaves)], program, wide=True)[0][-1])
            numeric.append((shifted[0] - shifted[1]) / (2 * eps))
        out_shape = by_rev[j].shape[:by_rev[j].ndim - points[i].ndim]
        numeric = np.moveaxis(np.array(numeric).reshape(points[i].shape + out_shape), range(points[i].ndim),
                              range(len(out_shape), len(out_shape) + points[i].ndim))
        scale = max(1.0, float(np.max(np.abs(numeric), initial=0)))
        for how, jacobian in (("jacrev", by_rev[j]), ("jacfwd", by_fwd[j])):
            np.testing.assert_allclose(jacobian.numpy(), numeric, rtol=rtol, atol=atol * scale,
                                       err_msg=f"{how}, leaf {i}")


def check_higher_order(leaves, program, chosen, weights, grad_leaves, numerics, rtol, atol, rng):
    """Forward mode (mg.jvp) against the differences' J·t, and the create_graph backward's H·v against
    central differences of minigrad's own first-order gradient along v."""
    base = [mg.tensor(a.copy(), requires_grad=True) for a, rg in leaves if rg]
    directions = [rng.uniform(-1, 1, size=t.shape) for t in base]

    def loss_of(*tensors):
        regs = run_minigrad(leaves, program, tensors)
        total = None
        for k in chosen:
            term = (regs[k] * mg.tensor(weights[k])).sum()
            total = term if total is None else total + term
        return total

    last = len(leaves) + len(program) - 1
    with np.errstate(all="ignore"):
        if chosen[-1] == last and 0 < np.size(weights[last]) <= 12:  # the last value's Jacobian, both ways
            check_jacobians(leaves, program, base, grad_leaves, rtol, atol)
        _, tangent = mg.jvp(loss_of, base, directions)
        expected = sum(float(np.sum(n * d)) for n, d in zip(numerics, directions))
        scale = max(1.0, abs(expected))
        assert abs(float(tangent.item()) - expected) <= rtol * scale + atol * scale, (tangent, expected)
        grads = mg.grad(loss_of(*base), base, create_graph=True, allow_unused=True)
        used = [(g, d, t) for g, d, t in zip(grads, directions, base) if g is not None and g.requires_grad]
        if not used:
            return
        event("second order checked")
        along = sum(((g * mg.tensor(d)).sum() for g, d, _ in used[1:]), (used[0][0] * mg.tensor(used[0][1])).sum())
        hv = mg.grad(along, base, allow_unused=True)
        eps = 1e-5
        shifted = []
        for sign in (1, -1):
            point = [mg.tensor(t.numpy() + sign * eps * d, requires_grad=True) for t, d in zip(base, directions)]
            shifted.append(mg.grad(loss_of(*point), point, allow_unused=True))
        _, forward_over_reverse = mg.hvp(loss_of, base, directions)
        if len(base) == 1:  # (one primal: the product itself, not a tuple)
            forward_over_reverse = (forward_over_reverse,)
    for i, (h, up, down, fr) in enumerate(zip(hv, *shifted, forward_over_reverse)):
        if up is None:
            continue
        numeric = (up.numpy() - down.numpy()) / (2 * eps)
        got = np.zeros_like(numeric) if h is None else h.numpy()
        scale = max(1.0, float(np.max(np.abs(numeric), initial=0)))
        np.testing.assert_allclose(got, numeric, rtol=100 * rtol, atol=100 * atol * scale,
                                   err_msg=f"Hessian-vector product, leaf {grad_leaves[i]}")
        np.testing.assert_allclose(fr.numpy(), got, rtol=100 * rtol, atol=100 * atol * scale,
                                   err_msg=f"mg.hvp (forward over reverse), leaf {grad_leaves[i]}")


@settings(max_examples=600)  # (about 10 s; the profile's 15 rarely reach a repeated index)
@given(programs())
def test_random_programs_against_numpy_and_finite_differences(case):
    check_program(*case)


@pytest.mark.slow
@settings(max_examples=3000)
@given(programs())
def test_random_programs_many(case):
    check_program(*case)

"""The LSTM's fused kernel: all T steps of one layer and direction as one op,
forward and backpropagation through time written by hand in NumPy.

It is a fast path. What it computes is defined by the composed cell --
``LSTM_CELL``'s step scanned by ``mg.scan`` (nn/recurrent.py) -- and it gives
that to float rounding (tests/nn/test_lstm_kernel.py holds it to the composed
layer, and to finite differences). A layer runs the composed scan instead
when told to (``layer.fused = False``), for the peephole LSTM and cells of
your own, and where the kernel's NumPy cannot follow: inside a traced scan
step and in forward mode (the inputs are then tracers or duals). A
``create_graph`` backward through the kernel differentiates the composed
scan, run again on the saved inputs, so gradients of gradients are the
composed definition's.

Why a kernel: the composed layer runs the same NumPy arithmetic per step,
but pays per call for what makes it general -- scan's trace lookup, the
gates put in order by ops, a node per op: ~110 µs of fixed cost, beside a
hand-written forward of ~300 µs for a 20-step, 32-unit LSTM -- and its
backward moves each gate's gradient through split and concat, where here
each lands in one buffer. The kernel also keeps NumPy's calls few and on
whole rows (an op on a column slice of the gates costs ~3x as much per
element): benchmarks.rnn measures it against a hand-written NumPy LSTM.

The math, gates in the order i, f, o, g (the stored i, f, g, o permuted
once per call):

    a_t = W_ih x_t + b_ih + b_hh + W_hh h_{t-1}
    i, f, o = σ(a_ifo),  g = tanh(a_g)         σ(a) = (1 + tanh(a/2)) / 2
    c_t = f·c_{t-1} + i·g,  h_t = o·tanh(c_t)

(the i, f, o rows of the weights are halved once per call, so one tanh
over a_t, scaled and shifted row-wide, gives all four gates; the bias
rides on a column of ones beside x's rows). Backward, with h̄_t (from the output and
from step t+1) and c̄_t (from step t+1, and from the output with ``every``):

    c̄_t += h̄_t·o·(1 − tanh²c_t) = h̄_t·(o − h_t·tanh c_t)
    ā_i = c̄_t·g·i(1−i),  ā_f = c̄_t·c_{t-1}·f(1−f),  ā_o = h̄_t·tanh c_t·o(1−o),  ā_g = c̄_t·i·(1−g²)
    h̄_{t-1} = ā_t W_hh,  c̄_{t-1} = c̄_t·f
    x̄_t = ā_t W_ih,  W̄_ih = Σ_t ā_tᵀ x_t,  W̄_hh = Σ_t ā_tᵀ h_{t-1},  b̄_ih = b̄_hh = Σ_t ā_t
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

import minigrad as mg
from minigrad import Tensor

_ORDER = (0, 1, 3, 2)  # stored i, f, g, o -> computed i, f, o, g (a swap: its own inverse)
_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def lstm_kernel(x: Tensor, state: tuple, params: dict, *, reverse: bool, every: bool, composed: Callable) -> tuple:
    """What ``composed(x, state, params)`` -- the layer's scan of the LSTM
    step -- gives: ``(hs, (h_n, c_n))``, or with ``every`` ``((hs, cs), (h_n,
    c_n))``, for x (T, B, I), state (h0, c0) each (B, H) and one layer and
    direction's parameters by name (PyTorch's layout); hs and cs are (T, B, H)
    by time step, whichever way the sequence runs."""
    names = [name for name in _NAMES if name in params]
    args = (x, *state, *(params[name] for name in names))
    needs = tuple(t.requires_grad for t in args)
    versions = [t._version for t in args]  # (the counters themselves: see _differentiated_again)

    def reference(x, h0, c0, *weights):  # (hs, cs) or (hs, c_n), composed
        outputs, final = composed(x, (h0, c0), dict(zip(names, weights)))
        return outputs if every else (outputs, final[1])

    hs, c = _lstm_sequence(*args, reverse=reverse, every=every, keep=mg.is_grad_enabled() and any(needs),
                           needs=needs, reference=reference, versions=versions)
    last = 0 if reverse else -1
    return ((hs, c), (hs[last], c[last])) if every else (hs, (hs[last], c))


@mg.primitive(save_inputs=True, save_output=True, name="lstm_sequence")
def _lstm_sequence(x, h0, c0, w_ih, w_hh, *biases, reverse, every, keep, needs, reference, versions):
    """The op on arrays: ``(hs, cs)`` or ``(hs, c_n)``, and its VJP. ``keep``:
    it is being recorded (keep what the backward needs); ``needs``: which
    inputs want a gradient; ``versions``: the inputs' version counters."""
    steps, batch, _ = x.shape
    hidden = h0.shape[-1]
    dtype = x.dtype
    rows = _rows(hidden)
    half, shift, _, _ = _gate_constants(hidden, dtype)
    w_ih_r, w_hh_r = w_ih[rows], w_hh[rows]
    x_rows = x.reshape(steps * batch, x.shape[-1])
    projection = w_ih_r.T * half
    if biases:  # the bias as the weight of one more input, a column of ones: no pass over acts to add it
        x_rows = np.concatenate([x_rows, np.ones((steps * batch, 1), dtype)], axis=1)
        projection = np.concatenate([projection, ((biases[0] + biases[1])[rows] * half)[None]])
    acts = (x_rows @ projection).reshape(steps, batch, 4 * hidden)
    recurrent = (w_hh_r * half[:, None]).T
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    hs = np.empty((steps, batch, hidden), dtype)
    cs = np.empty((steps, batch, hidden), dtype) if keep or every else None
    tanh_c = np.empty((steps, batch, hidden), dtype) if keep else None
    product = np.empty((batch, 4 * hidden), dtype)
    ig = np.empty((batch, hidden), dtype)
    cells = cs if cs is not None else (np.empty_like(ig), np.empty_like(ig))  # (else two, taken in turn)
    h, c = h0, c0
    three = 3 * hidden
    for t in order:
        a = acts[t]
        a += np.matmul(h, recurrent, out=product)
        np.tanh(a, out=a)
        np.multiply(a, half, out=a)  # (whole rows: faster than the i, f, o columns alone)
        np.add(a, shift, out=a)
        c_new = cells[t if cs is not None else t % 2]
        np.multiply(a[:, hidden:2 * hidden], c, out=c_new)
        c_new += np.multiply(a[:, :hidden], a[:, three:], out=ig)
        tc = np.tanh(c_new, out=tanh_c[t] if keep else ig)
        h = np.multiply(a[:, 2 * hidden:three], tc, out=hs[t])
        c = c_new
    out = (hs, cs if every else c)

    def vjp(g: tuple, outputs: tuple, *inputs):
        """Every input's gradient (the module docstring's math)."""
        if any(isinstance(gk, Tensor) for gk in g):  # create_graph: the composed definition, differentiated
            return _differentiated_again(reference, inputs, versions, g)
        if not keep:
            raise RuntimeError("lstm_sequence: recorded without keeping its forward (internal error)")
        return _backward(g, outputs[0], cs, tanh_c, acts, inputs, x_rows, w_ih_r, w_hh_r, order, every, needs)

    return out, vjp


_lstm_sequence.spec.all_at_once = True  # its VJP gives every input's gradient in one call


@functools.lru_cache(maxsize=64)
def _gate_constants(hidden: int, dtype: np.dtype) -> tuple:
    """Per column of the gates (i, f, o, g): the tanh's scale and shift that
    make σ of the i, f, o columns, (0.5, 0.5) there and (1, 0) for g; and
    the masks m = 1 for i, f, o and 1 − m, for the slopes a(m − a) + (1 − m)."""
    ifo = np.zeros(4 * hidden, dtype)
    ifo[:3 * hidden] = 1
    constants = (1 - ifo / 2, ifo / 2, ifo, 1 - ifo)
    for c in constants:
        c.flags.writeable = False
    return constants


@functools.lru_cache(maxsize=64)
def _rows(hidden: int) -> np.ndarray:
    """The row permutation that puts the stored i, f, g, o blocks in the order i, f, o, g."""
    rows = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in _ORDER])
    rows.flags.writeable = False
    return rows


def _backward(g: tuple, hs, cs, tanh_c, gates, inputs: tuple, x_rows, w_ih_r, w_hh_r, order: range,
              every: bool, needs: tuple) -> list:
    """The op's inputs' gradients (None where not needed) from the outputs' ``g``,
    by the module docstring's math; ``x_rows``: x's rows as the forward
    projected them (with the column of ones when there are biases)."""
    x, h0, c0 = inputs[:3]
    g_hs, g_c = g
    steps, batch, hidden = hs.shape
    three = 3 * hidden
    d_acts = np.empty_like(gates)
    dh = np.zeros_like(h0)
    dc = np.zeros_like(c0) if every or g_c is None else np.array(g_c, dtype=c0.dtype)
    work = np.empty_like(dh)
    slope = np.empty_like(gates[0])
    _, _, ifo, g_ones = _gate_constants(hidden, hs.dtype)
    back = order[::-1]
    for n, t in enumerate(back):
        if g_hs is not None:
            dh += g_hs[t]
        if every and g_c is not None:
            dc += g_c[t]
        a, da, tc = gates[t], d_acts[t], tanh_c[t]
        c_prev = cs[back[n + 1]] if n + 1 < steps else c0
        i, f, o, gg = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:three], a[:, three:]
        np.multiply(hs[t], tc, out=work)  # c̄ += h̄·o·(1 − tanh²c) = h̄·(o − h·tanh c)
        np.subtract(o, work, out=work)
        work *= dh
        dc += work
        np.multiply(dc, gg, out=da[:, :hidden])  # the gates' gradients: c̄·g, c̄·c_{t-1}, h̄·tanh c, c̄·i ...
        np.multiply(dc, c_prev, out=da[:, hidden:2 * hidden])
        np.multiply(dh, tc, out=da[:, 2 * hidden:three])
        np.multiply(dc, i, out=da[:, three:])
        np.subtract(ifo, a, out=slope)  # ... times their slopes a(m − a) + (1 − m): σ' = σ − σ², tanh' = 1 − g²
        slope *= a
        slope += g_ones
        da *= slope
        dc *= f
        dh = da @ w_hh_r
    flat = d_acts.reshape(steps * batch, 4 * hidden)
    rows = _rows(hidden)  # (its own inverse)
    grads = [None] * len(inputs)
    if needs[0]:
        grads[0] = (flat @ w_ih_r).reshape(x.shape)
    grads[1], grads[2] = (dh, dc) if needs[1] or needs[2] else (None, None)
    if needs[3] or (len(inputs) > 5 and (needs[5] or needs[6])):
        by_input = (flat.T @ x_rows)[rows]  # W̄_ih, and b̄ in the column of the ones
        grads[3] = by_input[:, :x.shape[-1]]
        if len(inputs) > 5:
            grads[5], grads[6] = by_input[:, -1], by_input[:, -1].copy()
    if needs[4]:  # step t's h_{t-1}: h0 at the first step run, else the h of the step run before
        first, later, before = (0, slice(1, None), slice(None, -1)) if order.step == 1 else \
            (steps - 1, slice(None, -1), slice(1, None))
        w_hh_grad = d_acts[first].T @ h0
        if steps > 1:
            rest = (steps - 1) * batch
            w_hh_grad += d_acts[later].reshape(rest, 4 * hidden).T @ hs[before].reshape(rest, hidden)
        grads[4] = w_hh_grad[rows]
    return grads


def _differentiated_again(reference: Callable, inputs: tuple, versions: list, g: tuple) -> list:
    """The VJP under create_graph: the composed definition run on copies of
    the inputs (graph tensors) and differentiated back to them on the tape,
    so that the gradients are differentiable again (as scan's tape_vjp).
    The copies share the inputs' version counters (``versions``), as scan's
    do: an input changed in place after this backward makes the next one
    through them raise, as it does through the composed layer."""
    copies = [mg.clone(x) for x in inputs]
    for copy, version in zip(copies, versions):
        copy._version = version
    outs = reference(*copies)
    pairs = [(out, gk) for out, gk in zip(outs, g) if gk is not None and out.requires_grad]
    wanted = [x for x in copies if x.requires_grad]
    if not pairs or not wanted:
        return [None] * len(copies)
    grads = iter(mg.grad([o for o, _ in pairs], wanted, [gk for _, gk in pairs], create_graph=True,
                         allow_unused=True))
    return [next(grads) if x.requires_grad else None for x in copies]

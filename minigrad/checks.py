"""Check analytic gradients against central finite differences (float64).

``gradcheck`` compares the full Jacobian (or, with ``fast_mode``, one random
projection v·J·u per input) of ``fn`` at ``inputs``; ``gradgradcheck`` does
the same for the function that returns ``fn``'s gradient, so it checks the
VJPs' own VJPs -- what ``create_graph`` relies on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import enable_grad, no_grad
from .tensor import Tensor
from .transforms import grad


class GradcheckError(AssertionError):
    """Raised by gradcheck / gradgradcheck when a gradient is wrong."""


def _outputs(result: Any) -> list[Tensor]:
    result = list(result) if isinstance(result, (list, tuple)) else [result]
    for k, out in enumerate(result):
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, output {k} is {type(out).__name__}")
    return result


def _checked_inputs(inputs: Sequence, caller: str) -> list[int]:
    positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in positions:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"{caller}: input {i} has dtype {inputs[i].dtype}; finite differences need float64 "
                            "inputs (make them with dtype=np.float64)")
    if not positions:
        raise ValueError(f"{caller}: no input requires grad, so there is nothing to check")
    return positions


def _check_tolerances(caller: str, eps, atol, rtol) -> None:
    """eps must be a positive number, atol and rtol numbers >= 0: anything else
    made a right gradient 'wrong' (eps=0: numeric NaN) or failed inside NumPy."""
    for name, value, least in (("eps", eps, None), ("atol", atol, 0), ("rtol", rtol, 0)):
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        if not number or not np.isfinite(value) or (value <= 0 if least is None else value < least):
            wanted = "a positive number" if least is None else "a number >= 0"
            raise ValueError(f"{caller}: {name} must be {wanted}, got {value!r}")


def _evaluate(fn: Callable, inputs: Sequence) -> list[np.ndarray]:
    """fn's outputs as float64 arrays for the central differences: under
    no_grad (nothing recorded), or with grad mode on, as the analytic side
    ran it, when fn fails without the tape (it takes a gradient inside)."""
    try:
        with no_grad():
            outputs = _outputs(fn(*inputs))
    except RuntimeError:
        with enable_grad():
            outputs = _outputs(fn(*inputs))
    return [np.array(out.data, dtype=np.float64) for out in outputs]


def _recorded(fn: Callable, inputs: Sequence) -> list[Tensor]:
    """fn's outputs with their graph, in grad mode whatever the caller's (under
    no_grad nothing would be recorded, and a right gradient would look like 0)."""
    with enable_grad():
        return _outputs(fn(*inputs))


def _numeric_jacobians(fn, inputs, i: int, eps: float) -> list[np.ndarray]:
    """d outputs / d inputs[i] by central differences: one (out.size, x.size) block per output."""
    x = inputs[i].data
    columns = []
    for j in range(x.size):
        original = x.flat[j]
        x.flat[j] = original + eps
        plus = _evaluate(fn, inputs)
        x.flat[j] = original - eps
        minus = _evaluate(fn, inputs)
        x.flat[j] = original
        columns.append([((p - m) / (2 * eps)).ravel() for p, m in zip(plus, minus)])
    return [np.stack([c[k] for c in columns], axis=1) if columns else np.zeros((o.size, 0))
            for k, o in enumerate(_evaluate(fn, inputs))]


def _analytic_jacobians(outputs: list[Tensor], inputs: Sequence, positions: list[int]) -> dict:
    """{(k, i): (out_k.size, x_i.size) block}, one backward per output element."""
    blocks = {}
    for k, out in enumerate(outputs):
        for i in positions:
            blocks[k, i] = np.zeros((out.size, inputs[i].size))
        if not out.requires_grad or out.dtype.kind != "f":
            continue
        for m in range(out.size):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed.flat[m] = 1
            grads = grad(out, [inputs[i] for i in positions], grad_outputs=Tensor(seed), retain_graph=True,
                         allow_unused=True)
            for i, g in zip(positions, grads):
                if g is not None:
                    blocks[k, i][m] = g.data.ravel()
    return blocks


def _first_failure(analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float):
    """(row, column) of the worst element outside atol + rtol·|numeric|, or None."""
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if excess.size == 0 or excess.max() <= 0 and np.isfinite(analytic).all():
        return None
    excess = np.where(np.isfinite(analytic), excess, np.inf)
    return np.unravel_index(np.argmax(excess), excess.shape)


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def _full_check(fn, inputs, positions, eps, atol, rtol, raise_exception, caller) -> bool:
    outputs = _recorded(fn, inputs)
    analytic = _analytic_jacobians(outputs, inputs, positions)
    for i in positions:
        numeric = _numeric_jacobians(fn, inputs, i, eps)
        for k, out in enumerate(outputs):
            worst = _first_failure(analytic[k, i], numeric[k], atol, rtol)
            if worst is not None:
                m, j = worst
                a, n = analytic[k, i][m, j], numeric[k][m, j]
                where_in = tuple(int(v) for v in np.unravel_index(j, inputs[i].shape))
                where_out = tuple(int(v) for v in np.unravel_index(m, out.shape))
                return _fail(f"{caller}: wrong gradient for input {i} (shape {inputs[i].shape}) at element "
                             f"{where_in}, output {k} element {where_out}: "
                             f"analytic {a:.8g} vs numeric {n:.8g} (|diff| {abs(a - n):.3g} > atol {atol:g} + "
                             f"rtol {rtol:g}·|numeric|){_imprecise(out, k)}", raise_exception)
    return True


def _imprecise(out: Tensor, k: int) -> str:
    """What to add to a failure on output ``k``: that a float output narrower
    than float64 makes the numeric side wrong, not (necessarily) the gradient."""
    if out.dtype.kind != "f" or out.dtype == np.float64:
        return ""
    return (f"; but output {k} has dtype {out.dtype}, so its central differences carry its rounding error over "
            f"2·eps: compute fn in float64 to check it")


def _fast_check(fn, inputs, positions, eps, atol, rtol, raise_exception, caller) -> bool:
    rng = np.random.default_rng(0)
    outputs = _recorded(fn, inputs)
    directions = [rng.standard_normal(out.shape) for out in outputs]  # v
    live = [(out, v) for out, v in zip(outputs, directions) if out.requires_grad and out.dtype.kind == "f"]
    for i in positions:
        u = rng.standard_normal(inputs[i].shape)
        analytic = 0.0
        if live:
            (g,) = grad([o for o, _ in live], [inputs[i]], grad_outputs=[Tensor(v.astype(o.dtype)) for o, v in live],
                        retain_graph=True, allow_unused=True)
            analytic = 0.0 if g is None else float(np.sum(g.data * u))
        x, original = inputs[i].data, inputs[i].data.copy()
        x += eps * u
        plus = _evaluate(fn, inputs)
        x[...] = original - eps * u
        minus = _evaluate(fn, inputs)
        x[...] = original
        numeric = sum(float(np.sum(v * (p - m))) for v, p, m in zip(directions, plus, minus)) / (2 * eps)
        if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
            # find the element to blame with the full Jacobian of this input
            if not _full_check(fn, inputs, [i], eps, atol, rtol, raise_exception, caller):
                return False
            return _fail(f"{caller}: wrong gradient for input {i} (shape {inputs[i].shape}) in a random "
                         f"direction: v·J·u analytic {analytic:.8g} vs numeric {numeric:.8g}", raise_exception)
    return True


def gradcheck(fn: Callable[..., Any], inputs: Sequence | Tensor, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, fast_mode: bool = False, raise_exception: bool = True) -> bool:
    """True if ``fn``'s analytic gradients at ``inputs`` match central
    differences for every input that requires grad (float64). On a mismatch
    raise GradcheckError naming the input, the worst element, and both values
    (or return False when ``raise_exception=False``)."""
    _check_tolerances("gradcheck", eps, atol, rtol)
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    positions = _checked_inputs(inputs, "gradcheck")
    check = _fast_check if fast_mode else _full_check
    return check(fn, inputs, positions, eps, atol, rtol, raise_exception, "gradcheck")


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence | Tensor, grad_outputs: Sequence | None = None,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, fast_mode: bool = False,
                  raise_exception: bool = True) -> bool:
    """gradcheck of (inputs, v) -> v·d fn/d inputs, the gradient built with
    ``create_graph=True``: second derivatives and the VJPs of the VJPs."""
    _check_tolerances("gradgradcheck", eps, atol, rtol)
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    positions = _checked_inputs(inputs, "gradgradcheck")
    outputs = [o for o in _outputs(fn(*inputs))]
    if grad_outputs is None:
        rng = np.random.default_rng(1)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):  # (zip would check only some outputs' second derivatives)
        raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for the {len(outputs)} outputs of fn")
    for k, (v, o) in enumerate(zip(grad_outputs, outputs)):
        shape = v.shape if isinstance(v, Tensor) else np.shape(v)
        if shape != o.shape:
            raise ValueError(f"gradgradcheck: grad_outputs[{k}] has shape {shape}, output {k} has shape {o.shape}")
    n = len(inputs)

    @enable_grad()  # finite differences call this under no_grad, but it needs the tape
    def first_derivative(*args):
        xs, vs = args[:n], args[n:]
        pairs = [(o, v) for o, v in zip(_outputs(fn(*xs)), vs) if o.requires_grad]
        if not pairs:
            return tuple(Tensor(np.zeros(xs[i].shape)) for i in positions)
        grads = grad([o for o, _ in pairs], [xs[i] for i in positions], grad_outputs=[v for _, v in pairs],
                     create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(xs[i].shape)) for g, i in zip(grads, positions))

    all_inputs = inputs + grad_outputs
    check = _fast_check if fast_mode else _full_check
    return check(first_derivative, all_inputs, _checked_inputs(all_inputs, "gradgradcheck"), eps, atol, rtol,
                 raise_exception, "gradgradcheck")

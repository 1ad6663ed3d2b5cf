"""Real-time recurrent learning (Williams & Zipser, 1989): the gradient of a
tanh RNN computed *forward* in time, alongside the forward pass -- forward-mode
differentiation through time, done here with minigrad's forward mode, ``mg.jvp``.

For h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) and a loss L = Σ_t L_t(h_t),
RTRL carries the sensitivities S_t = ∂h_t/∂θ of the state to every parameter θ_p:

    S_t = ∂h_t/∂h_{t-1} · S_{t-1} + ∂h_t/∂θ,      ∂L/∂θ = Σ_t ∂L_t/∂h_t · S_t + ∂L_t/∂θ

Column p of that is a Jacobian-vector product of one step: move the
parameters along e_p (element p by one) and the state along S_{t-1}[p]; the
step's tangent is S_t[p], and the loss's tangent is ∂L_t/∂θ_p. So each time
step is one ``mg.jvp`` of the step, all P directions at once: they are
stacked on a leading axis of length P, along which the values are broadcast
(P copies of the network, each moving along its own direction). No tape and
no stored past: the gradient is complete the moment the sequence ends.

The bill. The tangents are P times the state, O(P·B·H) = O(B·H³), however
long the sequence; BPTT stores every step, O(T·B·H). But each step costs
O(P·B·H²) = O(B·H⁴) against BPTT's O(B·H²) -- forward mode pays one pass per
parameter direction, reverse mode one pass for all of them (examples/rtrl_vs_bptt.py
measures both). The directions themselves are the P×P identity, O(H⁴), made once.

Here the loss is L = Σ_t ½‖W_o h_t + b_o − y_t‖² (summed over batch and
steps), for an ``nn.RNNCell`` (tanh) with an ``nn.Linear`` readout.
"""

from __future__ import annotations

import functools

import numpy as np

import minigrad as mg

from .layers import Linear
from .recurrent import RNNCell


def _step(h, w_ih, w_hh, b_ih, b_hh, w_o, b_o, *, x, y):
    """One step of the cell and its loss, for parameters with a leading axis
    of copies (biases shaped (copies, 1, n) to broadcast over the batch):
    (h_t, L_t per copy)."""
    h = mg.tanh(x @ w_ih.swapaxes(-1, -2) + b_ih + h @ w_hh.swapaxes(-1, -2) + b_hh)
    error = h @ w_o.swapaxes(-1, -2) + b_o - y
    return h, 0.5 * (error * error).sum(axis=(-2, -1))


def _unit_directions(copies: int, start: int, shape: tuple) -> np.ndarray:
    """A parameter's share of the P×P identity, (P, *shape): direction
    ``start + k`` moves its element k by one, the other directions leave it."""
    size = int(np.prod(shape))
    out = np.zeros((copies, size))
    out[start + np.arange(size), np.arange(size)] = 1.0
    return out.reshape(copies, *shape)


def rtrl_gradients(cell: RNNCell, readout: Linear, inputs: np.ndarray, targets: np.ndarray,
                   h0: np.ndarray | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """(loss, {parameter name: gradient}) for inputs (T, B, I), targets
    (T, B, O) and the first state h0 (B, H; zeros by default), in float64;
    names are the cell's (weight_ih, weight_hh, bias_ih, bias_hh) and the
    readout's prefixed with ``readout.``."""
    if not isinstance(cell, RNNCell) or not isinstance(readout, Linear):
        raise TypeError(f"rtrl_gradients: needs an nn.RNNCell and an nn.Linear readout, got "
                        f"{type(cell).__name__} and {type(readout).__name__}")
    if cell.nonlinearity != "tanh" or not cell.bias or readout.bias is None:
        raise ValueError("rtrl_gradients: needs a tanh RNNCell and a Linear readout, both with biases")
    if readout.in_features != cell.hidden_size:
        raise ValueError(f"rtrl_gradients: the readout takes {readout.in_features} features but the cell's "
                         f"hidden_size is {cell.hidden_size}")
    inputs, targets = np.asarray(inputs, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    if inputs.ndim != 3 or inputs.shape[2] != cell.input_size or \
            targets.shape != (*inputs.shape[:2], readout.out_features):
        raise ValueError(f"rtrl_gradients: inputs must be (T, B, {cell.input_size}) and targets "
                         f"(T, B, {readout.out_features}), got {inputs.shape} and {targets.shape}")
    steps, batch, _ = inputs.shape
    named = {name: p for name, p in cell.named_parameters()} | \
        {f"readout.{name}": p for name, p in readout.named_parameters()}
    values = [np.asarray(p.data, dtype=np.float64) for p in named.values()]
    values = [v.reshape(1, -1) if v.ndim == 1 else v for v in values]  # biases broadcast over the batch
    order = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "readout.weight", "readout.bias"]
    values = [values[list(named).index(name)] for name in order]
    sizes = [v.size for v in values]
    copies = sum(sizes)  # P: one direction per parameter element
    starts = np.cumsum([0] + sizes)
    directions = [mg.tensor(_unit_directions(copies, a, v.shape)) for a, v in zip(starts, values)]
    parameters = [mg.broadcast_to(mg.tensor(v), (copies, *v.shape)) for v in values]

    hidden = cell.hidden_size
    h0 = np.zeros((batch, hidden)) if h0 is None else np.asarray(h0, dtype=np.float64)
    if h0.shape != (batch, hidden):  # (an (H,) or (1, H) h0 would be broadcast over the batch)
        raise ValueError(f"rtrl_gradients: h0 must be (B, H) = ({batch}, {hidden}), got shape {h0.shape}")
    h = mg.tensor(h0)
    h = mg.broadcast_to(h, (copies, batch, hidden))
    sensitivity = mg.zeros(copies, batch, hidden, dtype=np.float64)  # S_0 = 0: h0 is given
    loss, grad = 0.0, np.zeros(copies)
    for t in range(steps):
        step = functools.partial(_step, x=mg.tensor(inputs[t]), y=mg.tensor(targets[t]))
        (h, step_loss), (sensitivity, step_grad) = mg.jvp(step, (h, *parameters), (sensitivity, *directions))
        loss += float(step_loss.data[0])
        grad += step_grad.data
    grads = {name: grad[a:b].reshape(named[name].shape) for name, a, b in zip(order, starts, starts[1:])}
    return loss, {name: grads[name] for name in named}

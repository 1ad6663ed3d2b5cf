"""Real-time recurrent learning (Williams & Zipser, 1989): the gradient of a
tanh RNN computed *forward* in time, alongside the forward pass, with no tape.

NumPy only, not on the tape: ``rtrl_gradients`` reads the weights of an
``nn.RNNCell`` and an ``nn.Linear`` and returns gradients as NumPy arrays
(the alternative to backpropagation, to compare with it); nothing it computes
is recorded or differentiable.

For h_t = tanh(a_t), a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, carry the
sensitivities S_t = ∂h_t/∂θ (B, H, P) for all P recurrent parameters θ:

    S_t = diag(1 − h_t²) (∂a_t/∂θ|direct + W_hh S_{t-1})

and add (∂L_t/∂h_t) S_t to the gradient at every step. Memory does not grow
with T (BPTT stores every step) but S costs O(H·P) = O(H³) memory and
O(H⁴) time per step (BPTT: O(H²)) -- why BPTT won, and why RTRL is the way
to learn online.

Here the loss is L = Σ_t ½‖W_o h_t + b_o − y_t‖² (summed over batch and
steps), for an ``nn.RNNCell`` (tanh) with an ``nn.Linear`` readout.
"""

from __future__ import annotations

import numpy as np

from .layers import Linear
from .recurrent import RNNCell


def rtrl_gradients(cell: RNNCell, readout: Linear, inputs: np.ndarray, targets: np.ndarray,
                   h0: np.ndarray | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """(loss, {parameter name: gradient}) for inputs (T, B, I) and targets
    (T, B, O); names are the cell's (weight_ih, weight_hh, bias_ih, bias_hh)
    and the readout's prefixed with ``readout.``."""
    if cell.nonlinearity != "tanh" or not cell.bias or readout.bias is None:
        raise ValueError("rtrl_gradients: needs a tanh RNNCell and a Linear readout, both with biases")
    w_ih, w_hh = cell.weight_ih.data, cell.weight_hh.data
    b = cell.bias_ih.data + cell.bias_hh.data
    w_o, b_o = readout.weight.data, readout.bias.data
    steps, batch, in_size = inputs.shape
    if in_size != cell.input_size or targets.shape != (steps, batch, readout.out_features):
        raise ValueError(f"rtrl_gradients: inputs must be (T, B, {cell.input_size}) and targets "
                         f"(T, B, {readout.out_features}), got {inputs.shape} and {targets.shape}")
    hidden = cell.hidden_size
    h = np.zeros((batch, hidden)) if h0 is None else np.asarray(h0, dtype=np.float64)
    eye = np.eye(hidden)
    # S (B, H, P), the parameters laid out as [W_ih (H·I), W_hh (H·H), b (H)].
    sensitivity = np.zeros((batch, hidden, hidden * in_size + hidden * hidden + hidden))
    grad = np.zeros(sensitivity.shape[-1])
    grads = {"readout.weight": np.zeros_like(w_o), "readout.bias": np.zeros_like(b_o)}
    loss = 0.0
    for t in range(steps):
        x, h_prev = inputs[t], h
        h = np.tanh(x @ w_ih.T + h_prev @ w_hh.T + b)
        # ∂a_k/∂W[i, j] = δ_ki · (input j): an (B, H, H, J) outer product with the identity.
        direct = np.concatenate([(eye[None, :, :, None] * x[:, None, None, :]).reshape(batch, hidden, -1),
                                 (eye[None, :, :, None] * h_prev[:, None, None, :]).reshape(batch, hidden, -1),
                                 np.broadcast_to(eye, (batch, hidden, hidden))], axis=-1)
        sensitivity = (1 - h * h)[:, :, None] * (direct + np.einsum("kj,bjp->bkp", w_hh, sensitivity))
        error = h @ w_o.T + b_o - targets[t]  # ∂L_t/∂y_t
        loss += 0.5 * float((error * error).sum())
        grads["readout.weight"] += error.T @ h
        grads["readout.bias"] += error.sum(0)
        grad += np.einsum("bk,bkp->p", error @ w_o, sensitivity)
    sizes = np.cumsum([hidden * in_size, hidden * hidden])
    g_ih, g_hh, g_b = np.split(grad, sizes)
    grads.update(weight_ih=g_ih.reshape(hidden, in_size), weight_hh=g_hh.reshape(hidden, hidden),
                 bias_ih=g_b, bias_hh=g_b.copy())
    return loss, grads

"""Recurrent layers -- RNN, LSTM (optionally with peepholes), GRU -- and their
cells, composed from minigrad ops with PyTorch's names, layouts and semantics.

Each layer type only says how many gate blocks it has and what one time step
does (``_rnn_step``, ``_lstm_step``, ``_gru_step``); the cell classes use
the same step functions. Everything else is shared by :class:`_Recurrent`:
stacking layers, the reverse direction, ``batch_first``, initial states,
dropout between layers and variable ``lengths``.

Speed: each layer and direction is one ``mg.scan`` (traced once, replayed
on arrays). The scan hoists what depends on x alone -- the input projection
W_ih x + b -- out of the loop: one matrix product for all time steps (per
block of scan's BLOCK_ROWS = 1024 rows of T·B, so the projection is
never held whole); a step does only the recurrent product and the gate
arithmetic. ``lengths`` follow PyTorch's packed semantics without running
sequences one by one: at step t a sequence that has ended keeps its state
(``where(t < length, new, old)``) and outputs 0, and the reverse direction of
a sequence starts at its own last real step because its state stays at h0
until then.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .module import Module, Parameter, _check_dtype

# -- one time step of each cell type ------------------------------------------------------
# ``projected`` is W_ih x + b_ih (+ b_hh where it can be folded in), shape (B, G*H);
# ``state`` a tuple of (B, H) tensors; ``weights`` what _prepare made of the
# parameters: "recurrent" is weight_hhᵀ, transposed once per sequence, not per step.


def _rnn_step(projected: Tensor, state: tuple, weights: dict, nonlinearity: str = "tanh") -> tuple:
    """h' = act(W_ih x + b_ih + W_hh h + b_hh)"""
    (h,) = state
    pre = mg.addmm(projected, h, weights["recurrent"])
    return (mg.tanh(pre) if nonlinearity == "tanh" else mg.relu(pre),)


def _lstm_step(projected: Tensor, state: tuple, weights: dict, **_) -> tuple:
    """i, f, o = σ(.), g = tanh(.);  c' = f·c + i·g;  h' = o·tanh(c').
    With peepholes i and f also see c, and o sees c' (diagonal weights).
    The gate blocks arrive in the order i, f, o, g (LSTM_TYPE.order), so one
    sigmoid covers i, f and o."""
    h, c = state
    hidden = h.shape[-1]
    ifo, g = mg.split(mg.addmm(projected, h, weights["recurrent"]), [3 * hidden, hidden], axis=-1)
    peep = weights.get("weight_peep")
    if peep is None:
        i, f, o = mg.split(mg.sigmoid(ifo), hidden, axis=-1)
        c = mg.addcmul(f * c, i, mg.tanh(g))
    else:
        i, f, o = mg.split(ifo, hidden, axis=-1)
        i, f = mg.sigmoid(mg.addcmul(i, peep[0], c)), mg.sigmoid(mg.addcmul(f, peep[1], c))
        c = mg.addcmul(f * c, i, mg.tanh(g))
        o = mg.sigmoid(mg.addcmul(o, peep[2], c))
    return o * mg.tanh(c), c


def _gru_step(projected: Tensor, state: tuple, weights: dict, **_) -> tuple:
    """r, z = σ(.);  n = tanh(W_in x + b_in + r·(W_hn h + b_hn));  h' = (1 − z)·n + z·h."""
    (h,) = state
    hidden = h.shape[-1]
    recurrent = mg.addmm(weights["bias_hh"], h, weights["recurrent"]) if "bias_hh" in weights \
        else h @ weights["recurrent"]
    x_rz, x_n = mg.split(projected, [2 * hidden, hidden], axis=-1)
    h_rz, h_n = mg.split(recurrent, [2 * hidden, hidden], axis=-1)
    r, z = mg.split(mg.sigmoid(x_rz + h_rz), hidden, axis=-1)
    n = mg.tanh(mg.addcmul(x_n, r, h_n))
    return (mg.addcmul(n, z, h - n),)


class _CellType:
    """What distinguishes RNN, LSTM and GRU: gate blocks, states, the step,
    whether b_hh can be folded into the input projection, and the order in
    which the step wants the gate blocks (the parameters keep PyTorch's)."""

    def __init__(self, gates: int, states: int, step: Callable, fold_hidden_bias: bool, order: tuple = ()):
        self.gates, self.states, self.step, self.fold_hidden_bias = gates, states, step, fold_hidden_bias
        self.order = order


RNN_TYPE = _CellType(1, 1, _rnn_step, fold_hidden_bias=True)
LSTM_TYPE = _CellType(4, 2, _lstm_step, fold_hidden_bias=True, order=(0, 1, 3, 2))  # stored i,f,g,o; used i,f,o,g
GRU_TYPE = _CellType(3, 1, _gru_step, fold_hidden_bias=False)  # b_hn sits inside r·(W_hn h + b_hn)


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _make_weights(module: Module, suffix: str, input_size: int, hidden_size: int, cell: _CellType, bias: bool,
                  peephole: bool, rng: np.random.Generator | None) -> None:
    """Register PyTorch's parameters (weight_ih{suffix}, weight_hh, bias_ih,
    bias_hh, and weight_peep for a peephole LSTM), all U(-1/√H, 1/√H)."""
    rng = mg.get_rng(rng)
    bound = 1.0 / math.sqrt(hidden_size)
    dtype = mg.get_default_dtype()
    shapes = {"weight_ih": (cell.gates * hidden_size, input_size), "weight_hh": (cell.gates * hidden_size, hidden_size)}
    if bias:
        shapes.update(bias_ih=(cell.gates * hidden_size,), bias_hh=(cell.gates * hidden_size,))
    if peephole:
        shapes["weight_peep"] = (3, hidden_size)
    for name, shape in shapes.items():
        setattr(module, name + suffix, Parameter(rng.uniform(-bound, bound, shape).astype(dtype)))


def _prepare(params: dict, cell: _CellType) -> dict:
    """What the steps use, made once per sequence from the parameters
    (weight_ih, weight_hh, bias_ih, bias_hh, weight_peep): the weights
    transposed, b_hh folded into the input bias where it can be, and the gate
    blocks in the cell's computing order."""
    hidden = params["weight_hh"].shape[1]

    rows = _gate_rows(cell.order, hidden) if cell.order else None

    def reorder(w: Tensor) -> Tensor:
        return w if rows is None else w[rows]  # the gate blocks permuted: one op

    weights = {"input": reorder(params["weight_ih"]).T, "recurrent": reorder(params["weight_hh"]).T}
    if "bias_ih" in params:
        folded = params["bias_ih"] + params["bias_hh"] if cell.fold_hidden_bias else params["bias_ih"]
        weights["bias"] = reorder(folded)
        if not cell.fold_hidden_bias:
            weights["bias_hh"] = reorder(params["bias_hh"])
    if "weight_peep" in params:
        weights["weight_peep"] = params["weight_peep"]
    return weights


@functools.lru_cache(maxsize=64)
def _gate_rows(order: tuple, hidden: int) -> np.ndarray:
    """The rows of a gate-stacked weight, block ``order[0]`` first, then ``order[1]``..."""
    rows = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in order])
    rows.flags.writeable = False  # shared by every call
    return rows


def _project(x: Tensor, weights: dict) -> Tensor:
    """W_ih x + bias for a (B, I) input. Inside a scan this depends on the
    slices only, so the scan runs it for all time steps at once (a block of
    up to 1024 rows at a time): one large matmul, not T small ones."""
    return mg.addmm(weights["bias"], x, weights["input"]) if "bias" in weights else x @ weights["input"]


def detach_state(state: Tensor | tuple) -> Tensor | tuple:
    """The state cut from the graph, for truncated BPTT: feed ``detach_state(h_n)``
    back as h0 of the next chunk, and backprop stops at the chunk boundary."""
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


class _Recurrent(Module):
    """Shared machinery of RNN, LSTM and GRU (see the module docstring)."""

    cell: _CellType

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 peephole: bool = False, rng: np.random.Generator | None = None):
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.num_layers = _check_size("num_layers", num_layers)
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} acts between layers only, and num_layers=1 has none", stacklevel=2)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.peephole = bool(bidirectional), bool(peephole)
        self.rng = rng
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else directions * hidden_size
            for direction in range(directions):
                _make_weights(self, self._suffix(layer, direction), layer_input, hidden_size, self.cell, bias,
                              peephole, rng)

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _weights(self, layer: int, direction: int) -> dict:
        suffix = self._suffix(layer, direction)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peep")
        return _prepare({name: self._parameters[name + suffix] for name in names
                         if name + suffix in self._parameters}, self.cell)

    def _step_settings(self) -> dict:
        return {}

    def extra_repr(self) -> str:
        extras = [f"{self.input_size}, {self.hidden_size}"]
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("peephole", False)):
            if getattr(self, name) != default:
                extras.append(f"{name}={getattr(self, name)}")
        return ", ".join(extras)

    def stepper(self) -> Callable:
        """One time step through every layer, weights prepared once: for
        decoders that feed each output back in. Returns ``step(x, states) ->
        (out, states)`` with x (B, I) and states a list (one per layer) of the
        cell's state tuples -- ``split_states`` makes that list from h0."""
        if self.bidirectional:
            raise ValueError(f"{type(self).__name__}: stepping needs a unidirectional layer")
        weights = [self._weights(layer, 0) for layer in range(self.num_layers)]
        settings = self._step_settings()

        def step(x: Tensor, states: list) -> tuple[Tensor, list]:
            new_states = []
            for layer, (w, state) in enumerate(zip(weights, states)):
                if layer and self.dropout and self.training:
                    x = _dropout(x, self.dropout, self.rng)
                state = self.cell.step(_project(x, w), tuple(state), w, **settings)
                new_states.append(state)
                x = state[0]
            return x, new_states

        return step

    def split_states(self, h0) -> list:
        """h0 in the layer's format -- (num_layers, B, H), a tuple of them for
        LSTM -- as the per-layer list a stepper takes."""
        given = h0 if isinstance(h0, tuple) else (h0,)
        return [tuple(s[layer] for s in given) for layer in range(self.num_layers)]

    def join_states(self, states: list):
        """The stepper's per-layer list back in the layer's h_n format."""
        joined = tuple(mg.stack([state[k] for state in states], axis=0) for k in range(self.cell.states))
        return joined if self.cell.states > 1 else joined[0]

    # -- the forward pass ---------------------------------------------------------------------
    def forward(self, x: Tensor, h0=None, lengths: Sequence[int] | np.ndarray | None = None):
        """``out, h_n = layer(x, h0, lengths)`` (LSTM: ``out, (h_n, c_n)``).

        x is (T, B, I), or (B, T, I) with batch_first, or (T, I) unbatched.
        out is (T, B, D·H): ``[..., :H]`` forward, ``[..., H:]`` reverse.
        h_n is (num_layers·D, B, H), indexed ``layer·D + direction``."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        unbatched = x.ndim == 2
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: input must be (T, B, {self.input_size}) "
                             f"(or 2-D unbatched), got shape {x.shape}")
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        steps, batch, features = x.shape
        if features != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input_size {self.input_size} features, "
                             f"got {features} (input shape {x.shape})")
        _check_dtype(self, "input", x, self.weight_hh_l0.dtype)
        states = self._initial_states(h0, batch, unbatched, x.dtype)
        masks, active = self._length_masks(lengths, steps, batch)

        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                out, final = self._run_direction(x, [s[index] for s in states], self._weights(layer, direction),
                                                 masks, active, reverse=direction == 1)
                outputs.append(out)
                finals.append(final)
            x = outputs[0] if directions == 1 else mg.concat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = _dropout(x, self.dropout, self.rng)
        if active < steps:  # steps after every sequence ended: output 0
            x = mg.concat([x, np.zeros((steps - active, batch, x.shape[-1]), dtype=x.dtype)], axis=0)
        final_states = tuple(mg.stack([f[k] for f in finals], axis=0) for k in range(self.cell.states))
        if unbatched:
            x = x.squeeze(1)
            final_states = tuple(s.squeeze(1) for s in final_states)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        return x, (final_states if self.cell.states > 1 else final_states[0])

    def _run_direction(self, x: Tensor, state: list, weights: dict, masks: Tensor | None, active: int,
                       reverse: bool) -> tuple[Tensor, tuple]:
        """One layer in one direction over the first ``active`` steps, as one
        ``mg.scan``: the step is traced once and replayed on arrays, and its
        input projection (it depends on x alone) runs on many steps' rows at
        once (see _project)."""
        settings = self._step_settings()

        def step(state: tuple, inputs: tuple) -> tuple:
            new = self.cell.step(_project(inputs[0], weights), state, weights, **settings)
            if masks is None:
                return new, new[0]
            inside = inputs[1]  # ended sequences keep their state and output 0
            return tuple(mg.where(inside, n, s) for n, s in zip(new, state)), mg.where(inside, new[0], 0.0)

        x = x[:active] if active < x.shape[0] else x
        state, outputs = mg.scan(step, tuple(state), (x,) if masks is None else (x, masks), reverse=reverse)
        return outputs, state

    def _initial_states(self, h0, batch: int, unbatched: bool, dtype) -> tuple:
        """h0 as a tuple of (num_layers·D, B, H) tensors (zeros if None), checked."""
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions, batch, self.hidden_size)
        if h0 is None:
            return tuple(Tensor(np.zeros(shape, dtype=dtype)) for _ in range(self.cell.states))
        given = h0 if isinstance(h0, tuple) else (h0,)
        if len(given) != self.cell.states:
            what = "a tuple (h0, c0)" if self.cell.states == 2 else "one tensor h0"
            raise ValueError(f"{type(self).__name__}: initial state must be {what}, got {len(given)} item(s)")
        states = []
        for name, s in zip(("h0", "c0"), given):
            s = s if isinstance(s, Tensor) else Tensor(s)
            expected = shape if not unbatched else (shape[0], shape[2])
            if s.shape != expected:
                raise ValueError(f"{type(self).__name__}: {name} must have shape {expected} "
                                 f"(num_layers*directions, batch, hidden_size), got {s.shape}")
            _check_dtype(self, name, s, self.weight_hh_l0.dtype)
            states.append(s.unsqueeze(1) if unbatched else s)
        return tuple(states)

    @staticmethod
    def _length_masks(lengths, steps: int, batch: int) -> tuple[Tensor | None, int]:
        """The (active, B, 1) mask "step t is inside sequence b", and how many
        steps any sequence reaches (``active``). No mask when every sequence
        is full length."""
        if lengths is None:
            return None, steps
        lengths = lengths.data if isinstance(lengths, Tensor) else np.asarray(lengths)
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"lengths must be integers, got dtype {lengths.dtype}")
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must hold one length per sequence: expected shape ({batch},), "
                             f"got {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > steps:
            raise ValueError(f"lengths must lie in 1..{steps} (the number of time steps), got values from "
                             f"{lengths.min()} to {lengths.max()}")
        if (lengths == steps).all():
            return None, steps
        active = int(lengths.max())
        return Tensor(np.arange(active)[:, None, None] < lengths[None, :, None]), active


def _dropout(x: Tensor, p: float, rng: np.random.Generator | None) -> Tensor:
    """Inverted dropout between layers: zero each element with probability p, scale the rest by 1/(1−p)."""
    keep = mg.get_rng(rng).random(x.shape) >= p
    return x * (keep / (1 - p)).astype(x.dtype)


class RNN(_Recurrent):
    """Elman RNN: h' = tanh (or relu)(W_ih x + b_ih + W_hh h + b_hh), stacked and/or bidirectional."""

    cell = RNN_TYPE

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, rng=rng)
        self.nonlinearity = nonlinearity

    def _step_settings(self) -> dict:
        return {"nonlinearity": self.nonlinearity}


class LSTM(_Recurrent):
    """LSTM with PyTorch's gate order i, f, g, o; ``peephole=True`` adds
    diagonal weights ``weight_peep_l{k}`` (3, H): i and f see c, o sees c'."""

    cell = LSTM_TYPE


class GRU(_Recurrent):
    """GRU with PyTorch's gate order r, z, n and its n = tanh(W_in x + b_in + r·(W_hn h + b_hn))."""

    cell = GRU_TYPE

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, rng=rng)


# -- cells: one step, the same step functions -------------------------------------------------

class _Cell(Module):
    cell: _CellType

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, peephole: bool = False,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.bias, self.peephole = bool(bias), bool(peephole)
        _make_weights(self, "", input_size, hidden_size, self.cell, bias, peephole, rng)

    def _step_settings(self) -> dict:
        return {}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def forward(self, x: Tensor, state=None):
        """One step: x (B, I) or (I,); state as the layer's h (LSTM: (h, c)), zeros if None."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must be (batch, {self.input_size}) or "
                             f"({self.input_size},), got shape {x.shape}")
        _check_dtype(self, "input", x, self.weight_hh.dtype)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        shape = (x.shape[0], self.hidden_size)
        if state is None:
            state = tuple(Tensor(np.zeros(shape, dtype=x.dtype)) for _ in range(self.cell.states))
        else:
            state = state if isinstance(state, tuple) else (state,)
            if len(state) != self.cell.states:
                raise ValueError(f"{type(self).__name__}: state must have {self.cell.states} tensor(s), "
                                 f"got {len(state)}")
            state = tuple(s if isinstance(s, Tensor) else Tensor(s) for s in state)
            state = tuple(s.unsqueeze(0) if unbatched else s for s in state)
            for s in state:
                if s.shape != shape:
                    raise ValueError(f"{type(self).__name__}: state must have shape {shape}, got {s.shape}")
                _check_dtype(self, "state", s, self.weight_hh.dtype)
        weights = _prepare({name: p for name, p in self._parameters.items() if p is not None}, self.cell)
        new = self.cell.step(_project(x, weights), state, weights, **self._step_settings())
        if unbatched:
            new = tuple(s.squeeze(0) for s in new)
        return new if self.cell.states > 1 else new[0]


class RNNCell(_Cell):
    """One Elman step: h' = tanh (or relu)(W_ih x + b_ih + W_hh h + b_hh)."""

    cell = RNN_TYPE

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 rng: np.random.Generator | None = None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng=rng)
        self.nonlinearity = nonlinearity

    def _step_settings(self) -> dict:
        return {"nonlinearity": self.nonlinearity}


class LSTMCell(_Cell):
    """One LSTM step (gate order i, f, g, o); ``peephole=True`` adds ``weight_peep`` (3, H)."""

    cell = LSTM_TYPE


class GRUCell(_Cell):
    """One GRU step (gate order r, z, n)."""

    cell = GRU_TYPE

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng: np.random.Generator | None = None):
        super().__init__(input_size, hidden_size, bias, rng=rng)

"""Recurrent layers, and the public base they are built on.

A cell type is a :class:`CellSpec`: how many gate blocks it has, how many
state tensors, and what one time step does. :class:`RecurrentLayer` turns a
spec into a full layer -- stacked layers, the reverse direction,
``batch_first``, initial states, ``lengths``, dropout between layers,
``stepper()`` for decoding and PyTorch's parameter names -- and
:class:`RecurrentCell` into a one-step module. ``nn.RNN``, ``nn.LSTM`` and
``nn.GRU`` (and their cells) are nothing but such specs; a cell of your own
gets all of the above the same way (docs/writing-a-layer.md).

What a layer promises (PyTorch's semantics):

- **Shapes.** x is (T, B, I), or (B, T, I) with ``batch_first`` (which
  affects x and out only, never the states), or (T, I) unbatched; T >= 1,
  B >= 0 (an empty batch gives empty outputs). ``out`` is (T, B, D·H), D = 2
  when bidirectional: ``out[..., :H]`` the forward direction,
  ``out[..., H:]`` the reverse one.
- **States.** Each state tensor (h; for an LSTM h and c) is
  (num_layers·D, B, H), row ``layer·D + direction``: ``h_n[-2]`` and
  ``h_n[-1]`` are the last layer's forward and reverse states. h0/c0 have the
  same layout (zeros when not given); an LSTM takes ``(h0, c0)`` or
  ``[h0, c0]`` and returns ``(h_n, c_n)``. ``detach_state(h_n)`` cuts the
  graph for truncated BPTT.
- **lengths** (B integers in 1..T; the rest of each sequence is padding)
  gives exactly what running each sequence alone gives (packed sequences):
  out is 0 past a sequence's end, in both directions; the forward
  direction's final state is the one after the sequence's last real step;
  the reverse direction starts *at* that last real step (from h0) and ends
  after step 0, so padding never enters either direction.
- **Dropout** (``dropout=p``) zeroes each output of every layer but the last
  with probability p and scales the rest by 1/(1 − p) (``nn.functional.dropout``),
  in training mode only: after ``eval()`` the layer is deterministic.
- **Dtypes.** The input and the initial states must have the parameters'
  dtype (float32 unless the layer was made under another default dtype or
  moved with ``.to(np.float64)``). Anything else -- float64 into a float32
  layer, an integer array -- is a TypeError naming both dtypes (the check
  every nn layer makes, ``_checks.check_dtype``), never a silent cast.

Speed: each layer and direction is one ``mg.scan`` (traced once, replayed
on arrays; for a pure cell -- the built-in ones -- the parameters are the
scan's ``consts``, so later calls with the same shapes reuse the trace and
the weights are made inside the scan). The scan hoists what depends on x
alone -- the input projection W_ih x + b -- out of the loop: one matrix product per block of up to
BLOCK_ROWS = 1024 rows of T·B, never the projection of all steps at once;
a step does only the recurrent product and the gate arithmetic. ``lengths``
need no sequence-by-sequence loop. The padding is zeroed once (so even NaN
there never enters). The plain way: at step t a sequence that has ended
keeps its state (``where(t < length, new, old)``) and outputs 0, and the
reverse direction of a sequence starts at its own last real step because
its state stays at h0 until then. For a ``bounded`` cell (all the built-in
ones but the relu RNN) the layer skips those per-step masks: it runs every
step unmasked -- the reverse direction over each sequence reversed within
its length (``x[flip, batch]``), and back -- picks each final state at the
sequence's last step and zeroes the outputs past the ends once per layer.
The steps run past an end change nothing a sequence reads (their state
stays finite, so their zero gradients stay zero).

The LSTM (without peepholes) runs a kernel instead of the scan: all steps
of a layer and direction as one op, forward and backward written by hand
in NumPy (nn/lstm_kernel.py, a ``CellSpec.kernel``). It gives what the scan
gives, to float rounding; ``layer.fused = False`` runs the scan, the
definition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import Tensor
from minigrad.tensor import takes_over_ops

from . import functional as F
from ._checks import as_real, check_dtype, check_flag, check_lengths, check_positive_int
from .lstm_kernel import lstm_kernel
from .module import Module, Parameter

_STANDARD_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass(frozen=True)
class CellSpec:
    """What makes one recurrent cell type differ from another.

    - ``gates``: G, the number of H-wide blocks stacked in the parameters
      ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H), ``bias_ih`` and
      ``bias_hh`` (G·H,), in PyTorch's layout.
    - ``states``: how many (B, H) state tensors the cell carries; the first
      is h, the layer's output (LSTM: 2, h and c).
    - ``step(projected, state, weights) -> new state``: one time step.
      ``projected`` is W_ih x + b_ih (+ b_hh, see below), (B, G·H), worked
      out for many steps at once before the loop; ``state`` the tuple of
      state tensors; ``weights`` a dict with ``"recurrent"`` = weight_hhᵀ
      (H, G·H), ``"bias_hh"`` (G·H,) when b_hh is not folded and the layer
      has biases, and every ``extra`` parameter under its name (besides
      ``"input"`` and ``"bias"``, the projection's, which the step does not
      need). Return the
      new state as a tuple (or one Tensor for a one-state cell), each (B, H).
      Write it with minigrad ops only: it runs inside ``mg.scan``
      (no reading of values, no random numbers).
    - ``fold_hidden_bias``: b_hh is added into ``projected`` (True, the
      usual case), or passed as ``weights["bias_hh"]`` because the step
      needs it apart (GRU: r·(W_hn h + b_hn)).
    - ``order``: the order in which the step wants the gate blocks of
      ``projected``, ``"recurrent"`` and ``"bias_hh"`` (the parameters keep
      the stored order; () keeps it). The LSTM stores i, f, g, o and computes
      with i, f, o, g so that one sigmoid covers three gates.
    - ``extra``: further parameters per layer and direction, ``{name:
      shape_of(hidden_size)}`` (the peephole LSTM's ``weight_peep``: (3, H)),
      registered as ``name_l{k}[_reverse]`` and initialised like the others.
    - ``pure``: a promise that ``step`` computes from its arguments alone --
      no Python state that changes between calls (a global, an attribute)
      decides what it does. The layer then passes its parameters to
      ``mg.scan`` as ``consts``, so the step is traced once per shapes and
      the weights are made once per call inside the scan (faster, most at
      small sizes); without it the step is traced at every call. The
      built-in cells are pure.
    - ``bounded``: a promise that the state stays bounded whatever the
      input (tanh/sigmoid terms only: the tanh RNN, the LSTM, the GRU; not
      the relu RNN). With ``lengths`` the layer may then run every sequence
      past its end unmasked and throw those steps away (see the module
      docstring); otherwise a sequence that ended keeps its state step by
      step, the plain way that defines what the fast one computes.
    - ``kernel``: a fast path for the whole sequence (the LSTM's:
      nn/lstm_kernel.py), called as ``kernel(x, state, params, reverse=,
      every=, composed=)`` with one layer and direction's parameters; it
      must give what ``composed(x, state, params)`` -- the scan of ``step``,
      its definition -- gives: ``(ys, final state)``, ys the h's (``every``:
      the tuple of every state's steps). None: always the scan.
    """

    gates: int
    states: int
    step: Callable[[Tensor, tuple, dict], tuple | Tensor]
    fold_hidden_bias: bool = True
    order: tuple[int, ...] = ()
    extra: Mapping[str, Callable[[int], tuple[int, ...]]] | None = None
    pure: bool = False
    bounded: bool = False
    kernel: Callable | None = None

    def __post_init__(self):
        object.__setattr__(self, "extra", dict(self.extra or {}))
        check_positive_int("CellSpec: gates", self.gates)
        check_positive_int("CellSpec: states", self.states)
        for flag in ("pure", "bounded"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"CellSpec: {flag} must be True or False, got {getattr(self, flag)!r}")
        if not callable(self.step):
            raise TypeError(f"CellSpec: step must be a function (projected, state, weights) -> state, "
                            f"got {self.step!r}")
        if self.order and sorted(self.order) != list(range(self.gates)):
            raise ValueError(f"CellSpec: order must be a permutation of range({self.gates}), got {self.order}")
        for name, shape_of in self.extra.items():
            if name in _STANDARD_PARAMETERS or not name.isidentifier() or not callable(shape_of):
                raise ValueError(f"CellSpec: extra must map new parameter names to functions of hidden_size "
                                 f"giving a shape, got {name!r}: {shape_of!r}")

    def _parameter_shapes(self, input_size: int, hidden_size: int, bias: bool) -> dict[str, tuple[int, ...]]:
        """The parameters of one layer and direction, by name, in registration order."""
        rows = self.gates * hidden_size
        shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size)}
        if bias:
            shapes.update(bias_ih=(rows,), bias_hh=(rows,))
        shapes.update({name: tuple(shape_of(hidden_size)) for name, shape_of in self.extra.items()})
        return shapes

    def _weights(self, params: dict[str, Tensor]) -> dict[str, Tensor]:
        """What ``step`` gets as ``weights`` (plus the ``"input"`` and ``"bias"`` of
        the projection), made once per sequence from one layer and direction's
        parameters (named without their ``_l{k}`` suffix)."""
        hidden = params["weight_hh"].shape[1]

        def reorder(w: Tensor) -> Tensor:  # the gate blocks permuted (a split and a concat: no index array)
            if not self.order:
                return w
            blocks = mg.split(w, hidden, axis=0)
            return mg.concat([blocks[k] for k in self.order], axis=0)

        weights = {"input": reorder(params["weight_ih"]).T, "recurrent": reorder(params["weight_hh"]).T}
        if "bias_ih" in params:
            if self.fold_hidden_bias:
                weights["bias"] = reorder(params["bias_ih"] + params["bias_hh"])
            else:
                weights["bias"], weights["bias_hh"] = reorder(params["bias_ih"]), reorder(params["bias_hh"])
        weights.update({name: params[name] for name in self.extra})
        return weights

    def _run_step(self, x: Tensor, state: tuple, weights: dict, owner: str) -> tuple:
        """One step on an input x (B, I): the projection, then ``step``, its result checked."""
        projected = mg.addmm(weights["bias"], x, weights["input"]) if "bias" in weights else x @ weights["input"]
        new = self.step(projected, state, weights)
        new = (new,) if isinstance(new, Tensor) else tuple(new)
        if len(new) != self.states or any(not isinstance(s, Tensor) or s.shape != state[0].shape for s in new):
            got = [getattr(s, "shape", type(s).__name__) for s in new]
            raise ValueError(f"{owner}: the cell's step must return {self.states} state tensor(s) of shape "
                             f"{state[0].shape}, got {got}")
        return new


# -- the built-in cells: one time step each ------------------------------------------------------

def _elman_step(activation: Callable) -> Callable:
    def step(projected: Tensor, state: tuple, weights: dict) -> tuple:
        """h' = act(W_ih x + b_ih + W_hh h + b_hh)"""
        (h,) = state
        return (activation(mg.addmm(projected, h, weights["recurrent"])),)

    return step


def _lstm_step(projected: Tensor, state: tuple, weights: dict) -> tuple:
    """i, f, o = σ(.), g = tanh(.);  c' = f·c + i·g;  h' = o·tanh(c').
    With peepholes i and f also see c, and o sees c' (diagonal weights).
    The gate blocks arrive in the order i, f, o, g (the spec's ``order``), so
    one sigmoid covers i, f and o."""
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


def _gru_step(projected: Tensor, state: tuple, weights: dict) -> tuple:
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


ELMAN_CELLS = {"tanh": CellSpec(1, 1, _elman_step(mg.tanh), pure=True, bounded=True),
               "relu": CellSpec(1, 1, _elman_step(mg.relu), pure=True)}
LSTM_CELL = CellSpec(4, 2, _lstm_step, order=(0, 1, 3, 2), pure=True, bounded=True,
                     kernel=lstm_kernel)  # stored i, f, g, o; computed i, f, o, g
PEEPHOLE_LSTM_CELL = CellSpec(4, 2, _lstm_step, order=(0, 1, 3, 2), extra={"weight_peep": lambda hidden: (3, hidden)},
                              pure=True, bounded=True)
GRU_CELL = CellSpec(3, 1, _gru_step, fold_hidden_bias=False, pure=True,
                    bounded=True)  # b_hn sits inside r·(W_hn h + b_hn)


# -- shared by layers and cells ------------------------------------------------------------------

def _spec_of(module: Module, cell: CellSpec | None) -> CellSpec:
    spec = cell if cell is not None else getattr(type(module), "cell", None)
    if not isinstance(spec, CellSpec):
        raise TypeError(f"{type(module).__name__}: a recurrent module needs a CellSpec -- set the class attribute "
                        f"`cell` or pass cell=; got {spec!r}")
    return spec


def _make_parameters(module: Module, suffix: str, input_size: int, hidden_size: int, spec: CellSpec, bias: bool,
                     rng: np.random.Generator | None) -> None:
    """Register one layer and direction's parameters (``weight_ih{suffix}``, ...),
    all U(-1/√H, 1/√H) as in PyTorch."""
    rng = mg.get_rng(rng)
    bound = 1.0 / math.sqrt(hidden_size)
    dtype = mg.get_default_dtype()
    for name, shape in spec._parameter_shapes(input_size, hidden_size, bias).items():
        setattr(module, name + suffix, Parameter(rng.uniform(-bound, bound, shape).astype(dtype)))


def _present(module: Module, params: dict, suffix: str) -> dict:
    """``params``, if none was set to None (``layer.bias_hh_l0 = None``): a
    layer computes with all of them (``bias=False`` makes one without biases)."""
    for name, p in params.items():
        if p is None:
            raise ValueError(f"{type(module).__name__}: parameter {name + suffix} is None; a recurrent layer needs "
                             "every parameter it was made with (bias=False makes one without biases)")
    return params


def _state_names(count: int, suffix: str) -> tuple[str, ...]:
    return tuple(("h", "c")[k] + suffix if k < 2 else f"state{k}{suffix}" for k in range(count))


def _as_state_tuple(owner: str, given, names: tuple[str, ...]) -> tuple:
    """A user's state as a tuple of one item per state: a Tensor (or array)
    for a one-state cell, a tuple or list of them for more (PyTorch takes both
    ``(h0, c0)`` and ``[h0, c0]``)."""
    several = isinstance(given, (tuple, list)) and (
        len(names) > 1 or any(isinstance(s, (Tensor, np.ndarray)) for s in given))
    items = tuple(given) if several else (given,)
    if len(items) != len(names):
        what = "one tensor" if len(names) == 1 else f"a tuple ({', '.join(names)})"
        got = f"a {type(given).__name__} of {len(given)}" if several else f"a {type(given).__name__}"
        raise ValueError(f"{owner}: the state must be {what}, got {got}")
    return items


def _checked_states(owner: Module, given, names: tuple[str, ...], shape: tuple, dtype) -> tuple:
    """``given`` as a tuple of Tensors, each of ``shape`` and ``dtype``, checked."""
    states = []
    for name, s in zip(names, _as_state_tuple(type(owner).__name__, given, names)):
        if not isinstance(s, Tensor):
            try:
                s = Tensor(s)
            except (TypeError, ValueError):
                raise TypeError(f"{type(owner).__name__}: {name} must be a Tensor or an array of numbers, got "
                                f"{type(s).__name__}") from None
        if s.shape != shape:
            raise ValueError(f"{type(owner).__name__}: {name} must have shape {shape}, got {s.shape}")
        check_dtype(owner, name, s, dtype)
        states.append(s)
    return tuple(states)


def detach_state(state: Tensor | tuple | list) -> Tensor | tuple:
    """The state cut from the graph, for truncated BPTT: feed ``detach_state(h_n)``
    back as h0 of the next chunk, and backprop stops at the chunk boundary."""
    return tuple(s.detach() for s in state) if isinstance(state, (tuple, list)) else state.detach()


# -- the layer -----------------------------------------------------------------------------------

class RecurrentLayer(Module):
    """A stacked, optionally bidirectional recurrent layer of any :class:`CellSpec`
    (the module docstring has the semantics). A subclass sets the class
    attribute ``cell`` (or passes ``cell=``); parameters are
    ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``
    (+ the spec's extras), suffix ``_reverse`` for the reverse direction.

    ``out, h_n = layer(x, h0=None, lengths=None)``; with several states
    (LSTM) h0 and the result are tuples: ``out, (h_n, c_n)``."""

    cell: CellSpec

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None, *, cell: CellSpec | None = None):
        super().__init__()
        self.cell = _spec_of(self, cell)
        self._scan_steps: dict = {}  # kind -> (the cell, its scan step): see _scan_step
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        probability = as_real(dropout)
        if probability is None or not 0 <= probability < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        if probability > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} acts between layers only, and num_layers=1 has none", stacklevel=2)
        owner = type(self).__name__
        self.bias, self.batch_first = check_flag(owner, "bias", bias), check_flag(owner, "batch_first", batch_first)
        self.dropout, self.bidirectional = probability, check_flag(owner, "bidirectional", bidirectional)
        self.rng = rng
        self.fused = True  # the cell's kernel when it has one; False: the composed scan (see _scan)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else self.num_directions * hidden_size
            for direction in range(self.num_directions):
                _make_parameters(self, self._suffix(layer, direction), layer_input, hidden_size, self.cell, bias, rng)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _parameters_of(self, layer: int, direction: int) -> dict[str, Parameter]:
        """One layer and direction's parameters, named without their suffix."""
        suffix = self._suffix(layer, direction)
        names = (*_STANDARD_PARAMETERS, *self.cell.extra)
        return _present(self, {name: self._parameters[name + suffix] for name in names
                               if name + suffix in self._parameters}, suffix)

    def _weights(self, layer: int, direction: int) -> dict:
        return self.cell._weights(self._parameters_of(layer, direction))

    def extra_repr(self) -> str:
        extras = [f"{self.input_size}, {self.hidden_size}"]
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                extras.append(f"{name}={getattr(self, name)}")
        return ", ".join(extras)

    # -- one step at a time ----------------------------------------------------------------------
    def stepper(self, one_graph: bool = False) -> Callable:
        """One time step through every layer: for decoders that feed each
        output back in. Returns ``step(x, states) -> (out, states)`` with x
        (B, I), out (B, H) the last layer's h, and states a list (one per
        layer) of the cell's state tuples (B, H) -- ``split_states`` makes that
        list from h0; all checked as ``forward`` checks its input. Dropout
        between layers as in ``forward`` (training mode only). A step always
        computes with the parameters as they are. Under no_grad the weights
        (the parameters transposed and joined as the cell computes with them)
        are made once and kept while no parameter is replaced or changed; in
        grad mode each step makes its own, so that every graph is independent
        of the others (as two ``forward`` calls are) -- unless ``one_graph``:
        the caller promises that all its steps go into one graph (a decoder's
        forward over a batch makes a stepper for it), and the weights are
        kept in grad mode too (half the time of an LSTM step); a backward
        through a loss from these steps then spends them for any other."""
        if self.bidirectional:
            raise ValueError(f"{type(self).__name__}: stepping needs a unidirectional layer")
        owner = type(self).__name__
        kept = _KeptWeights(check_flag(owner, "one_graph", one_graph))
        names = _state_names(self.cell.states, "")

        def step(x: Tensor, states: list) -> tuple[Tensor, list]:
            x = x if isinstance(x, Tensor) else Tensor(x)
            if x.ndim != 2 or x.shape[1] != self.input_size:
                raise ValueError(f"{owner}: a step's input must be (batch, {self.input_size}), got shape {x.shape}")
            check_dtype(self, "input", x, self.weight_hh_l0.dtype)
            if not isinstance(states, (list, tuple)) or len(states) != self.num_layers:
                got = f"a {type(states).__name__} of {len(states)}" if isinstance(states, (list, tuple)) else \
                    type(states).__name__
                raise ValueError(f"{owner}: a step's states must be a list of {self.num_layers} state tuple(s), one "
                                 f"per layer (split_states(h0) makes it), got {got}")
            shape = (x.shape[0], self.hidden_size)
            states = [_checked_states(self, state, names, shape, self.weight_hh_l0.dtype) for state in states]
            params = [self._parameters_of(layer, 0) for layer in range(self.num_layers)]
            new_states = []
            for layer, (w, state) in enumerate(zip(kept.weights(self.cell, params), states)):
                if layer:
                    x = F.dropout(x, self.dropout, self.training, self.rng)
                state = self.cell._run_step(x, state, w, owner)
                new_states.append(state)
                x = state[0]
            return x, new_states

        return step

    def split_states(self, h0) -> list:
        """h0 in the layer's format -- (num_layers, B, H), a tuple of them for
        several states -- as the per-layer list of state tuples a stepper takes."""
        given = _as_state_tuple(type(self).__name__, h0, _state_names(self.cell.states, "0"))
        first = given[0] if isinstance(given[0], Tensor) else np.asarray(given[0])
        batch = first.shape[1] if first.ndim == 3 else -1  # (any other shape fails the check, which names it)
        given = _checked_states(self, h0, _state_names(self.cell.states, "0"),
                                (self.num_layers, batch, self.hidden_size), self.weight_hh_l0.dtype)
        return [tuple(s[layer] for s in given) for layer in range(self.num_layers)]

    # -- the whole sequence ----------------------------------------------------------------------
    def forward(self, x: Tensor, h0=None, lengths: Sequence[int] | np.ndarray | None = None):
        """``out, h_n = layer(x, h0, lengths)`` (several states: ``out, (h_n, c_n)``).

        x is (T, B, I), or (B, T, I) with batch_first, or (T, I) unbatched.
        out is (T, B, D·H): ``[..., :H]`` forward, ``[..., H:]`` reverse.
        h_n is (num_layers·D, B, H), indexed ``layer·D + direction``.
        lengths: B ints in 1..T; out is 0 past each end, h_n the state at the
        last real step (see the module docstring)."""
        name = type(self).__name__
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: input must be (T, B, {self.input_size}) (or 2-D unbatched), got shape "
                             f"{x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        steps, batch, features = x.shape
        if features != self.input_size:
            raise ValueError(f"{name}: expected input_size {self.input_size} features, got {features} "
                             f"(input shape {x.shape})")
        if steps == 0:
            raise ValueError(f"{name}: the input has no time steps (shape {x.shape}); a sequence needs at least one")
        check_dtype(self, "input", x, self.weight_hh_l0.dtype)
        states = self._initial_states(h0, batch, unbatched, x.dtype)
        padding = _Padding.of(None if lengths is None else check_lengths(lengths, batch, steps, owner=f"{name}: "),
                              steps)
        if padding is not None:  # the steps some sequence reaches, padding zeroed: it never enters (even NaN)
            x = mg.where(padding.inside, x[:padding.active] if padding.active < steps else x, 0.0)
        finals = []
        for layer in range(self.num_layers):
            if layer:
                x = F.dropout(x, self.dropout, self.training, self.rng)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                out, final = self._run_direction(x, [s[index] for s in states], self._parameters_of(layer, direction),
                                                 padding, reverse=direction == 1)
                outputs.append(out)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else mg.concat(outputs, axis=-1)
            if padding is not None and self.cell.bounded:  # (the outputs of the steps run past each end)
                x = mg.where(padding.inside, x, 0.0)
        if padding is not None and padding.active < steps:  # steps after every sequence ended: output 0
            x = mg.concat([x, np.zeros((steps - padding.active, batch, x.shape[-1]), dtype=x.dtype)], axis=0)
        final_states = tuple(mg.stack([f[k] for f in finals], axis=0) for k in range(self.cell.states))
        if unbatched:
            x = x.squeeze(1)
            final_states = tuple(s.squeeze(1) for s in final_states)
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        return x, (final_states if self.cell.states > 1 else final_states[0])

    def _run_direction(self, x: Tensor, state: list, params: dict, padding: _Padding | None,
                       reverse: bool) -> tuple[Tensor, tuple]:
        """One layer in one direction, as one ``mg.scan``: the step is traced
        once and replayed on arrays; the weights it makes from the parameters
        (transposed, gates reordered) are made once per call, and its input
        projection (it depends on x alone) runs on many steps' rows at once.
        With ``padding`` (x then has its ``active`` steps): a bounded cell
        runs every step unmasked, the reverse direction on each sequence
        reversed within its length, and the final states are picked at each
        sequence's last step (its outputs past the end are not zero yet: the
        caller masks them once); any other cell keeps its state past each
        sequence's end, step by step, and outputs 0 there."""
        if padding is None:
            return self._scan(x, state, params, "plain", reverse)
        if not self.cell.bounded:
            return self._scan((x, padding.inside), state, params, "masked", reverse)
        if reverse:
            x = x[padding.flip, padding.batch]
        every, _ = self._scan(x, state, params, "every state", False)
        out = every[0][padding.flip, padding.batch] if reverse else every[0]
        return out, tuple(s[padding.last, padding.batch] for s in every)

    def _scan(self, xs, state: list, params: dict, kind: str, reverse: bool) -> tuple:
        """``(ys, final state)`` of the layer's scan of ``kind`` (see _direction_step)
        over ``xs``: by the cell's kernel when it has one and may (see ``fused``),
        else the composed way."""
        kernel = self.cell.kernel
        if kernel is not None and self.fused and kind != "masked" and not any(
                map(takes_over_ops, (xs, *state, *params.values()))):  # (tracers or duals: the composed way)
            return kernel(xs, tuple(state), params, reverse=reverse, every=kind == "every state",
                          composed=lambda x, s, p: self._composed(x, s, p, kind, reverse))
        return self._composed(xs, state, params, kind, reverse)

    def _composed(self, xs, state, params: dict, kind: str, reverse: bool) -> tuple:
        """``_scan`` the plain way: the cell's step in ``mg.scan`` (the definition)."""
        step = self._scan_step(kind)
        xs = xs if isinstance(xs, tuple) else (xs,)
        if self.cell.pure:  # traced once per shapes, the weights made inside the scan
            state, outputs = mg.scan(step, tuple(state), xs, reverse=reverse, consts=params)
        else:  # traced at every call, so whatever the step reads is read now
            state, outputs = mg.scan(lambda s, inputs: step(s, inputs, params), tuple(state), xs, reverse=reverse)
        return outputs, state

    def _scan_step(self, kind: str) -> Callable:
        """The step of the layer's scans, one function per layer and kind,
        which takes the parameters as its third argument: for a pure cell
        they are scan's ``consts``, so scan traces the step once and reuses
        the trace while shapes stay (see ``mg.scan``)."""
        kept = self._scan_steps.get(kind)
        if kept is None or kept[0] is not self.cell:  # (made again if someone swaps the cell)
            kept = self._scan_steps[kind] = (self.cell, _direction_step(self.cell, type(self).__name__, kind))
        return kept[1]

    def _initial_states(self, h0, batch: int, unbatched: bool, dtype) -> tuple:
        """h0, checked, per state as the list of its (B, H) tensors by layer·D + direction
        (zeros if None)."""
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if h0 is None:
            return tuple([Tensor(np.zeros(shape[1:], dtype=dtype)) for _ in range(shape[0])]
                         for _ in range(self.cell.states))
        expected = (shape[0], shape[2]) if unbatched else shape
        states = _checked_states(self, h0, _state_names(self.cell.states, "0"), expected, self.weight_hh_l0.dtype)
        return tuple(mg.unbind(s.unsqueeze(1) if unbatched else s) for s in states)


class _KeptWeights:
    """A stepper's weights, made by ``cell._weights`` from each layer's
    parameters. Under no_grad they are kept while the parameters are the same
    tensors at the same versions (an optimizer step, ``load_state_dict`` or
    an assignment makes them again) and requires_grad flags; in grad mode
    they are made at every call, unless ``in_grad_mode`` (the stepper's
    ``one_graph``): kept, they join the graphs of the steps that use them."""

    def __init__(self, in_grad_mode: bool):
        self.in_grad_mode = in_grad_mode
        self.made: list[dict] = []
        self.source: list = []  # the grad mode, the parameters and their state the kept weights were made from

    def weights(self, cell: CellSpec, params: list[dict]) -> list[dict]:
        grad = mg.is_grad_enabled()
        if grad and not self.in_grad_mode:
            return [cell._weights(ps) for ps in params]
        source = [grad, *((p, p._version[0], p.requires_grad) for ps in params for p in ps.values())]
        if len(source) != len(self.source) or source[0] != self.source[0] or any(
                p is not q or v != w or r != s for (p, v, r), (q, w, s) in zip(source[1:], self.source[1:])):
            self.made, self.source = [cell._weights(ps) for ps in params], source
        return self.made


def _direction_step(cell: CellSpec, owner: str, kind: str) -> Callable:
    """``step(state, inputs, params)`` for ``mg.scan``: the cell's step on
    inputs (x_t,), giving h as y ("plain") or every state ("every state");
    or on (x_t, inside_t) ("masked"), where sequences that ended keep their
    state and output 0 -- computed from its arguments alone. (The weights
    made from ``params`` do not change from step to step: the scan makes
    them once per call.)"""

    def step(state: tuple, inputs: tuple, params: dict) -> tuple:
        new = cell._run_step(inputs[0], state, cell._weights(params), owner)
        if kind == "plain":
            return new, new[0]
        if kind == "every state":
            return new, new
        inside = inputs[1]
        return tuple(mg.where(inside, n, s) for n, s in zip(new, state)), mg.where(inside, new[0], 0.0)

    return step


class _Padding:
    """What a layer needs to know of ``lengths`` (B ints in 1..T) when some
    sequence is shorter than T: ``active``, the steps any sequence reaches;
    ``inside`` (active, B, 1), step t is inside sequence b; ``flip``
    (active, B), the step that each step of each sequence takes when every
    sequence is reversed within its length (padding stays where it is), so
    that ``x[flip, batch]`` reverses them (and reverses them back); ``last``
    (B,), each sequence's last step; ``batch`` = 0..B-1."""

    def __init__(self, lengths: np.ndarray):
        self.active = int(lengths.max())
        t = np.arange(self.active)[:, None]
        inside = t < lengths
        self.inside = Tensor(inside[:, :, None])
        self.flip = np.where(inside, lengths - 1 - t, t)
        self.last = lengths - 1
        self.batch = np.arange(len(lengths))

    @staticmethod
    def of(lengths: np.ndarray | None, steps: int) -> _Padding | None:
        """None when there are no lengths or every sequence is full length."""
        return None if lengths is None or (lengths == steps).all() else _Padding(lengths)


class RNN(RecurrentLayer):
    """Elman RNN: h' = tanh (or relu)(W_ih x + b_ih + W_hh h + b_hh), stacked and/or bidirectional."""

    cell = ELMAN_CELLS["tanh"]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None):
        if nonlinearity not in ELMAN_CELLS:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, rng,
                         cell=ELMAN_CELLS[nonlinearity])
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RecurrentLayer):
    """LSTM with PyTorch's gate order i, f, g, o: i, f, o = σ(.), g = tanh(.),
    c' = f·c + i·g, h' = o·tanh(c'). ``peephole=True`` adds diagonal weights
    ``weight_peep_l{k}`` (3, H): i and f see c, o sees c'."""

    cell = LSTM_CELL

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 peephole: bool = False, rng: np.random.Generator | None = None):
        peephole = check_flag(type(self).__name__, "peephole", peephole)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, rng,
                         cell=PEEPHOLE_LSTM_CELL if peephole else LSTM_CELL)
        self.peephole = peephole

    def extra_repr(self) -> str:
        return super().extra_repr() + (", peephole=True" if self.peephole else "")


class GRU(RecurrentLayer):
    """GRU with PyTorch's gate order r, z, n and its n = tanh(W_in x + b_in + r·(W_hn h + b_hn))."""

    cell = GRU_CELL

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng: np.random.Generator | None = None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, rng)


# -- cells: one step, the same step functions ----------------------------------------------------

class RecurrentCell(Module):
    """One time step of a :class:`CellSpec` as a module: ``state = cell(x, state=None)``
    with x (B, I) or (I,) and the state as the layer's h (several states: a
    tuple, e.g. ``(h, c)``), zeros if None. Parameters ``weight_ih``,
    ``weight_hh``, ``bias_ih``, ``bias_hh`` (+ the spec's extras), as a layer's
    without ``_l{k}``."""

    cell: CellSpec

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng: np.random.Generator | None = None,
                 *, cell: CellSpec | None = None):
        super().__init__()
        self.cell = _spec_of(self, cell)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.bias = check_flag(type(self).__name__, "bias", bias)
        _make_parameters(self, "", input_size, hidden_size, self.cell, bias, rng)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def forward(self, x: Tensor, state=None):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must be (batch, {self.input_size}) or "
                             f"({self.input_size},), got shape {x.shape}")
        check_dtype(self, "input", x, self.weight_hh.dtype)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        shape = (x.shape[0], self.hidden_size)
        if state is None:
            state = tuple(Tensor(np.zeros(shape, dtype=x.dtype)) for _ in range(self.cell.states))
        else:
            names = _state_names(self.cell.states, "")
            state = _checked_states(self, state, names, shape[1:] if unbatched else shape, self.weight_hh.dtype)
            state = tuple(s.unsqueeze(0) for s in state) if unbatched else state
        weights = self.cell._weights(_present(self, dict(self._parameters), ""))
        new = self.cell._run_step(x, state, weights, type(self).__name__)
        if unbatched:
            new = tuple(s.squeeze(0) for s in new)
        return new if self.cell.states > 1 else new[0]


class RNNCell(RecurrentCell):
    """One Elman step: h' = tanh (or relu)(W_ih x + b_ih + W_hh h + b_hh)."""

    cell = ELMAN_CELLS["tanh"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 rng: np.random.Generator | None = None):
        if nonlinearity not in ELMAN_CELLS:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, rng, cell=ELMAN_CELLS[nonlinearity])
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTMCell(RecurrentCell):
    """One LSTM step (gate order i, f, g, o); ``peephole=True`` adds ``weight_peep`` (3, H)."""

    cell = LSTM_CELL

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, peephole: bool = False,
                 rng: np.random.Generator | None = None):
        peephole = check_flag(type(self).__name__, "peephole", peephole)
        super().__init__(input_size, hidden_size, bias, rng, cell=PEEPHOLE_LSTM_CELL if peephole else LSTM_CELL)
        self.peephole = peephole

    def extra_repr(self) -> str:
        return super().extra_repr() + (", peephole=True" if self.peephole else "")


class GRUCell(RecurrentCell):
    """One GRU step (gate order r, z, n)."""

    cell = GRU_CELL

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng: np.random.Generator | None = None):
        super().__init__(input_size, hidden_size, bias, rng)

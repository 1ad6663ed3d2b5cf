"""Optimisers and learning-rate schedules with PyTorch's update rules,
defaults, ``param_groups`` and ``state_dict`` layout.

An optimiser updates ``param.data`` in place from ``param.grad``; a parameter
whose grad is None is skipped. ``step()`` checks every gradient first and
changes nothing if one is wrong: a gradient must have its parameter's shape,
a float dtype the parameter's holds exactly (its own, or a narrower one:
float32 on a float64 parameter, not float64 on float32) and no NaN/inf.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np

from minigrad import Tensor

from ._checks import check_flag, real_number
from .module import Parameter

# -- checking settings: one checker per kind of option, named in each optimiser's SETTINGS --------

def _real(owner: str, name: str, value: Any, low: float, high: float, high_open: bool) -> float:
    """``value`` as a float in [low, high] (or [low, high)), else a TypeError/ValueError naming it."""
    value = real_number(owner, name, value)
    if not (low <= value < high if high_open else low <= value <= high):  # (NaN fails both)
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ValueError(f"{owner}: {name} must lie in {interval}, got {value!r}")
    return value


def _nonnegative(owner: str, name: str, value: Any) -> float:
    return _real(owner, name, value, 0.0, math.inf, high_open=True)


def _fraction(owner: str, name: str, value: Any) -> float:
    return _real(owner, name, value, 0.0, 1.0, high_open=False)


def _betas(owner: str, name: str, value: Any) -> tuple[float, float]:
    """(β₁, β₂), each in [0, 1)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, np.ndarray)):
        raise TypeError(f"{owner}: {name} must be a pair (beta1, beta2), got {type(value).__name__} {value!r}")
    if len(value) != 2:
        raise ValueError(f"{owner}: {name} must be a pair (beta1, beta2), got {len(value)} value(s): {value!r}")
    return tuple(_real(owner, f"{name}[{i}]", v, 0.0, 1.0, high_open=True) for i, v in enumerate(value))


def _parameter_list(owner: str, what: str, params: Any) -> list:
    """``params`` (an iterable, not a lone Tensor or dict) as a list."""
    if isinstance(params, Tensor):
        raise TypeError(f"{owner}: {what} must be an iterable of Tensors, got a single Tensor of shape "
                        f"{params.shape}; wrap it in a list: [tensor]")
    if isinstance(params, (dict, str, bytes)):
        raise TypeError(f"{owner}: {what} must be an iterable of Tensors or of parameter groups (dicts), "
                        f"got {type(params).__name__}")
    if isinstance(params, (set, frozenset)):  # (its order, the state_dict's numbering, would change between runs)
        raise TypeError(f"{owner}: {what} must be an ordered iterable of Tensors: a set has no order; give a list")
    try:
        return list(params)
    except TypeError:
        raise TypeError(f"{owner}: {what} must be an iterable of Tensors, got {type(params).__name__}") from None


class Optimizer:
    """Base class: param_groups (lists of parameters with their settings) and per-parameter state.

    Each optimiser names its settings and their checkers in ``SETTINGS``;
    the defaults and every group's own settings (and those a state_dict
    brings) are checked before anything is stored."""

    SETTINGS: dict[str, Callable[[str, str, Any], Any]] = {}
    # The names of the per-parameter state -> whether a non-empty state must have it. A subclass that
    # does not declare it has its saved state loaded as saved (but "step" a count, arrays checked).
    STATE: dict[str, bool] | None = None

    def __init__(self, params: Iterable, defaults: dict):
        owner = type(self).__name__
        groups = _parameter_list(owner, "params", params)
        if not groups:
            raise ValueError(f"{owner}: got an empty parameter list")
        is_group = [isinstance(g, dict) for g in groups]
        if any(is_group) and not all(is_group):
            raise TypeError(f"{owner}: params must be all Tensors or all parameter groups (dicts), not a mix")
        if not is_group[0]:
            groups = [{"params": groups}]
        self.defaults = self._checked_settings(defaults, "")
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}  # id(param) -> its state
        seen: dict[int, int] = {}  # id(param) -> the group that lists it
        for index, group in enumerate(groups):
            where = f"parameter group {index}"
            if "params" not in group:
                raise ValueError(f"{owner}: {where} has no 'params' entry")
            params = group["params"]
            params = [params] if isinstance(params, Tensor) else _parameter_list(owner, f"{where}'s params", params)
            if not params:
                raise ValueError(f"{owner}: {where} has an empty parameter list")
            for p in params:
                self._check_parameter(p, where)
                if seen.get(id(p)) == index:
                    raise ValueError(f"{owner}: {where} lists a parameter (shape {p.shape}) twice")
                if id(p) in seen:
                    raise ValueError(f"{owner}: a parameter (shape {p.shape}) appears in parameter groups "
                                     f"{seen[id(p)]} and {index}")
                seen[id(p)] = index
            settings = self._checked_settings({k: v for k, v in group.items() if k != "params"}, f"{where}: ")
            self.param_groups.append({**self.defaults, **settings, "params": params})

    def _check_parameter(self, p: Any, where: str) -> None:
        owner = type(self).__name__
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: {where} holds a {type(p).__name__}; optimisers update Tensors")
        if not isinstance(p, Parameter) and not p.requires_grad:
            raise TypeError(f"{owner}: can only optimise tensors that require grad, got one of shape {p.shape}")
        if not p.is_leaf:
            raise ValueError(f"{owner}: can only optimise leaf tensors, got the result of an op (shape {p.shape})")
        if p.dtype.kind != "f":
            raise TypeError(f"{owner}: can only optimise floating-point tensors, got dtype {p.dtype}")

    def _checked_settings(self, settings: dict, where: str) -> dict:
        """``settings`` checked and normalised (floats, bools, tuples); unknown names are an error."""
        owner = type(self).__name__
        unknown = sorted(set(settings) - set(self.SETTINGS))
        if unknown:
            raise ValueError(f"{owner}: {where}unknown settings {unknown} (known: {sorted(self.SETTINGS)})")
        checked = {name: self.SETTINGS[name](owner, where + name, value) for name, value in settings.items()}
        defaults = getattr(self, "defaults", {})  # (absent while the defaults themselves are checked)
        self._check_combination({**defaults, **checked}, where)
        return checked

    def _check_combination(self, settings: dict, where: str) -> None:
        """Constraints between settings (e.g. SGD's nesterov needs momentum)."""

    def zero_grad(self) -> None:
        """Forget the gradients (``.grad = None``, PyTorch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _live(self) -> list[tuple[dict, Parameter, np.ndarray]]:
        """(group, param, grad array) for every parameter with a gradient, all
        checked; a parameter is named by its number in state_dict()."""
        owner = f"{type(self).__name__}.step"
        live = []
        numbered = [(group, p) for group in self.param_groups for p in group["params"]]
        for i, (group, p) in enumerate(numbered):
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.data.shape:
                raise ValueError(f"{owner}: the gradient of parameter {i} has shape {g.shape}, the parameter "
                                 f"{p.data.shape}; nothing was updated")
            if g.dtype.kind != "f" or not np.can_cast(g.dtype, p.data.dtype):  # (float64 1e39 is inf in float32)
                raise TypeError(f"{owner}: the gradient of parameter {i} has dtype {g.dtype}, the parameter "
                                f"{p.data.dtype} (a gradient needs a float dtype the parameter's holds exactly: "
                                "its own or a narrower one); nothing was updated")
            if not np.isfinite(g).all():
                raise ValueError(f"{owner}: the gradient of parameter {i} (shape {g.shape}) holds NaN or inf; "
                                 "nothing was updated")
            live.append((group, p, g.astype(p.data.dtype, copy=False)))
        return live

    def step(self) -> None:
        """Update every parameter that has a gradient; first the gradients and every group's settings
        (which code may have changed since: group["lr"] = args.lr) are checked, so that a failed step
        changes no parameter and no state."""
        for i, group in enumerate(self.param_groups):
            missing = [name for name in self.SETTINGS if name not in group]
            if missing:
                raise ValueError(f"{type(self).__name__}.step: parameter group {i} lacks the settings {missing}")
            self._checked_settings({name: group[name] for name in self.SETTINGS}, f"parameter group {i}: ")
        for group, p, g in self._live():
            state = self.state.setdefault(id(p), {})
            for name, value in state.items():  # (a model cast by to(dtype) since: float state follows, as at a load)
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != p.data.dtype:
                    state[name] = value.astype(p.data.dtype)
            self._update(p, g, state, group)

    def _update(self, p: Parameter, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # -- state_dict: PyTorch's layout, parameters numbered across groups ---------------------
    def _params(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        index = {id(p): i for i, p in enumerate(self._params())}
        groups, start = [], 0
        for group in self.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            groups.append({**settings, "params": list(range(start, start + len(group["params"])))})
            start += len(group["params"])
        state = {index[pid]: copy.deepcopy(s) for pid, s in self.state.items() if pid in index}
        return {"state": state, "param_groups": groups}

    def _loaded_state(self, owner: str, saved: dict) -> dict[int, dict]:
        """The saved per-parameter state (parameter number -> dict) keyed by id(param), checked to be
        one that step() can use: only this optimiser's STATE names, each required one in a non-empty
        state, "step" a count, the rest float arrays of the parameter's shape, cast to its dtype (as
        in PyTorch: float32 moments would round a float64 parameter's every later step); an optional
        one saved as None is left out (it starts when step() needs it)."""
        names = self.STATE if self.STATE is not None else {}
        params, state = self._params(), {}
        for key, entries in saved.items():
            number = int(key) if isinstance(key, str) and key.isdecimal() else key
            if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
                raise TypeError(f"{owner}: state keys are parameter numbers, got {type(key).__name__} {key!r}")
            if not 0 <= number < len(params):
                raise ValueError(f"{owner}: state for parameter {number}, but there are {len(params)}")
            param = params[number]
            if id(param) in state:
                raise ValueError(f"{owner}: state for parameter {number} twice (keys {number} and {str(number)!r})")
            if not isinstance(entries, dict):
                raise TypeError(f"{owner}: the state of parameter {number} must be a dict, got "
                                f"{type(entries).__name__}")
            unknown = sorted(set(entries) - set(names)) if self.STATE is not None else []
            if unknown:
                raise ValueError(f"{owner}: unknown state {unknown} of parameter {number} "
                                 f"(a {type(self).__name__} keeps {sorted(names)})")
            missing = [name for name, required in names.items() if required and name not in entries]
            if entries and missing:
                raise ValueError(f"{owner}: the state of parameter {number} lacks {missing}")
            state[id(param)] = {name: self._loaded_value(owner, name, number, value, param)
                                for name, value in entries.items()
                                if not (value is None and names.get(name) is False)}  # (PyTorch 1.x's SGD)
        return state

    def _loaded_value(self, owner: str, name: str, number: int, value: Any, param: Parameter) -> Any:
        """The saved state ``name`` of parameter ``number``: "step" a count (PyTorch saves a 0-d float
        tensor: a whole float, 0-d array too), anything else a float array of ``param``'s shape (a copy
        in its dtype; other values only where STATE is not declared)."""
        what = f"state '{name}' of parameter {number}"
        if name == "step":
            step = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
            whole = isinstance(step, (float, np.floating)) and float(step).is_integer()
            return _whole(owner, what, int(step) if whole else step, low=0)
        if not isinstance(value, np.ndarray) and self.STATE is None:
            return copy.deepcopy(value)
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{owner}: {what} is a {type(value).__name__}, expected an array of the parameter's "
                            f"shape {param.data.shape}")
        if value.dtype.kind != "f":
            raise TypeError(f"{owner}: {what} has dtype {value.dtype}, expected a float array")
        if value.shape != param.data.shape:
            raise ValueError(f"{owner}: {what} has shape {value.shape}, the parameter {param.data.shape}")
        return value.astype(param.data.dtype)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings and state saved by state_dict() (checked before anything changes)."""
        owner = f"{type(self).__name__}.load_state_dict"
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, (list, tuple)) or not isinstance(state_dict.get("state"), dict) \
                or not all(isinstance(g, dict) and "params" in g for g in groups):
            raise ValueError(f"{owner}: expected a dict with 'state' (a dict) and 'param_groups' (a list of dicts "
                             "with 'params'), as state_dict() returns")
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(f"{owner}: the saved groups hold "
                             f"{[len(g['params']) for g in groups]} parameters, this optimiser "
                             f"{[len(g['params']) for g in self.param_groups]}")
        settings = [self._checked_settings({k: v for k, v in saved.items() if k != "params"},
                                           f"saved parameter group {i}: ") for i, saved in enumerate(groups)]
        state = self._loaded_state(owner, state_dict["state"])
        for group, saved in zip(self.param_groups, settings):
            group.update(saved)
        self.state = state


class SGD(Optimizer):
    """v ← μ·v + (1 − dampening)·(g + λp) (v = g + λp at the first step);
    p ← p − lr·(g + λp + μ·v) with nesterov, else p − lr·v (plain g + λp without momentum)."""

    SETTINGS = dict(lr=_nonnegative, momentum=_nonnegative, dampening=_fraction, weight_decay=_nonnegative,
                    nesterov=check_flag)
    STATE = {"momentum_buffer": False}

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_combination(self, settings, where):
        if settings.get("nesterov") and (settings.get("momentum", 0) <= 0 or settings.get("dampening", 0) != 0):
            raise ValueError(f"SGD: {where}nesterov needs momentum > 0 and dampening = 0, got momentum="
                             f"{settings.get('momentum')}, dampening={settings.get('dampening')}")

    def _update(self, p, g, state, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        if group["momentum"]:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= group["momentum"]
                buf += (1 - group["dampening"]) * g
            buf = state["momentum_buffer"]
            g = g + group["momentum"] * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²  (g includes λp);
    p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)  (with amsgrad, the max of every v since amsgrad is on)."""

    SETTINGS = dict(lr=_nonnegative, betas=_betas, eps=_nonnegative, weight_decay=_nonnegative, amsgrad=check_flag)
    STATE = {"step": True, "exp_avg": True, "exp_avg_sq": True, "max_exp_avg_sq": False}
    decoupled = False

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))
    def _update(self, p, g, state, group):
        (beta1, beta2), lr, decay = group["betas"], group["lr"], group["weight_decay"]
        if decay and self.decoupled:
            p.data *= 1 - lr * decay
        elif decay:
            g = g + decay * p.data
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
        if group["amsgrad"] and "max_exp_avg_sq" not in state:  # (also when amsgrad is turned on later)
            state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        t = state["step"]
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]
        p.data -= (lr / (1 - beta1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p·(1 − lr·λ) before the Adam step (Loshchilov & Hutter)."""

    decoupled = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """s ← αs + (1 − α)g²;  centered: a ← αa + (1 − α)g, s̃ = s − a²;
    p ← p − lr·g/(√s̃ + ε)  (through a momentum buffer b ← μb + g/(√s̃ + ε) if μ > 0)."""

    SETTINGS = dict(lr=_nonnegative, alpha=_fraction, eps=_nonnegative, weight_decay=_nonnegative,
                    momentum=_nonnegative, centered=check_flag)
    STATE = {"step": True, "square_avg": True, "momentum_buffer": False, "grad_avg": False}

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _update(self, p, g, state, group):
        alpha = group["alpha"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        if not state:
            state.update(step=0, square_avg=np.zeros_like(p.data))
        for setting, buffer in (("momentum", "momentum_buffer"), ("centered", "grad_avg")):
            if group[setting] and buffer not in state:  # (also when the setting is turned on later)
                state[buffer] = np.zeros_like(p.data)
        state["step"] += 1
        square = state["square_avg"]
        square *= alpha
        square += (1 - alpha) * g * g
        if group["centered"]:
            avg = state["grad_avg"]
            avg *= alpha
            avg += (1 - alpha) * g
            denom = np.sqrt(square - avg * avg) + group["eps"]
        else:
            denom = np.sqrt(square) + group["eps"]
        if group["momentum"]:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / denom
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * g / denom


class Adagrad(Optimizer):
    """s ← s + g²;  p ← p − lr/(1 + (t − 1)·lr_decay) · g/(√s + ε)."""

    SETTINGS = dict(lr=_nonnegative, lr_decay=_nonnegative, weight_decay=_nonnegative,
                    initial_accumulator_value=_nonnegative, eps=_nonnegative)
    STATE = {"step": True, "sum": True}

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _update(self, p, g, state, group):
        if not state:
            state.update(step=0, sum=np.full_like(p.data, group["initial_accumulator_value"]))
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.data -= clr * g / (np.sqrt(state["sum"]) + group["eps"])


# -- learning-rate schedules ------------------------------------------------------------------
# PyTorch's semantics: a schedule sets every group's lr when it is made
# (epoch 0) and at each step(); call step() once per epoch, after the
# optimiser's steps. Closed forms of the epoch, so resuming is exact.
# Unlike PyTorch's, they do not chain: a closed-form schedule refuses to step
# when an lr is not the one it set (see LRScheduler).

def _whole(owner: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be >= {low}, got {value}")
    return int(value)


def _positive_fraction(owner: str, name: str, value: Any) -> float:
    value = _fraction(owner, name, value)
    if value == 0:
        raise ValueError(f"{owner}: {name} must lie in (0, 1], got 0.0")
    return value


def _one_of(*options: str) -> Callable[[str, str, Any], str]:
    """A checker of a setting that takes one of ``options``."""
    def check(owner: str, name: str, value: Any) -> str:
        if value not in options:
            raise ValueError(f"{owner}: {name} must be {' or '.join(map(repr, options))}, got {value!r}")
        return value
    return check


_count = partial(_whole, low=0)


def _per_group(owner: str, name: str, value: Any, groups: int) -> list:
    """``value`` once per parameter group: a list/tuple of that length, or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{owner}: {name} must have one entry per parameter group ({groups}), got {len(value)}")
        return list(value)
    return [value] * groups


class _Schedule:
    """What every schedule shares: the optimiser it drives, get_last_lr(), and
    a state_dict of its own attributes (PyTorch's layout) that
    load_state_dict() checks before it changes anything.

    ``CHECKS`` names the checker of each saved attribute, run by the
    constructor (``_set``) and again on a loaded state, so that a state_dict
    is held to the constructor's rules; an attribute in ``PER_GROUP`` is a
    list with one value per parameter group, each checked. (Attributes of a
    subclass without a checker are loaded as saved.)"""

    _not_saved: tuple[str, ...] = ("optimizer",)
    CHECKS: dict[str, Callable[[str, str, Any], Any]] = {}
    PER_GROUP: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in self._not_saved}

    def _checked(self, owner: str, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` (attribute -> value) checked by CHECKS and normalised."""
        checked = {}
        for name, value in values.items():
            check = self.CHECKS.get(name, lambda owner, name, value: value)
            if name not in self.PER_GROUP:
                checked[name] = check(owner, name, value)
                continue
            groups = len(self.optimizer.param_groups)
            if not isinstance(value, (list, tuple)) or len(value) != groups:
                raise ValueError(f"{owner}: {name} must be a list with one value per parameter group ({groups}), "
                                 f"got {value!r}")
            checked[name] = [check(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]
        return checked

    def _set(self, **values: Any) -> None:
        """Set the constructor's arguments, checked."""
        self.__dict__.update(self._checked(type(self).__name__, values))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        owner = f"{type(self).__name__}.load_state_dict"
        expected = sorted(self.state_dict())
        if not isinstance(state, dict) or sorted(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{owner}: expected the keys {expected}, got {got}")
        self.__dict__.update(self._checked(owner, copy.deepcopy(state)))


class LRScheduler(_Schedule):
    """A schedule given by a closed form: lr = lr_at(initial lr, epoch).

    One schedule per optimiser: step() raises a RuntimeError when a group's
    lr is not the one this schedule set last (its initial lr before the first
    step), i.e. when another schedule or the user's code changed it. PyTorch
    chains such schedules (each multiplies the lr the other left); here each
    would overwrite the other's lr with its own closed form, so instead of
    a wrong lr there is an error. Combine them in one LambdaLR (a product of
    factors), or after setting an lr by hand make a new schedule, which
    starts from the lrs it finds. (ReduceLROnPlateau scales whatever lr it
    finds, so it does not check; a closed-form schedule beside it refuses.)"""

    CHECKS = {"base_lrs": _nonnegative, "last_epoch": _count}
    PER_GROUP = ("base_lrs",)
    _not_saved = ("optimizer", "lrs_set")

    def __init__(self, optimizer: Optimizer):
        super().__init__(optimizer)
        self._set(base_lrs=[group["lr"] for group in optimizer.param_groups])
        self.lrs_set = list(self.base_lrs)  # what step() checks the groups' lrs against: the floats it wrote
        for group, lr in zip(optimizer.param_groups, self.base_lrs):
            group["lr"] = lr
        self.last_epoch = -1
        self.step()  # epoch 0, as PyTorch's constructor does (LinearLR starts at start_factor·lr)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state_dict() and set every group's lr to the one this schedule
        had set (its closed form at the loaded epoch), so that the optimiser agrees
        with it whichever of the two is loaded first. All checked on a copy first."""
        loaded = copy.copy(self)
        _Schedule.load_state_dict(loaded, state)
        lrs = [_nonnegative(f"{type(self).__name__}.load_state_dict", f"the lr of parameter group {i}", lr)
               for i, lr in enumerate(loaded.lrs_at(loaded.last_epoch))]
        self.__dict__.update(vars(loaded))
        self.lrs_set = lrs
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def lrs_at(self, epoch: int) -> list[float]:
        """Every group's lr at ``epoch``."""
        return [self.lr_at(base, epoch) for base in self.base_lrs]

    def step(self) -> None:
        """Next epoch: every group's lr from the closed form, all checked before any is set
        (and refused if an lr is no longer the one this schedule set: see the class)."""
        owner = type(self).__name__
        _check_groups(owner, self.optimizer, len(self.base_lrs))
        for i, (group, lr) in enumerate(zip(self.optimizer.param_groups, self.lrs_set)):
            if group["lr"] != lr:
                raise RuntimeError(
                    f"{owner}.step: the lr of parameter group {i} is {group['lr']!r}, not the {float(lr)!r} this "
                    f"schedule set at epoch {max(self.last_epoch, 0)}: another schedule or your code changed it. "
                    "Schedules do not chain here (each would overwrite the other's lr): use one schedule (a "
                    "LambdaLR with the product of the factors), or make a new schedule after changing the lr by hand")
        epoch = self.last_epoch + 1
        lrs = [_nonnegative(owner, f"the lr of parameter group {i} at epoch {epoch}", lr)
               for i, lr in enumerate(self.lrs_at(epoch))]
        self.last_epoch, self.lrs_set = epoch, lrs
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr


def _check_groups(owner: str, optimizer: Optimizer, scheduled: int) -> None:
    """A ValueError if the optimiser's parameter groups are not the ones the schedule was made for (a group
    appended since would never be scheduled: zip stops at the shorter list)."""
    if len(optimizer.param_groups) != scheduled:
        raise ValueError(f"{owner}.step: the optimiser has {len(optimizer.param_groups)} parameter groups, the "
                         f"schedule was made for {scheduled}: make the schedule after adding groups")


class LambdaLR(LRScheduler):
    """lr = base · λ(epoch), with one function for all groups or one per group.
    The functions are not part of the state_dict (as in PyTorch for plain
    functions): make the schedule with the same ones, then load its state."""

    _not_saved = ("optimizer", "lr_lambdas", "lrs_set")

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]]):
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        self.lr_lambdas = _per_group("LambdaLR", "lr_lambda", lr_lambda, groups)
        for i, function in enumerate(self.lr_lambdas):
            if not callable(function):
                raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch (or one per group), "
                                f"got {type(function).__name__} for group {i}")
        super().__init__(optimizer)

    def lrs_at(self, epoch):
        return [base * function(epoch) for base, function in zip(self.base_lrs, self.lr_lambdas)]


class LinearLR(LRScheduler):
    """lr = base · (s + (e − s)·min(epoch, n)/n): from start_factor s to
    end_factor e over total_iters n epochs, then constant (linear warm-up
    with the defaults s = 1/3, e = 1, n = 5)."""

    CHECKS = {**LRScheduler.CHECKS, "start_factor": _positive_fraction, "end_factor": _fraction,
              "total_iters": partial(_whole, low=1)}

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        self._set(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class StepLR(LRScheduler):
    """lr = base · γ^⌊epoch / step_size⌋."""

    CHECKS = {**LRScheduler.CHECKS, "step_size": partial(_whole, low=1), "gamma": _nonnegative}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self._set(step_size=step_size, gamma=gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = base · γ^epoch."""

    CHECKS = {**LRScheduler.CHECKS, "gamma": _nonnegative}

    def __init__(self, optimizer: Optimizer, gamma: float):
        self._set(gamma=gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min)·(1 + cos(π·epoch / T_max))/2."""

    CHECKS = {**LRScheduler.CHECKS, "T_max": partial(_whole, low=1), "eta_min": _nonnegative}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self._set(T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class ReduceLROnPlateau(_Schedule):
    """``step(metric)`` once per epoch: when the metric has not improved for
    more than ``patience`` epochs, lr ← max(lr·factor, min_lr) (skipped when the
    change is below eps), then ``cooldown`` epochs pass before bad epochs count
    again. Improved means, against the best value so far, in mode min
    (max): rel: metric < best·(1 − threshold) (> best·(1 + threshold));
    abs: metric < best − threshold (> best + threshold). A NaN metric is
    never an improvement (as in PyTorch)."""

    CHECKS = {"mode": _one_of("min", "max"), "threshold_mode": _one_of("rel", "abs"),
              "factor": partial(_real, low=0.0, high=1.0, high_open=True), "patience": _count,
              "threshold": _nonnegative, "cooldown": _count, "min_lrs": _nonnegative, "eps": _nonnegative,
              "best": partial(_real, low=-math.inf, high=math.inf, high_open=False),
              "num_bad_epochs": _count, "cooldown_counter": _count, "last_epoch": _count}
    PER_GROUP = ("min_lrs",)

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0.0, eps: float = 1e-8):
        super().__init__(optimizer)
        self._set(mode=mode, threshold_mode=threshold_mode, factor=factor, patience=patience, threshold=threshold,
                  cooldown=cooldown, eps=eps,
                  min_lrs=[_nonnegative("ReduceLROnPlateau", f"min_lr[{i}]", v) for i, v in  # (the argument's name)
                           enumerate(_per_group("ReduceLROnPlateau", "min_lr", min_lr, len(optimizer.param_groups)))])
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, metric: float, best: float) -> bool:
        if self.mode == "min":
            return metric < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return metric > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: Any) -> None:
        """Count the epoch whose metric (a number, or a one-element Tensor/array) is ``metrics``."""
        current = _metric(metrics)
        _check_groups("ReduceLROnPlateau", self.optimizer, len(self.min_lrs))
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0


def _metric(value: Any) -> float:
    """A metric as a float: a real number or a one-element Tensor or array."""
    array = value.data if isinstance(value, Tensor) else value
    if isinstance(array, np.ndarray) and array.size == 1 and array.dtype.kind in "biuf":
        array = array.item()
    if isinstance(array, (bool, np.bool_)) or not isinstance(array, (int, float, np.integer, np.floating)):
        raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number (or a one-element Tensor), "
                        f"got {type(value).__name__} {value!r}")
    return float(array)

"""Module, Parameter, ModuleList, Sequential: torch.nn's conventions.

A Module holds Parameters (leaf tensors that require grad), buffers (arrays
that belong to the state but are not trained) and sub-Modules, registered
just by assigning them as attributes. ``state_dict()`` names everything with
dotted paths (``encoder.rnn.weight_ih_l0``) exactly as PyTorch does -- a
shared (tied) parameter under every name it has -- so the same dictionary of
arrays loads into either library.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from minigrad import Tensor

from ._checks import check_flag


class Parameter(Tensor):
    """A Tensor that a Module trains: requires grad unless told otherwise."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype=None):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _aliases(entries: dict[str, tuple[Module, str, bool]]) -> dict[str, list[str]]:
    """For each state_dict key, every key of the same parameter or buffer (a shared one has several)."""
    groups: dict[Any, list[str]] = {}
    for key, (module, name, is_parameter) in entries.items():
        groups.setdefault(id(module._parameters[name]) if is_parameter else (id(module), name), []).append(key)
    return {key: group for group in groups.values() for key in group}


def _loads_into(source: np.dtype, target: np.dtype) -> bool:
    """Whether load_state_dict converts ``source`` to ``target``: within a kind
    (NumPy's "same_kind" casting, so int -> float and float64 -> float32 too),
    or any integer into an integer (the values are then checked to fit)."""
    if target.kind in "iu":
        return source.kind in "biu"
    return np.can_cast(source, target, casting="same_kind")


class Module:
    """Base class of every layer and model (see the README's "write your own layer")."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration: assigning a Parameter or Module attribute registers it --------------
    # A name lives in exactly one place: a registry or the instance __dict__.
    def __setattr__(self, name: str, value: Any) -> None:
        """As in PyTorch: a Parameter or Module (re)registers ``name``, replacing
        whatever it held; over a registered name, anything else must fit the
        registry (a parameter or sub-module takes only None, a buffer what
        register_buffer takes: an array, a Tensor (its array) or None) and is
        checked before anything changes; other values are plain attributes."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, (Parameter, Module)):
            self._check_name(name, "parameter" if isinstance(value, Parameter) else "module")
            self._register(self._parameters if isinstance(value, Parameter) else self._modules, name, value)
        elif name in self._parameters:
            self._parameters[name] = self._checked(name, value, "parameter", "nn.Parameter", ())
        elif name in self._modules:
            self._modules[name] = self._checked(name, value, "module", "nn.Module", ())
        elif name in self._buffers:
            value = self._checked(name, value, "buffer", "a NumPy array, a Tensor", (np.ndarray, np.generic, Tensor))
            self._buffers[name] = self._buffer_array(name, value)
        else:
            object.__setattr__(self, name, value)

    def _checked(self, name: str, value: Any, kind: str, expected: str, accepted: tuple[type, ...]) -> Any:
        """``value`` if it may replace the registered ``kind`` ``name`` (None always may), else TypeError."""
        if value is not None and not isinstance(value, accepted):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as {kind} '{name}' "
                            f"({expected} or None expected)")
        return value

    def _check_name(self, name: Any, kind: str) -> None:
        """A ``kind``'s name (as PyTorch's): a non-empty str without "." -- state_dict's separator: a
        parameter "inner.weight" beside the sub-module inner's weight would share its key, and the
        checkpoint would lack one of them -- and not "training" (the module's mode)."""
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: a {kind}'s name must be a str, got {type(name).__name__} "
                            f"{name!r}")
        if not name or "." in name or name == "training":
            raise ValueError(f"{type(self).__name__}: {name!r} cannot name a {kind} (a name is not empty, has "
                             "no '.', which separates state_dict's names, and is not 'training', the mode)")

    def _buffer_array(self, name: str, value: Any) -> np.ndarray | None:
        """``value`` as the array of the buffer ``name`` (None stays None): numbers only (bool, int,
        float, complex), what load_state_dict and nn.save handle; strings and objects are a TypeError."""
        if value is None:
            return None
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"{type(self).__name__}: buffer '{name}' must hold numbers, got dtype {array.dtype}")
        return array

    def _register(self, registry: OrderedDict, name: str, value: Any) -> None:
        """Put ``value`` under ``name`` in ``registry`` and forget ``name`` everywhere else (the other
        registries, the plain attributes). A replacement keeps its place, as in PyTorch: moved to the end,
        a Sequential's replaced "0" would run last, and parameters() would change order."""
        for other in (self._parameters, self._buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        self.__dict__.pop(name, None)
        registry[name] = value

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            table = self.__dict__.get(registry)
            if table is not None and name in table:
                return table[name]
        if name in ("_parameters", "_buffers", "_modules", "training"):  # (Module.__init__ makes them all)
            raise AttributeError(f"{type(self).__name__} has no '{name}': its __init__ must call "
                                 "super().__init__() first")
        raise AttributeError(f"'{type(self).__name__}' has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """State that is saved and loaded but not trained (e.g. running statistics): an array of
        numbers (a Tensor gives its array), or None."""
        self._check_name(name, "buffer")
        array = self._buffer_array(name, value)
        self._register(self._buffers, name, array)

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        """Register ``value`` under ``name``; None reserves the name (e.g. ``bias=False``)."""
        if value is not None and not isinstance(value, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got {type(value).__name__}")
        self._check_name(name, "parameter")
        self._register(self._parameters, name, value)

    # -- calling ----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- walking the tree -------------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and every sub-module, depth first, with dotted names; a module reachable by two
        paths once (under its first), or under every path with ``remove_duplicate=False`` (as PyTorch's
        state_dict lists shared modules; a module that contains itself is still visited once per path)."""
        stack = [(prefix, self, ())]
        seen = set()
        while stack:
            name, module, ancestors = stack.pop()
            if (id(module) in seen) if remove_duplicate else (id(module) in ancestors):
                continue
            seen.add(id(module))
            yield name, module
            path = (*ancestors, id(module))
            children = [(f"{name}.{child}" if name else child, sub, path) for child, sub in module._modules.items()
                        if sub is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (module for _, module in self.named_modules())

    def children(self) -> Iterator[Module]:
        """The direct sub-modules; one registered under two names once (as PyTorch's)."""
        return iter({id(module): module for module in self._modules.values() if module is not None}.values())

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        """Every entry of each module's ``registry`` ("_parameters" or "_buffers") with its dotted name,
        depth first; one held by two modules (or under two names) once, under its first name."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, registry).items():
                if value is not None and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every Parameter with its dotted name; a parameter shared by two modules once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (param for _, param in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (array) with its dotted name; one registered twice once, as PyTorch's."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        return (buffer for _, buffer in self.named_buffers(recurse=recurse))

    # -- state --------------------------------------------------------------------------------
    def _state_entries(self) -> OrderedDict[str, tuple[Module, str, bool]]:
        """(owning module, attribute name, is it a parameter) of every state_dict
        entry, keyed by dotted name: per module its parameters, then its buffers;
        a shared parameter or module under every name it has, as in PyTorch (so
        that tied weights load both ways)."""
        entries: OrderedDict[str, tuple[Module, str, bool]] = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    entries[prefix + name] = (module, name, True)
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    entries[prefix + name] = (module, name, False)
        return entries

    @staticmethod
    def _entry_value(module: Module, name: str, is_parameter: bool) -> np.ndarray:
        return module._parameters[name].data if is_parameter else module._buffers[name]

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name (PyTorch's keys)."""
        return OrderedDict((key, self._entry_value(*entry).copy()) for key, entry in self._state_entries().items())

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays from ``state_dict`` into the parameters and buffers.

        Every entry is checked and converted before anything changes, so a
        failed load leaves the module exactly as it was. In this order:

        1. keys (with ``strict`` a missing or unexpected key is an error) and
           shapes (always): one ValueError listing every problem;
        2. dtypes: an entry must convert to its target's dtype without changing
           kind (see _loads_into): bools and ints load into float parameters,
           float64 into float32, any integer into an integer buffer, but
           strings, objects, complex numbers (whose imaginary part would be
           dropped) and floats into an integer buffer are a TypeError listing
           every such entry;
        3. values: parameters must be finite after the conversion (a checkpoint
           of a diverged run, or a float64 beyond float32's range, is a
           ValueError); an integer buffer must hold every value exactly.
           Float buffers may hold inf or NaN on purpose and are not checked.

        Returns (missing keys, unexpected keys)."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"load_state_dict: expected a dict of arrays, got {type(state_dict).__name__}")
        strict = check_flag("load_state_dict", "strict", strict)
        where = f"load_state_dict into {type(self).__name__}"
        entries = self._state_entries()
        aliases = _aliases(entries)
        missing = [k for k in entries if not any(alias in state_dict for alias in aliases[k])]  # (one name will do)
        unexpected = [k for k in state_dict if k not in entries]
        arrays, mismatched, bad_types = {}, [], []
        for key, value in state_dict.items():
            if key not in entries:
                continue
            current = self._entry_value(*entries[key])
            try:
                array = np.asarray(value.data if isinstance(value, Tensor) else value)
            except ValueError as error:  # e.g. a ragged nested list
                bad_types.append(f"{key}: not an array ({error})")
                continue
            if array.shape != current.shape:
                mismatched.append(f"{key}: checkpoint {array.shape}, model {current.shape}")
            elif not _loads_into(array.dtype, current.dtype):
                bad_types.append(f"{key}: checkpoint dtype {array.dtype} does not load into {current.dtype}")
            else:
                arrays[key] = array
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise ValueError(f"{where}: " + "; ".join(problems))
        if bad_types:
            raise TypeError(f"{where}: " + "; ".join(bad_types) + " (strings, objects and complex numbers never "
                            "load; floats do not load into integer buffers)")
        converted, bad_values = {}, []
        for key, array in arrays.items():
            is_parameter, dtype = entries[key][2], self._entry_value(*entries[key]).dtype
            with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values are reported below
                converted[key] = np.array(array, dtype=dtype, copy=True)
            if is_parameter and not np.isfinite(converted[key]).all():
                count = int(converted[key].size - np.isfinite(converted[key]).sum())
                bad_values.append(f"{key}: {count} of {array.size} values are NaN or inf in {dtype}")
            elif dtype.kind in "biu" and not np.array_equal(converted[key], array):
                bad_values.append(f"{key}: values outside the range of {dtype}")
        for key, array in converted.items():  # a shared parameter or buffer gets one value, under any of its names
            first = next(alias for alias in aliases[key] if alias in converted)
            if first != key and not np.array_equal(converted[first], array, equal_nan=array.dtype.kind in "fc"):
                bad_values.append(f"{key}: differs from {first}, another name of the same shared "
                                  + ("parameter" if entries[key][2] else "buffer"))
        if bad_values:
            raise ValueError(f"{where}: " + "; ".join(bad_values))
        for key, array in converted.items():
            module, name, is_parameter = entries[key]
            if is_parameter:
                module._parameters[name].data = array
            else:
                module._buffers[name] = array
        return missing, unexpected

    # -- modes and housekeeping --------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and all sub-modules; ``mode`` must be a
        bool (train("eval") would be training mode)."""
        mode = check_flag(f"{type(self).__name__}.train", "mode", mode)
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients (sets ``.grad`` to None, like PyTorch's default)."""
        for param in self.parameters():
            param.grad = None

    def to(self, dtype) -> Module:
        """Cast every floating parameter (with its gradient, as in PyTorch: a step
        after to() still applies it) and floating buffer to ``dtype`` (in place);
        integer ones stay as they are. Returns self."""
        dtype = None if dtype is None else np.dtype(dtype)  # (np.dtype(None) would be float64)
        if dtype is None or dtype.kind != "f":
            raise TypeError(f"to: dtype must be a float dtype, got {dtype}")
        for param in self.parameters():
            if param.dtype.kind == "f":
                param.data = param.data.astype(dtype)
                if param.grad is not None:
                    param.grad = Tensor(param.grad.data.astype(dtype))
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.dtype.kind == "f":
                    module._buffers[name] = buffer.astype(dtype)
        return self

    def extra_repr(self) -> str:
        """The settings shown between the parentheses of repr()."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules, registered as "0", "1", ... (as torch.nn.ModuleList)."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def _checked_module(self, module: Any) -> Module:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__} holds Modules, got {type(module).__name__} {module!r}"
                            f"{' (wrap a function in a Module: its forward calls it)' if callable(module) else ''}")
        return module

    def _renumber(self, modules: list[Module]) -> None:
        """Hold ``modules`` under "0", "1", ... in this order (as PyTorch renumbers after insert and del)."""
        self._modules.clear()
        self._modules.update((str(i), module) for i, module in enumerate(modules))

    def append(self, module: Module) -> ModuleList:
        self._modules[str(len(self._modules))] = self._checked_module(module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each of ``modules``; all are checked first, so a bad one adds none."""
        self._renumber([*self, *[self._checked_module(module) for module in modules]])
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (as list.insert); those after it move up by one."""
        modules = list(self)
        modules.insert(operator.index(index), self._checked_module(module))
        self._renumber(modules)

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the module at position ``index`` (negative counts from the end), in its place."""
        modules = list(self)
        modules[operator.index(index)] = self._checked_module(module)
        self._renumber(modules)

    def __delitem__(self, index: int | slice) -> None:
        """Remove the module(s) at ``index``; those after move down, as in PyTorch."""
        modules = list(self)
        del modules[index]
        self._renumber(modules)

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        """The module at ``index``; a slice gives a container of this type holding those modules, as in
        PyTorch (a Sequential's slice runs them), numbered from "0" (PyTorch's Sequential keeps the old
        names, which its own append then overwrites)."""
        modules = list(self._modules.values())
        return self._of(modules[index]) if isinstance(index, slice) else modules[index]

    @classmethod
    def _of(cls, modules: list[Module]) -> ModuleList:
        return cls(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(a, b)(x) == b(a(x))``."""

    def __init__(self, *modules: Module):
        super().__init__(modules)

    @classmethod
    def _of(cls, modules: list[Module]) -> Sequential:
        return cls(*modules)

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x

"""Module, Parameter, ModuleList, Sequential: torch.nn's conventions.

A Module holds Parameters (leaf tensors that require grad), buffers (arrays
that belong to the state but are not trained) and sub-Modules, registered
just by assigning them as attributes. ``state_dict()`` names everything with
dotted paths (``encoder.rnn.weight_ih_l0``) exactly as PyTorch does, so the
same dictionary of arrays loads into either library.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from minigrad import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: requires grad unless told otherwise."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype=None):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model (see the README's "write your own layer")."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration: assigning a Parameter or Module attribute registers it --------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            table = self.__dict__.get(registry)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"'{type(self).__name__}' has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """State that is saved and loaded but not trained (e.g. running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = None if value is None else np.asarray(value)

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        """Register ``value`` under ``name``; None reserves the name (e.g. ``bias=False``)."""
        if value is not None and not isinstance(value, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got {type(value).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = value

    # -- calling ----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- walking the tree -------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every sub-module, depth first, with dotted names."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, sub) for child, sub in module._modules.items()
                        if sub is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (module for _, module in self.named_modules())

    def children(self) -> Iterator[Module]:
        return (module for module in self._modules.values() if module is not None)

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every Parameter with its dotted name; a parameter shared by two modules once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (param for _, param in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buffer

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name (PyTorch's keys)."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        seen = set()
        for module_name, module in self.named_modules():  # per module: parameters, then buffers
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    state[prefix + name] = param.data.copy()
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    state[prefix + name] = buffer.copy()
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays from ``state_dict`` into the parameters and buffers.

        Everything is checked before anything changes: with ``strict`` a missing
        or unexpected key is an error, and a shape mismatch always is; the one
        error lists every problem. Returns (missing keys, unexpected keys)."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"load_state_dict: expected a dict of arrays, got {type(state_dict).__name__}")
        targets = dict(self.named_parameters())
        buffer_owners = {}
        for module_name, module in self.named_modules():
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    buffer_owners[f"{module_name}.{name}" if module_name else name] = (module, name)
        expected = list(targets) + list(buffer_owners)
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets and k not in buffer_owners]
        arrays = {k: np.asarray(v.data if isinstance(v, Tensor) else v) for k, v in state_dict.items()
                  if k in targets or k in buffer_owners}
        mismatched = []
        for key, array in arrays.items():
            if key in targets:
                current = targets[key].data
            else:
                owner, name = buffer_owners[key]
                current = owner._buffers[name]
            if array.shape != current.shape:
                mismatched.append(f"{key}: checkpoint {array.shape}, model {current.shape}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for key, array in arrays.items():
            if key in targets:
                param = targets[key]
                param.data = np.array(array, dtype=param.dtype, copy=True)
            else:
                owner, name = buffer_owners[key]
                owner._buffers[name] = np.array(array, dtype=owner._buffers[name].dtype, copy=True)
        return missing, unexpected

    # -- modes and housekeeping --------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and all sub-modules."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients (sets ``.grad`` to None, like PyTorch's default)."""
        for param in self.parameters():
            param.grad = None

    def to(self, dtype) -> Module:
        """Cast every floating parameter and buffer to ``dtype`` (in place); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to: dtype must be a float dtype, got {dtype}")
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            param.grad = None
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

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        self._modules[str(len(self._modules))] = module
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(a, b)(x) == b(a(x))``."""

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x

"""nn: neural-network building blocks composed from minigrad ops, with
torch.nn's names and semantics."""

from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["Module", "ModuleList", "Parameter", "Sequential"]

"""nn: neural-network building blocks composed from minigrad ops, with
torch.nn's names and semantics."""

from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, detach_state

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
           "detach_state"]

"""nn: neural-network building blocks composed from minigrad ops, with
torch.nn's names and semantics (every public name: docs/api.md).

Recurrent layers share one public base, ``RecurrentLayer`` with a
``CellSpec`` (recurrent.py). The classics: ``Jordan``, ``TimeDelay`` and
``RecursiveNN`` are built on the tape like everything else; the
``EchoStateNetwork`` (esn.py) is plain NumPy, outside the tape, and
``rtrl.rtrl_gradients`` uses forward mode (``mg.jvp``), no tape."""

from minigrad import engine as _engine

from . import ctc, data, functional, init, optim, rtrl, seq2seq, tree, utils
from .activation import Identity, LogSigmoid, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .attention import Attention
from .ctc import CTCLoss
from .data import CharVocab, batches, pad_sequences
from .esn import EchoStateNetwork
from .jordan import Jordan
from .layers import Dropout, Embedding, LayerNorm, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, CellSpec, GRUCell, LSTMCell, RecurrentCell, RecurrentLayer, RNNCell, detach_state
from .seq2seq import AttentionDecoder, Encoder, Seq2Seq
from .serialization import load, save
from .time_delay import TimeDelay
from .tree import RecursiveNN

__all__ = [
    "Module", "ModuleList", "Parameter", "Sequential", "Linear", "Embedding", "Dropout", "LayerNorm",
    "Identity", "ReLU", "Tanh", "Sigmoid", "Softplus", "LogSigmoid", "Softmax", "LogSoftmax",
    "MSELoss", "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "CellSpec", "RecurrentLayer", "RecurrentCell",
    "detach_state", "Attention", "Encoder", "AttentionDecoder", "Seq2Seq", "save", "load",
    "CharVocab", "batches", "pad_sequences", "CTCLoss", "Jordan", "TimeDelay", "RecursiveNN", "EchoStateNetwork",
    "functional", "init", "optim", "seq2seq", "utils", "data", "ctc", "rtrl", "tree",
]

_engine.LIBRARIES.add(__name__)  # detect_anomaly and TraceErrors name your line, not only nn's

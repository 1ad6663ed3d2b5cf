"""minigrad: tape-based reverse-mode autodiff over NumPy arrays."""

from .creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .dot import to_dot
from .engine import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .function import Context, Function
from .grad import grad, value_and_grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops import (
                  abs,
                  add,
                  add_at,
                  addcmul,
                  addmm,
                  astype,
                  broadcast_to,
                  chunk,
                  clip,
                  concat,
                  embedding,
                  exp,
                  getitem,
                  log,
                  log_softmax,
                  logsumexp,
                  matmul,
                  max,
                  maximum,
                  mean,
                  min,
                  minimum,
                  mul,
                  neg,
                  one_hot,
                  pow,
                  relu,
                  reshape,
                  sigmoid,
                  softmax,
                  split,
                  sqrt,
                  stack,
                  sub,
                  sum,
                  swapaxes,
                  tanh,
                  transpose,
                  truediv,
                  unbind,
                  where,
)
from .random import get_rng, manual_seed
from .scan import scan
from .tensor import Tensor, get_default_dtype, set_default_dtype  # first: the other modules build on it

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange",
    "set_default_dtype", "get_default_dtype", "manual_seed", "get_rng",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly",
    "grad", "value_and_grad", "scan", "Function", "Context", "gradcheck", "gradgradcheck", "GradcheckError", "to_dot",
    "add", "addcmul", "addmm", "sub", "mul", "truediv", "neg", "pow", "matmul", "exp", "log", "sqrt", "tanh",
    "sigmoid", "relu",
    "abs", "maximum", "minimum", "clip", "sum", "mean", "max", "min", "reshape", "transpose", "swapaxes",
    "broadcast_to", "astype", "getitem", "add_at", "concat", "stack", "split", "chunk", "unbind", "where",
    "softmax", "log_softmax", "logsumexp", "one_hot", "embedding",
]

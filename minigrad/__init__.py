"""minigrad: tape-based reverse-mode autodiff over NumPy arrays."""

# ruff: noqa: I001  (tensor first: the other modules build on it)
from .tensor import Tensor, get_default_dtype, set_default_dtype
from .checks import GradcheckError, gradcheck, gradgradcheck
from .creation import arange, from_numpy, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .dot import to_dot
from .engine import detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, set_grad_enabled
from .forward import jvp
from .function import Context, Function
from .checkpointing import checkpoint
from .loops import scan
from .ops import (
    abs,
    add,
    add_at,
    addcmul,
    addmm,
    argmax,
    argmin,
    astype,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    broadcast_to,
    chunk,
    clip,
    clone,
    concat,
    embedding,
    equal,
    exp,
    gather,
    getitem,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    not_equal,
    one_hot,
    pow,
    primitive,
    relu,
    reshape,
    sigmoid,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    stop_gradient,
    sub,
    sum,
    swapaxes,
    take_along_axis,
    tanh,
    transpose,
    truediv,
    unbind,
    unsqueeze,
    where,
)
from .random import get_rng, manual_seed, multinomial, rand_like, randn_like
from .tracing import TraceError
from .transforms import grad, hessian, hvp, jacfwd, jacrev, value_and_grad, vjp

__version__ = "0.2.0"

__all__ = [
    "Tensor", "tensor", "from_numpy", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange",
    "rand_like", "randn_like", "multinomial", "set_default_dtype", "get_default_dtype", "manual_seed", "get_rng",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "is_anomaly_enabled",
    "grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "hessian", "hvp", "checkpoint",
    "scan", "TraceError", "Function", "Context", "primitive",
    "gradcheck", "gradgradcheck", "GradcheckError", "to_dot",
    "add", "addcmul", "addmm", "sub", "mul", "truediv", "neg", "pow", "matmul", "exp", "log", "sqrt", "tanh",
    "sigmoid", "relu", "abs", "maximum", "minimum", "clip", "clone", "stop_gradient", "sum", "mean", "max", "min",
    "reshape", "transpose", "swapaxes", "squeeze", "unsqueeze", "broadcast_to", "astype", "getitem", "add_at",
    "concat", "stack", "split", "chunk", "unbind", "where", "softmax", "log_softmax", "logsumexp", "one_hot",
    "embedding", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
    "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "argmax",
    "argmin", "take_along_axis", "gather", "masked_fill",
]

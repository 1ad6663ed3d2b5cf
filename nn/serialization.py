"""nn.save / nn.load: checkpoints as .npz files, written atomically, read without pickle.

A checkpoint is any nesting of dicts, lists and tuples whose leaves are
arrays, Tensors, or plain numbers, strings, booleans and None: a model's
state_dict, an optimiser's, the epoch. Arrays are stored as .npz entries;
the structure (and the plain values, with their types) as JSON in one more
entry, so ``load`` returns the same nesting and types and never unpickles.
``save`` writes a temporary file beside the target and renames it into place,
so an interrupted save leaves the old checkpoint whole.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from minigrad import Tensor

_MANIFEST = "__minigrad_checkpoint__"


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """obj as JSON-able data; arrays move into ``arrays`` and leave a reference."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"nn.save: arrays of dtype {obj.dtype} cannot be saved without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"array": key}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)):
                raise TypeError(f"nn.save: dict keys must be str or int, got {type(k).__name__}")
        return {"dict": [[k, isinstance(k, int), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(v, arrays) for v in obj]}
    raise TypeError(f"nn.save: cannot save a {type(obj).__name__} (use arrays, numbers, strings, dicts, lists)")


def _decode(node: Any, arrays) -> Any:
    if "array" in node:
        return arrays[node["array"]]
    if "value" in node:
        return node["value"]
    if "dict" in node:
        return {(int(k) if is_int else k): _decode(v, arrays) for k, is_int, v in node["dict"]}
    items = [_decode(v, arrays) for v in node.get("list", node.get("tuple", []))]
    return tuple(items) if "tuple" in node else items


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` (.npz), atomically."""
    arrays: dict[str, np.ndarray] = {}
    manifest = json.dumps(_encode(obj, arrays))
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_MANIFEST: np.array(manifest)}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load(path: str | os.PathLike) -> Any:
    """Read what ``save`` wrote; a truncated or foreign file raises ValueError."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise ValueError(f"nn.load: {path} is not a minigrad checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile) or _MANIFEST not in data.files:
                raise ValueError(f"nn.load: {path} is not a minigrad checkpoint (no manifest entry)")
            manifest = json.loads(str(data[_MANIFEST]))
            arrays = {name: data[name] for name in data.files if name != _MANIFEST}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as error:
        raise ValueError(f"nn.load: {path} is truncated or not a minigrad checkpoint ({error})") from None
    except ValueError as error:
        if "not a minigrad checkpoint" in str(error):
            raise
        raise ValueError(f"nn.load: {path} cannot be read safely ({error})") from None
    return _decode(manifest, arrays)

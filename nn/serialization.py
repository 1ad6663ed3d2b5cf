"""nn.save / nn.load: checkpoints as .npz files, written atomically, read strictly and without pickle.

A checkpoint is any nesting of dicts, lists and tuples whose leaves are
arrays, Tensors, NumPy numbers, or plain numbers, strings, booleans and
None: a model's state_dict, an optimiser's, the epoch. Arrays (and NumPy
numbers, as 0-d arrays) are stored as .npz entries; the structure (and the
plain values, with their types) as JSON in one more entry, so ``load``
returns the same nesting, values and types and never unpickles. What
changes: a Tensor comes back as its array, a NumPy string as a str. Dict
keys must be str or int (not bool, which would come back as an int).

Writing: ``save`` writes a temporary file beside the target, fsyncs it and
renames it into place, so an interrupted save leaves the old checkpoint
whole. A save killed outright (SIGKILL, power cut) cannot remove its
temporary; the next save of the same target does: temporaries are named
``.<target>.tmp-<host>-<pid>-<random>.npz``, and one is stale when its owner
is gone -- on this host (POSIX), the process ``pid`` no longer exists; from
another host (a shared disk), it has not been written to for STALE_AFTER
seconds. A save in progress in another process or thread is never touched.

Reading: ``load`` checks everything before it returns anything: the zip
archive (the CRC of every entry), each entry's .npy header (a plain numeric
dtype, a size that matches its bytes), and the manifest (every node one
that ``save`` writes, every array named exactly once). Any deviation --
truncation, flipped bytes, a foreign or hand-made file -- is the same
ValueError, "nn.load: <path> is truncated, corrupt or not a minigrad
checkpoint (<what was wrong>)".
"""

from __future__ import annotations

import io
import json
import lzma
import math
import os
import re
import socket
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from typing import Any

import numpy as np

from minigrad import Tensor

_MANIFEST = "__minigrad_checkpoint__"
_ARRAY_KINDS = "biufc"  # what save writes: bools, ints, floats, complex
_KINDS = "array/scalar/value/dict/list/tuple"  # the manifest's nodes
STALE_AFTER = 24 * 3600.0  # seconds without a write after which another host's temporary counts as abandoned
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"

# What the zip and .npy readers raise on a damaged file (a flipped byte can
# turn "stored" into an unsupported compression method, set the "encrypted"
# flag, break a header's encoding, ...). All of them mean "not a checkpoint we
# can read"; our own checks raise ValueError.
_DAMAGED = (ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, IndexError,
            struct.error, zlib.error, lzma.LZMAError, NotImplementedError, RuntimeError, OverflowError)


# -- the manifest: the checkpoint's structure as JSON ------------------------------------------

def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """obj as JSON-able data; arrays move into ``arrays`` and leave a reference."""
    if isinstance(obj, Tensor):
        obj = obj.data
    scalar = isinstance(obj, np.generic) and obj.dtype.kind in _ARRAY_KINDS  # keeps its dtype as a 0-d array
    if isinstance(obj, np.ma.MaskedArray):
        raise TypeError("nn.save: a masked array would lose its mask; save .data and .mask (two arrays)")
    if isinstance(obj, np.ndarray) or scalar:
        if obj.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"nn.save: arrays of dtype {obj.dtype} cannot be saved without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"scalar" if scalar else "array": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        for k in obj:
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"nn.save: dict keys must be str or int, got {type(k).__name__} {k!r}")
        return {"dict": [[k, isinstance(k, int), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(v, arrays) for v in obj]}
    raise TypeError(f"nn.save: cannot save a {type(obj).__name__} (use arrays, numbers, strings, dicts, lists)")


def _decode(node: Any, arrays: dict[str, np.ndarray], named: set[str]) -> Any:
    """The object ``node`` describes, checked: every node is one ``_encode``
    writes, every array reference names an entry not named before."""
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"manifest node {_short(node)} is not one of {_KINDS}")
    ((kind, content),) = node.items()
    if kind in ("array", "scalar"):
        if not isinstance(content, str) or content not in arrays:
            raise ValueError(f"the manifest names an array {_short(content)} that the archive does not hold")
        if content in named:
            raise ValueError(f"the manifest names the array {content!r} twice")
        named.add(content)
        if kind == "array":
            return arrays[content]
        if arrays[content].ndim != 0:
            raise ValueError(f"the manifest's scalar {content!r} has shape {arrays[content].shape}")
        return arrays[content][()]
    if kind == "value":
        if content is not None and not isinstance(content, (bool, int, float, str)):
            raise ValueError(f"manifest value {_short(content)} is not a number, string, bool or null")
        return content
    if not isinstance(content, list):
        raise ValueError(f"manifest node {_short(node)} is not one of {_KINDS}")
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, named) for v in content]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        out = {}
        for item in content:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[1], bool)
                    and isinstance(item[0], int if item[1] else str)):
                raise ValueError(f"manifest dict item {_short(item)} is not [key, key_is_int, node]")
            key = int(item[0]) if item[1] else item[0]
            if key in out:
                raise ValueError(f"manifest dict has the key {key!r} twice")
            out[key] = _decode(item[2], arrays, named)
        return out
    raise ValueError(f"manifest node {_short(node)} is not one of {_KINDS}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- writing ------------------------------------------------------------------------------------

def _temporary_prefix(target_name: str) -> str:
    """Every temporary of the target ``target_name`` starts with this (the name
    is cut to 64 characters so that the temporary's name stays legal)."""
    return f".{target_name[:64]}.tmp-"


def _owner_is_gone(host: str, pid: int, entry: os.DirEntry, now: float) -> bool:
    """Whether the save that wrote the temporary ``entry`` has ended without
    cleaning up: on this host its process no longer exists; from another host
    (or where process ids cannot be checked) it has not written for STALE_AFTER."""
    if host == _HOST and os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:  # exists, belongs to another user
            return False
        return False
    try:
        return now - entry.stat().st_mtime > STALE_AFTER
    except OSError:  # removed meanwhile
        return False


def _remove_stale_temporaries(directory: str, target_name: str) -> None:
    """Delete the temporaries that killed saves of ``target_name`` left in
    ``directory`` (best effort: a file that cannot be removed stays)."""
    pattern = re.compile(re.escape(_temporary_prefix(target_name)) + r"([A-Za-z0-9_]+)-(\d+)-[a-z0-9_]+\.npz")
    now = time.time()
    with os.scandir(directory) as entries:
        stale = [entry.path for entry in entries
                 if (match := pattern.fullmatch(entry.name)) and _owner_is_gone(match[1], int(match[2]), entry, now)]
    for path in stale:
        try:
            os.remove(path)
        except OSError:
            pass


def _permissions(path: str) -> int:
    """What a plain ``open(path, "wb")`` would leave: the permissions of the file
    already there, else 0666 less the process's umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        pass
    try:  # (Linux tells the umask without changing it)
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)  # (elsewhere it can only be read by setting it: put back at once)
        os.umask(umask)
    return 0o666 & ~umask


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` (.npz), atomically, with the permissions a plain
    open() would give (those of the file it replaces); then remove what killed
    saves of the same ``path`` left behind (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    manifest = json.dumps(_encode(obj, arrays))
    path = os.fsdecode(path)  # (str: the temporary's name is built from it)
    directory, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f"{_temporary_prefix(name)}{_HOST}-{os.getpid()}-", suffix=".npz",
                                     dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_MANIFEST: np.array(manifest)}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, _permissions(path))  # (mkstemp's are 0600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _remove_stale_temporaries(directory, name)


# -- reading ------------------------------------------------------------------------------------

def _read_npy(raw: bytes, kinds: str) -> np.ndarray:
    """The array in the .npy bytes ``raw``: version 1 or 2 header, a dtype of
    one of ``kinds``, exactly as many data bytes as the header's shape needs."""
    buffer = io.BytesIO(raw)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in kinds:
        raise ValueError(f"an entry of dtype {dtype} (checkpoints hold numbers only, never pickled objects)")
    count, offset = math.prod(shape), buffer.tell()
    if count * dtype.itemsize != len(raw) - offset:
        raise ValueError(f"an entry of shape {shape} and dtype {dtype} holds {len(raw) - offset} data bytes")
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _read_checkpoint(file) -> Any:
    """The object in the open checkpoint ``file``, or ValueError (or another
    of _DAMAGED) on the first thing that is not as ``save`` writes it."""
    if file.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
        raise ValueError("not an .npz archive")
    file.seek(0)
    entries: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(file) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name == info.filename or name in entries:
                raise ValueError(f"archive entry {info.filename!r} is not a uniquely named .npy array")
            entries[name] = _read_npy(archive.read(info), "U" if name == _MANIFEST else _ARRAY_KINDS)  # checks CRC
    manifest = entries.pop(_MANIFEST, None)
    if manifest is None or manifest.ndim != 0:
        raise ValueError("no manifest entry")
    named: set[str] = set()
    obj = _decode(json.loads(manifest.item()), entries, named)
    if named != entries.keys():
        raise ValueError(f"the archive holds arrays the manifest does not name: {sorted(entries.keys() - named)}")
    return obj


def load(path: str | os.PathLike) -> Any:
    """Read what ``save`` wrote. A file that cannot be opened raises the usual
    OSError; anything else that is wrong with it raises ValueError."""
    path = os.fspath(path)
    with open(path, "rb") as file:
        try:
            return _read_checkpoint(file)
        except _DAMAGED as error:
            raise ValueError(f"nn.load: {path} is truncated, corrupt or not a minigrad checkpoint "
                             f"({type(error).__name__}: {error})") from None

"""What a sequence model's data needs: padding, seeded mini-batches, and a
character vocabulary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from minigrad import Tensor, get_rng

from ._checks import check_flag, check_rng


def pad_sequences(sequences: Sequence[Sequence[int]], pad_value: int = 0, dtype=np.int64,
                  maxlen: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B, T) array of the sequences padded with ``pad_value`` at the end, and
    their lengths (B,). ``maxlen`` sets T (longer sequences are an error).
    With an integer dtype (ids) the values and pad_value must be integers
    that the dtype holds: a 0.5 would be truncated silently, and 300 (or −1)
    wrap around to 44 (255) in uint8; with dtype bool they must be 0/1
    (a 2 would read as True)."""
    if maxlen is not None:
        if isinstance(maxlen, (bool, np.bool_)) or not isinstance(maxlen, (int, np.integer)):
            raise TypeError(f"pad_sequences: maxlen must be an int or None, got {type(maxlen).__name__} {maxlen!r}")
        if maxlen < 0:
            raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    sequences = [list(s) for s in sequences]
    if not sequences:
        raise ValueError("pad_sequences: got no sequences")
    if np.dtype(dtype).kind in "iu":
        low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
        fits = f"dtype {np.dtype(dtype)} holds {low}..{high}"
        if isinstance(pad_value, (bool, np.bool_)) or not isinstance(pad_value, (int, np.integer)):
            raise TypeError(f"pad_sequences: pad_value must be an int for dtype {np.dtype(dtype)}, got "
                            f"{type(pad_value).__name__} {pad_value!r}")
        if not low <= pad_value <= high:
            raise ValueError(f"pad_sequences: pad_value {pad_value} does not fit: {fits}")
        for i, s in enumerate(sequences):
            values = np.asarray(s)
            if s and values.dtype.kind not in "iu":
                raise TypeError(f"pad_sequences: sequence {i} must hold integers for dtype {np.dtype(dtype)}, got "
                                f"dtype {values.dtype}: {s[:5]}")
            outside = values[(values < low) | (values > high)]
            if outside.size:
                raise ValueError(f"pad_sequences: sequence {i} holds {outside[0]}, which does not fit: {fits}")
    if np.dtype(dtype).kind == "b":  # (NumPy takes any nonzero number as True: 2 would read as 1)
        for what, values in (("pad_value", [pad_value]), *((f"sequence {i}", s) for i, s in enumerate(sequences))):
            bad = [v for v in values if not (isinstance(v, (bool, np.bool_)) or v in (0, 1))]
            if bad:
                raise ValueError(f"pad_sequences: {what} holds {bad[0]!r}; dtype bool holds True/False (or 1/0)")
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    width = int(lengths.max()) if maxlen is None else maxlen
    if lengths.max() > width:
        raise ValueError(f"pad_sequences: a sequence has length {lengths.max()} > maxlen {width}")
    out = np.full((len(sequences), width), pad_value, dtype=dtype)
    for row, s in zip(out, sequences):
        row[:len(s)] = s
    return out, lengths


def batches(*arrays: np.ndarray, batch_size: int, shuffle: bool = True, rng: np.random.Generator | None = None,
            drop_last: bool = False) -> Iterator:
    """Mini-batches of the rows of ``arrays`` (all the same length), in a
    shuffled order drawn from ``rng`` (or the global generator) at the first
    batch. Yields an array for one input, a tuple of arrays for several;
    a list of sequences of different lengths gives object arrays of them
    (to pad per batch with pad_sequences). The arguments are checked at the
    call, not at the first batch."""
    if not arrays:
        raise ValueError("batches: give at least one array")
    arrays = tuple(_rows(i, a) for i, a in enumerate(arrays))
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"batches: arrays have different lengths ({[len(x) for x in arrays]})")
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be an int >= 1, got {batch_size!r}")
    return _batches(arrays, n, batch_size, check_flag("batches", "shuffle", shuffle), check_rng("batches", rng),
                    check_flag("batches", "drop_last", drop_last))


def _rows(index: int, a) -> np.ndarray:
    """``a`` as an array whose first axis is the rows to batch; a list of
    sequences of different lengths (ids to pad per batch) becomes a 1-D
    object array of them. Something without rows is a TypeError."""
    try:
        rows = np.asarray(a)
    except ValueError:  # (NumPy makes no block of sequences of different lengths)
        rows = np.empty(len(a), dtype=object)
        for i, row in enumerate(a):
            rows[i] = row
    if rows.ndim == 0:
        raise TypeError(f"batches: array {index} has no rows (a first axis to batch), got {type(a).__name__} {a!r}")
    return rows


def _batches(arrays: tuple, n: int, batch_size: int, shuffle: bool, rng: np.random.Generator | None,
             drop_last: bool) -> Iterator:
    """batches() after its checks: a generator, so nothing runs before the first batch."""
    order = get_rng(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        picked = tuple(a[index] for a in arrays)
        yield picked[0] if len(picked) == 1 else picked


class CharVocab:
    """Characters <-> ids, with special tokens first: pad = 0, bos = 1, eos = 2
    (and unk = 3 if ``unk``). Unknown characters are an error unless ``unk``."""

    PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"

    def __init__(self, chars: Iterable[str], unk: bool = False):
        unk = check_flag("CharVocab", "unk", unk)
        specials = [self.PAD, self.BOS, self.EOS] + (["<unk>"] if unk else [])
        chars = sorted(set(chars))
        for c in chars:
            if len(c) != 1:
                raise ValueError(f"CharVocab: expected single characters, got {c!r}")
        self.itos = specials + chars
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.unk_id = 3 if unk else None

    @classmethod
    def from_texts(cls, texts: Iterable[str], unk: bool = False) -> CharVocab:
        return cls(set("".join(texts)), unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        add_bos, add_eos = (check_flag("CharVocab.encode", name, value)
                            for name, value in (("add_bos", add_bos), ("add_eos", add_eos)))
        ids = []
        for position, c in enumerate(text):
            i = self.stoi.get(c, self.unk_id)
            if i is None or len(c) != 1:
                raise ValueError(f"CharVocab.encode: unknown character {c!r} at position {position} of {text!r}")
            ids.append(i)
        return [self.bos_id] * add_bos + ids + [self.eos_id] * add_eos

    def encode_batch(self, texts: Sequence[str], add_bos: bool = False,
                     add_eos: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Padded (B, T) ids and lengths (B,)."""
        return pad_sequences([self.encode(t, add_bos, add_eos) for t in texts], pad_value=self.pad_id)

    def decode(self, ids: Iterable[int], stop_at_eos: bool = True) -> str:
        """The text of ``ids`` (integers, in a sequence, array or Tensor), up
        to the first eos; special tokens are left out. A float id or a digit
        string is refused, not truncated or parsed."""
        stop_at_eos = check_flag("CharVocab.decode", "stop_at_eos", stop_at_eos)
        ids = ids.data if isinstance(ids, Tensor) else ids
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"CharVocab.decode: ids must be one sequence (1-D), got shape {ids.shape}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"CharVocab.decode: ids must be integers, got {type(i).__name__} {i!r}")
            if stop_at_eos and i == self.eos_id:
                break
            if not 0 <= i < len(self.itos):
                raise ValueError(f"CharVocab.decode: id {i} is outside 0..{len(self.itos) - 1}")
            if i > 2 and i != self.unk_id:
                out.append(self.itos[i])
        return "".join(out)

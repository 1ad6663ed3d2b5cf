"""Connectionist Temporal Classification (Graves et al. 2006): a loss for
labelling a sequence of T frames with a shorter label sequence whose
alignment to the frames is unknown, and two ways to decode.

A labelling l is read off a frame-by-frame path π (one class per frame) by
collapsing repeats and then dropping blanks: "aa-ab-" -> "aab". The model's
probability of l is the sum over all paths that collapse to it, computed on
the *extended* labelling l' = (blank, l₁, blank, l₂, ..., l_S, blank), of
length L = 2S + 1, with the forward variables (everything in log space)

    α_t(s) = [α_{t−1}(s) ⊕ α_{t−1}(s−1) ⊕ α_{t−1}(s−2)] + y_t(l'_s)

where ⊕ is log-add-exp, y = log_probs, α_{−1} is 0 at s = 0 and −∞ elsewhere,
and the s−2 term only counts when l'_s is a label different from l'_{s−2} (a
blank cannot be skipped between two equal labels). ln p(l) = α_{T−1}(L−1) ⊕
α_{T−1}(L−2). The backward variables β_t(s) (the paths from (t, s) to the
end, y_t included) are the α of the same problem with time and l' reversed.
Every path passes through exactly one s at each frame t, so

    Σ_s exp(α_t(s) + β_t(s) − y_t(l'_s) − ln p) = 1   for every t, and
    ∂(−ln p) / ∂y_t(k) = − Σ_{s: l'_s = k} exp(α_t(s) + β_t(s) − y_t(k) − ln p)

exactly (minus the posterior of class k at frame t), whether or not the rows
of log_probs are normalised (PyTorch's formula assumes they are).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import minigrad as mg
from minigrad import Tensor

from ._checks import check_flag, check_index, check_lengths, check_positive_int, check_reduction
from .module import Module

NEG_INF = -np.inf
_RESHIFT_EVERY = 8  # steps between shifting every lattice row by its maximum


def _ctc_loss_and_grad(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                       target_lengths: np.ndarray, blank: int, need_grad: bool = True
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample −ln p(target | log_probs), (B,), and its exact gradient w.r.t. log_probs, (T, B, C).

    log_probs (T, B, C) float, T ≥ 1; targets (B, S) padded (any label past a
    target's length); input_lengths in 0..T; target_lengths in 0..S; all checked
    by the caller. An impossible sample (no path fits its frames) has loss inf
    and gradient NaN on its frames t < input_length: the gradient of an infinite
    loss does not exist. Frames past a sample's input_length get 0.

    One time loop computes α and β together: the lattice has a row per sample
    for its forward problem and, with the gradient, one per sample for the
    time- and l'-reversed problem, whose α is β (see :class:`_Layout`). Reversing
    a whole lattice row maps every row onto its partner. The sweep keeps the
    first ⌈T/2⌉ rows; from the middle on, each new row meets a kept one
    (forward time t meets reversed time t, and the other way round), which
    gives two frames' posteriors at once: no (T, B, L) array of α + β is ever
    formed. In each step:

    - −∞ is a large finite sentinel ``neg`` (sums of up to T of them stay
      finite; log_probs are checked to be far from it), so no isinf/where;
    - a step's lattice is one flat array: two padding entries, then each
      row's own 2·S_b + 1 positions and one padding entry, rows one after the
      other, so that the taps s, s−1, s−2 are the array shifted by 0, 1, 2,
      every operation runs on contiguous memory, and no work goes to the
      targets' padding; the skip rule is a penalty (0 or neg) added to the
      s−2 tap; a padding entry emits neg, so it stays below neg/2 and adds
      nothing to the row after it (a NaN would, so NaN inputs are set aside
      first: see _screen);
    - ⊕ of the taps is exact: a ⊕ b ⊕ c = m + ln(1 + eˣ⁻ᵐ + eᶻ⁻ᵐ), m the
      largest tap and x, z the other two (two exps, not three);
    - every 8 steps each row is shifted by its own maximum and the shifts are
      summed in float64, so float32 keeps its precision over long sequences
      (the values stay near 0 instead of growing like −t·ln C: 13x smaller
      gradient errors at T = 1000);
    - a frame past a sample's length emits 0 at one position and neg
      elsewhere: the forward problem carries ln p to the end at its last
      blank, and the reversed one waits at its first blank until its first
      real frame;
    - from the middle on, α − y goes straight into the posteriors' buffer,
      a block of steps at a time (:class:`_Posteriors`); blocks are short for
      short sequences, where the work per call is small: their buffers then
      stay in cache and touch few fresh pages (page faults are a good part of
      the time when the heap was just handed back to the system), and longer
      for long ones, where fewer blocks save more calls.
    """
    steps, batch, classes = log_probs.shape
    dtype = log_probs.dtype
    neg = dtype.type(-np.finfo(dtype).max / (8 * (steps + 2)))
    exp_floor = dtype.type(np.log(np.finfo(dtype).tiny) + 8)  # exp(x < floor) adds nothing to a sum ≥ 1
    log_probs, has_neg_inf, nan_samples = _screen(log_probs, targets, input_lengths, target_lengths, blank,
                                                  limit=-neg / (4 * (steps + 2)))
    layout = _Layout(targets, target_lengths, input_lengths, steps, blank, reversed_too=need_grad)
    rows, size = layout.rows, layout.size
    block = min(16, max(4, steps // 32))  # steps of posteriors at a time (see the docstring's end); emissions: 2x
    emissions = _Emissions(log_probs, layout, neg, has_neg_inf, block=min(16, 2 * block))
    skip_penalty = np.where(layout.can_skip, 0, neg).astype(dtype)[2:]

    half = steps // 2
    kept = steps - half + 1 if need_grad else 1  # lattice rows 0..⌈T/2⌉ are kept; later ones use two slots

    slot = [*range(kept), *(kept + j % 2 for j in range(kept, steps + 1))]  # the lattice row of step j

    lattice = np.empty((kept + 2, size + 1), dtype=dtype)  # (a last column for the flip, see _Layout)
    lattice[:, :2] = lattice[:, size] = neg  # (entries the sweep never writes)
    lattice[0] = neg  # α_{−1}: 0 at every row's first position
    lattice[0, layout.first] = 0
    shift = np.zeros(rows)  # Σ of the per-row shifts so far (float64): lattice value + shift = α
    kept_shift = np.zeros((kept, rows))
    skip_tap, high = np.empty(size - 2, dtype=dtype), np.empty(size - 2, dtype=dtype)
    top = np.full(size, neg, dtype=dtype)
    top_out = top[2:]
    others = np.empty((2, size - 2), dtype=dtype)
    lower, middle = others  # the two taps below the top one, then their exp relative to it
    floor = np.full_like(others, exp_floor)  # (an array: np.maximum is slower with a scalar)
    split = emissions.split - 2  # where the reversed rows begin in a row without its first two entries
    scratch = np.empty(size - 2, dtype=dtype)  # α − y (shifted) of every output, until the middle
    if need_grad:  # from then on, straight into the posteriors' buffer
        posterior = _Posteriors(log_probs, layout, neg, exp_floor, lattice, kept_shift, block)
    for k, (y_forward, y_reversed) in zip(range(steps), emissions.steps()):
        previous = lattice[slot[k]]
        stay, advance = previous[2:size], previous[1:size - 1]  # the taps s and s−1 of every output but the first two
        np.add(previous[:size - 2], skip_penalty, out=skip_tap)  # and s−2
        np.maximum(stay, advance, out=high)
        np.minimum(stay, advance, out=lower)
        np.maximum(high, skip_tap, out=top_out)
        np.minimum(high, skip_tap, out=middle)
        np.subtract(lower, top_out, out=lower)  # (two calls: faster than one that broadcasts top_out)
        np.subtract(middle, top_out, out=middle)
        np.maximum(others, floor, out=others)  # (exp is slow where it underflows)
        np.exp(others, out=others)
        sums = posterior.exponents[posterior.collected, 2:] if need_grad and k >= half else scratch
        np.add(lower, middle, out=sums)
        np.add(sums, 1, out=sums)  # (what was below the floor rounds away: exactly 0 stays 0)
        np.log(sums, out=sums)
        if k % _RESHIFT_EVERY == 0:
            row_max = layout.row_max(top)
            top_out -= np.repeat(row_max, layout.row_size)
            shift += row_max
        np.add(sums, top_out, out=sums)
        out = lattice[slot[k + 1], 2:size]
        np.add(sums[:split], y_forward, out=out[:split])
        np.add(sums[split:], y_reversed, out=out[split:])
        if k + 1 < kept:
            kept_shift[k + 1] = shift
        if need_grad and k >= half:  # meets the row of step T−1−k
            posterior.add(k, shift)

    # ln p = α_{T−1}(L−1) ⊕ α_{T−1}(L−2) (the padded frames carry it to the end of the sweep)
    final = lattice[slot[steps]]
    last, before_last = final[layout.last], final[layout.last - 1]  # (padding, far below, if L = 1)
    higher = np.maximum(last, before_last)
    log_p = higher + np.log1p(np.exp(np.minimum(last, before_last) - higher)) + shift[:batch]
    impossible = log_p < neg / 2
    losses = np.where(impossible, np.inf, -log_p).astype(dtype)
    losses[nan_samples] = np.nan
    if not need_grad:
        return losses, None
    grad = posterior.grad
    impossible |= nan_samples
    grad[:, impossible] = np.where(layout.padded[:, :batch][:, impossible, None], 0.0, np.nan)
    return losses, grad


class _Layout:
    """The lattice's rows and where everything sits in a flat lattice row.

    Row b is sample b's forward problem; with the gradient, rows B..2B−1 are
    the reversed problems of samples B−1..0, so rows r and R−1−r are one
    sample's two directions. Row r holds its sample's L_b = 2·S_b + 1
    positions and one padding entry, rows one after the other after two
    padding entries (so a row's first position reads padding at s−1, and
    nothing allowed at s−2); the reversed problem's position p is the
    sample's l'_{L_b−1−p}. A row's padding entry comes after it, so it is
    computed from that row alone and shifted with it: it stays far below the
    row even once the row has become impossible (padding in front of a row,
    computed from the row before but shifted with this one, once came close
    to 0 there and leaked a posterior of 1 onto another sample's blank; padding
    entries scatter nothing). The
    lattice keeps one more entry at the end (index ``size``): entry i of a
    lattice row read backwards from there, ``row[size:0:-1]``, is the partner
    row's value at the same position (row r's position p meets row R−1−r's
    position L_b−1−p).
    """

    def __init__(self, targets: np.ndarray, target_lengths: np.ndarray, input_lengths: np.ndarray, steps: int,
                 blank: int, reversed_too: bool):
        batch = len(targets)
        samples = np.arange(batch)
        self.batch = batch
        self.sample = np.concatenate([samples, samples[::-1]]) if reversed_too else samples  # of each row
        self.rows = len(self.sample)
        self.widths = widths = 2 * target_lengths[self.sample] + 1  # L of each row
        self.row_size = widths + 1  # (its positions and a padding entry)
        self.first = 2 + np.cumsum(self.row_size) - self.row_size  # flat index of each row's position 0
        self.size = 2 + int(self.row_size.sum())
        # the row of every flat entry (the first two count as row 0)
        self.entry_row = np.concatenate([[0, 0], np.repeat(np.arange(self.rows), self.row_size)])
        row = np.repeat(np.arange(self.rows), widths)  # of every position, row by row
        place = np.arange(len(row)) - np.repeat(np.cumsum(widths) - widths, widths)  # p within its row
        self.position, self.position_row = self.first[row] + place, row  # flat index and row of every position
        s = np.where(row >= batch, widths[row] - 1 - place, place)  # which l'_s it is
        with_blank = np.concatenate([targets, np.full((batch, 1), blank)], axis=1)  # (so s // 2 is in range)
        labels = np.where(s % 2 == 1, with_blank[self.sample[row], s // 2], blank)
        self.labels = np.full(self.size, -1, dtype=np.int64)  # l'_s of each flat entry; −1 for padding
        self.labels[self.position] = labels
        self.can_skip = np.zeros(self.size, dtype=bool)  # s−2 -> s allowed
        self.can_skip[2:] = (self.labels[2:] != blank) & (self.labels[2:] != self.labels[:-2]) & (
            self.labels[:-2] >= 0)
        self.last = (self.first + widths - 1)[:batch]  # of each forward row's last position
        self.segments = np.empty(2 * self.rows, dtype=np.intp)  # positions, padding, positions, ...
        self.segments[0::2], self.segments[1::2] = self.first, self.first + widths
        padded = np.arange(steps)[:, None] >= input_lengths[None, :]  # (T, B): frame past the sample's end
        self.padded = np.concatenate([padded, padded[::-1, ::-1]], axis=1) if reversed_too else padded  # (T, rows)
        self.hold = np.where(np.arange(self.rows) < batch, self.first + widths - 1, self.first)  # a padded frame's 0

    def row_max(self, flat: np.ndarray) -> np.ndarray:
        """The largest value of each row's positions."""
        return np.maximum.reduceat(flat, self.segments)[::2]


class _Emissions:
    """y of sweep step k as a flat lattice row: frame k for the forward rows, frame T−1−k for the
    reversed ones, neg in the padding, 0 at the hold position and neg elsewhere on padded frames,
    −inf raised to neg. Gathered a block of steps at a time (a block ends where rows start or stop
    being padded): one np.take per direction and block straight from log_probs (no copy of it),
    then neg and 0 written where the padding and the padded frames are."""

    def __init__(self, log_probs: np.ndarray, layout: _Layout, neg, has_neg_inf: bool, block: int):
        steps, batch, classes = log_probs.shape
        self.frames = log_probs.reshape(steps, batch * classes)
        self.index = np.zeros(layout.size, dtype=np.intp)  # (the padding reads entry 0, then gets neg)
        self.index[layout.position] = layout.sample[layout.position_row] * classes + layout.labels[layout.position]
        self.held = np.zeros(layout.size, dtype=bool)
        self.held[layout.hold] = True
        self.split = layout.first[batch] if layout.rows > batch else layout.size  # the forward rows come first
        self.layout, self.neg, self.has_neg_inf = layout, neg, has_neg_inf
        self.changes = {0} | set(np.flatnonzero((layout.padded[1:] != layout.padded[:-1]).any(axis=1)) + 1)
        self.starts = sorted(self.changes | set(range(0, steps, block))) + [steps]  # of the blocks
        self.forward = np.empty((block, self.split), dtype=log_probs.dtype)
        self.reversed = np.empty((block, layout.size - self.split), dtype=log_probs.dtype)

    def steps(self):
        """Yield y of every sweep step in turn, without the lattice row's first two entries, as two
        views: the forward rows' part and the reversed rows' part."""
        for start, end in zip(self.starts, self.starts[1:]):
            self._gather(start, end)
            for j in range(end - start):  # (the reversed rows' frames were gathered in time order)
                yield self.forward[j, 2:], self.reversed[end - start - 1 - j]

    def _gather(self, start: int, end: int) -> None:
        steps, split = len(self.frames), self.split
        if start in self.changes:  # rows start or stop being padded: where neg and 0 go, per direction
            padded = self.layout.padded[start][self.layout.entry_row]
            to_neg = np.flatnonzero((self.layout.labels < 0) | (padded & ~self.held))
            to_zero = np.flatnonzero(padded & self.held)
            self.fills = [(to_neg[to_neg < split], to_zero[to_zero < split]),
                          (to_neg[to_neg >= split] - split, to_zero[to_zero >= split] - split)]
        n = end - start
        gathered = [np.take(self.frames[start:end], self.index[:split], axis=1, out=self.forward[:n], mode="clip")]
        if split < self.layout.size:
            gathered.append(np.take(self.frames[steps - end:steps - start], self.index[split:], axis=1,
                                    out=self.reversed[:n], mode="clip"))
        for values, (to_neg, to_zero) in zip(gathered, self.fills):
            if self.has_neg_inf:
                np.maximum(values, self.neg, out=values)
            values[:, to_neg] = self.neg
            if len(to_zero):
                values[:, to_zero] = 0


class _Posteriors:
    """Turns α + β of lattice rows into −posteriors scattered onto classes: the gradient. The sweep
    writes α − y of a block of steps into ``exponents``; then the partners' β are added, all flipped
    at once, and the block is turned into posteriors together and scattered onto (frame, sample,
    class) with one ``np.bincount``, whose bins are laid out like the gradient's frames (a blank's
    entries all go to its row's blank class; the padding's to one bin past the end, dropped)."""

    def __init__(self, log_probs: np.ndarray, layout: _Layout, neg, exp_floor, lattice: np.ndarray,
                 kept_shift: np.ndarray, block: int):
        classes = log_probs.shape[2]
        self.block = block  # steps
        self.layout, self.classes, self.neg = layout, classes, neg
        self.lattice, self.kept_shift = lattice, kept_shift
        self.bins = layout.rows * classes  # (row, class) pairs, the reversed rows in sample order
        self.bin_row = np.where(np.arange(layout.rows) < layout.batch, np.arange(layout.rows),
                                layout.batch + layout.sample)  # of each lattice row
        row, labels = layout.entry_row, layout.labels
        step = np.arange(self.block)[:, None]  # of a block, the reversed rows' last first (their frames ascending)
        index = (np.where(row >= layout.batch, self.block - 1 - step, step) * self.bins
                 + self.bin_row[row] * classes + labels)
        self.index = np.where(labels >= 0, index, self.block * self.bins).reshape(-1)  # (padding: one bin past the end)
        self.grad = np.empty_like(log_probs)
        self.exponents = np.empty((self.block, layout.size), dtype=log_probs.dtype)
        self.exponents[:, :2] = neg  # (the sweep writes the rest)
        self.posteriors = np.empty_like(self.exponents)
        self.shifts = np.empty((self.block, layout.rows))
        self.collected = 0  # steps of the block so far
        self.exp_floor, self.exp_of_floor = exp_floor, np.exp(exp_floor)

    def add(self, k: int, shift: np.ndarray) -> None:
        """Step k's α − y is in ``exponents[collected]``, with the rows' shifts ``shift`` (float64):
        collect it, frames k (forward rows) and T−1−k (reversed rows)."""
        self.shifts[self.collected] = shift
        self.collected += 1
        if self.collected == self.block or k == len(self.grad) - 1:
            self._scatter(k - self.collected + 1, k)
            self.collected = 0

    def _scatter(self, first: int, last: int) -> None:
        steps, batch, n = len(self.grad), self.layout.batch, last - first + 1
        exponents = self.exponents[:n]
        partners = slice(steps - last, steps - first + 1)  # the lattice rows of steps T−1−k, last k first
        exponents += self.lattice[partners][::-1, :0:-1]  # α + β − y, shifted (partner rows flipped, see _Layout)
        shifts = self.shifts[:n] + self.kept_shift[partners][::-1, ::-1]
        if first == steps // 2:  # the middle frame: Σ_s posterior = 1 gives ln p at any frame
            values, starts = exponents[0, self.layout.position], np.cumsum(self.layout.widths) - self.layout.widths
            top = np.maximum.reduceat(values, starts)
            sums = np.add.reduceat(np.exp(values - np.repeat(top, self.layout.widths)), starts)
            self.log_p = np.log(sums) + top + shifts[0]
            self.dead = self.layout.padded | (self.log_p < self.neg / 2)[None, :]  # (no posterior there)
        offset = shifts - self.log_p
        offset[self.dead[first:last + 1]] = self.neg
        exponents[:, 2:] += np.repeat(offset.astype(exponents.dtype), self.layout.row_size, axis=1)
        np.clip(exponents, self.exp_floor, 0, out=exponents)  # (a posterior is at most 1; padding is anything)
        np.exp(exponents, out=exponents)
        # −posteriors: exactly 0 for what was below the floor, dead frames included
        posteriors = np.subtract(self.exp_of_floor, exponents, out=self.posteriors[:n])
        per_class = np.bincount(self.index[:posteriors.size], posteriors.reshape(-1),
                                minlength=self.block * self.bins + 1)
        per_class = per_class[:-1].reshape(self.block, self.layout.rows, self.classes)
        forward, reversed_ = per_class[:n, :batch], per_class[self.block - n:, batch:]  # frames k, T−1−k ascending
        # frames T−1−k of the reversed rows first: for T odd the middle frame comes from both sides
        np.copyto(self.grad[steps - 1 - last:steps - first], reversed_, casting="same_kind")
        np.copyto(self.grad[first:last + 1], forward, casting="same_kind")


def _screen(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray, target_lengths: np.ndarray,
            blank: int, limit: float) -> tuple[np.ndarray, bool, np.ndarray]:
    """Raise unless every log_prob of a real frame is −inf, NaN or finite within ±limit (so that sums
    of T of them stay far from the sentinel). Return log_probs with NaN replaced by 0, whether any is
    −inf, and which samples read a NaN (a real frame's blank or one of the sample's labels): those
    get a NaN loss and gradient, computed apart so that the NaN reaches no other sample."""
    steps, batch, classes = log_probs.shape
    no_nan = np.zeros(batch, dtype=bool)
    low, high = log_probs.min(), log_probs.max()
    if low >= -limit and high <= limit:
        return log_probs, False, no_nan
    is_real = np.arange(steps)[:, None] < input_lengths[None, :]  # (T, B)
    real = log_probs[is_real]  # (frames, C)
    finite = real[np.isfinite(real)]
    if (real == np.inf).any() or (finite.size and np.abs(finite).max() > limit):
        worst = np.inf if (real == np.inf).any() else finite[np.argmax(np.abs(finite))]
        raise ValueError(f"ctc_loss: log_probs must be finite or -inf with |values| <= {limit:.3g} for T = "
                         f"{steps} in {log_probs.dtype}, got {worst}")
    has_neg_inf = bool((real == -np.inf).any())
    nan = np.isnan(log_probs)
    if not nan.any():
        return log_probs, has_neg_inf, no_nan
    read = np.zeros((batch, classes), dtype=bool)  # the classes each sample's lattice reads
    read[:, blank] = True
    rows, columns = np.nonzero(np.arange(targets.shape[1])[None, :] < target_lengths[:, None])
    read[rows, targets[rows, columns]] = True
    nan_samples = (nan & is_real[:, :, None] & read[None]).any(axis=(0, 2))
    return np.where(nan, 0, log_probs), has_neg_inf, nan_samples


def _as_ints(values, name: str, owner: str = "ctc_loss") -> np.ndarray:
    try:
        values = np.asarray(values.data if isinstance(values, Tensor) else values)
    except ValueError:  # (NumPy's message for ragged lists names neither the function nor the argument)
        how = " (pad targets to (B, S) with any label, or concatenate them)" if name == "targets" else ""
        raise ValueError(f"{owner}: {name} must form one array, not lists of different lengths{how}") from None
    if values.dtype.kind not in "iu" and values.size:  # (an empty list comes as float64: fine)
        raise TypeError(f"{owner}: {name} must hold integers, got dtype {values.dtype}")
    return values.astype(np.int64)


def _one_per_row(lengths) -> np.ndarray:
    """Lengths as given, a plain number (an unbatched call) as one entry."""
    values = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    return values.reshape(1) if values.ndim == 0 else values


def _padded_targets(targets, input_lengths, target_lengths, batch: int, steps: int, classes: int,
                    blank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check everything a user can get wrong; return targets as (B, S) and both length arrays."""
    targets = _as_ints(targets, "targets")
    input_lengths = check_lengths(_one_per_row(input_lengths), batch, steps, "input_lengths", "ctc_loss: ", minimum=0)
    target_lengths = check_lengths(_one_per_row(target_lengths), batch, None, "target_lengths", "ctc_loss: ",
                                   minimum=0)
    if targets.ndim == 1:  # concatenated
        if targets.size != target_lengths.sum():
            raise ValueError(f"ctc_loss: concatenated targets hold {targets.size} labels but target_lengths add up "
                             f"to {target_lengths.sum()}")
        padded = np.full((batch, max(int(target_lengths.max()), 0)), blank, dtype=np.int64)
        mask = np.arange(padded.shape[1])[None, :] < target_lengths[:, None]
        padded[mask] = targets
    elif targets.ndim == 2:
        if targets.shape[0] != batch:
            raise ValueError(f"ctc_loss: padded targets must be ({batch}, S), got shape {targets.shape}")
        if target_lengths.max(initial=0) > targets.shape[1]:
            raise ValueError(f"ctc_loss: target_lengths go up to {target_lengths.max()} but the padded targets have "
                             f"only {targets.shape[1]} columns")
        mask = np.arange(targets.shape[1])[None, :] < target_lengths[:, None]
        padded = np.where(mask, targets, blank)
    else:
        raise ValueError(f"ctc_loss: targets must be (B, S) padded or 1-D concatenated, got shape {targets.shape}")
    labels = padded[mask]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"ctc_loss: target labels must lie in [0, {classes}), got values from {labels.min()} to "
                         f"{labels.max()}")
    if (labels == blank).any():
        raise ValueError(f"ctc_loss: targets contain the blank class {blank}")
    return padded, input_lengths, target_lengths


class _CTC(mg.Function):
    """Per-sample losses (B,) of log_probs as one op. Its backward scales the
    kernel's exact gradient by ḡ; that gradient is a constant to the tape,
    so CTC has no second derivative: once_differentiable says so."""

    once_differentiable = True

    @staticmethod
    def forward(ctx, log_probs, *, targets, input_lengths, target_lengths, blank, zero_infinity, need_grad):
        work = np.ascontiguousarray(log_probs, dtype=np.promote_types(log_probs.dtype, np.float32))
        losses, grad = _ctc_loss_and_grad(work, targets, input_lengths, target_lengths, blank, need_grad)
        if zero_infinity:
            impossible = np.isinf(losses)
            losses[impossible] = 0
            if need_grad:
                grad[:, impossible] = 0
        ctx.grad = None if grad is None else grad.astype(log_probs.dtype, copy=False)
        return losses.astype(log_probs.dtype)

    @staticmethod
    def backward(ctx, g):
        return g.numpy()[None, :, None] * ctx.grad

    @staticmethod
    def jvp(ctx, *tangents):
        """No forward mode: a TypeError in ctc_loss's words (the default one told the user to give this op a jvp)."""
        raise TypeError("ctc_loss has no forward-mode derivative (its gradient is the kernel's, computed in NumPy), "
                        "so mg.jvp, jacfwd, hessian and hvp cannot go through it; its gradient comes from a backward "
                        "(loss.backward(), mg.grad, jacrev)")


def ctc_loss(log_probs: Tensor, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Tensor:
    """CTC negative log-likelihood of ``targets`` under frame scores ``log_probs`` (T, B, C), or (T, C)
    for one unbatched sequence (then targets (S,), lengths scalars or 1 entry, and a 0-d 'none' loss).

    targets: (B, S) padded or 1-D concatenated; input_lengths in 0..T, target_lengths: B ints.
    reduction: 'none' (B,), 'sum', or 'mean' = batch mean of loss_b / max(target_length_b, 1)
    (PyTorch's). An impossible alignment gives inf (with a NaN gradient on that sample's frames), or 0
    with a zero gradient under zero_infinity; an input_length of 0 gives 0 for an empty target."""
    check_reduction(reduction)
    zero_infinity = check_flag("ctc_loss", "zero_infinity", zero_infinity)
    log_probs = log_probs if isinstance(log_probs, Tensor) else Tensor(log_probs)
    if log_probs.dtype.kind != "f":
        raise TypeError(f"ctc_loss: log_probs must be floating point, got dtype {log_probs.dtype}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.reshape(log_probs.shape[0], 1, log_probs.shape[1])
    if log_probs.ndim != 3 or 0 in log_probs.shape:
        raise ValueError(f"ctc_loss: log_probs must be (T, B, C) or unbatched (T, C) with no empty axis, got shape "
                         f"{log_probs.shape}")
    steps, batch, classes = log_probs.shape
    blank = check_index("blank", blank, classes, "ctc_loss: ")
    padded, input_lengths, target_lengths = _padded_targets(targets, input_lengths, target_lengths, batch, steps,
                                                            classes, blank)
    losses = _CTC.apply(log_probs, targets=padded, input_lengths=input_lengths, target_lengths=target_lengths,
                        blank=blank, zero_infinity=zero_infinity,
                        need_grad=log_probs.requires_grad and mg.is_grad_enabled())
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return (losses * (1.0 / np.maximum(target_lengths, 1)).astype(losses.dtype)).mean()
    return losses[0] if unbatched else losses


class CTCLoss(Module):
    """Module form of :func:`ctc_loss` (torch.nn.CTCLoss's arguments)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__()
        check_reduction(reduction)
        self.blank, self.reduction = blank, reduction
        self.zero_infinity = check_flag("CTCLoss", "zero_infinity", zero_infinity)

    def forward(self, log_probs, targets, input_lengths, target_lengths) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)


# -- decoding --------------------------------------------------------------------------------------

def _scores(log_probs, owner: str) -> np.ndarray:
    """log_probs as float64, if they hold real numbers (a complex one would lose its imaginary part)."""
    values = np.asarray(log_probs.data if isinstance(log_probs, Tensor) else log_probs)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: log_probs must hold real numbers, got dtype {values.dtype}")
    return values.astype(np.float64)


def _refuse_nan_and_inf(scores: np.ndarray, real: np.ndarray | bool, owner: str) -> None:
    """A ValueError if a frame that is decoded (``real``: a bool per frame) holds NaN or +inf, or only −inf:
    argmax would take a NaN class for the best, a beam drop every prefix; +inf is no log-probability (ctc_loss
    refuses it), and a beam summed it with −inf to NaN and ranked nonsense; a frame where no class is possible
    makes every labelling impossible (greedy decoding answered one anyway, a beam none). (Frames past a length
    may hold anything.)"""
    for bad, what in ((np.isnan(scores), "NaN"), (scores == np.inf, "+inf")):
        bad &= np.asarray(real)[..., None]
        if bad.any():
            where = tuple(np.argwhere(bad)[0].tolist())
            raise ValueError(f"{owner}: log_probs hold {what} (at {where}): nothing can be decoded from them")
    impossible = (scores == -np.inf).all(axis=-1) & real
    if impossible.any():
        where = tuple(np.argwhere(impossible)[0].tolist())
        raise ValueError(f"{owner}: log_probs are -inf for every class at frame {where}: no labelling is possible")


def greedy_decode(log_probs, input_lengths: Sequence[int] | None = None, blank: int = 0) -> list[list[int]]:
    """Best path decoding: the likeliest class of every frame, repeats collapsed,
    blanks dropped; log_probs (T, B, C), frames past input_lengths ignored."""
    scores = _scores(log_probs, "greedy_decode")
    if scores.ndim != 3:
        raise ValueError(f"greedy_decode: log_probs must be (T, B, C), got shape {scores.shape}")
    steps, batch, classes = scores.shape
    blank = check_index("blank", blank, classes, "greedy_decode: ")
    lengths = (np.full(batch, steps) if input_lengths is None
               else _as_ints(input_lengths, "input_lengths", "greedy_decode"))
    if lengths.shape != (batch,) or lengths.min(initial=0) < 0 or lengths.max(initial=0) > steps:
        raise ValueError(f"greedy_decode: input_lengths must be {batch} values in 0..{steps}, got {lengths}")
    real = np.arange(steps)[:, None] < lengths[None, :]  # (T, B)
    _refuse_nan_and_inf(scores, real, "greedy_decode")
    best = scores.argmax(axis=2)  # (T, B)
    changed = np.ones_like(best, dtype=bool)
    changed[1:] = best[1:] != best[:-1]
    keep = changed & (best != blank) & real
    return [best[keep[:, b], b].tolist() for b in range(batch)]


def prefix_beam_search(log_probs, beam_width: int, blank: int = 0) -> list[tuple[tuple[int, ...], float]]:
    """Prefix beam search (Hannun et al. 2014) over one utterance's (T, C)
    log_probs: the ``beam_width`` likeliest labellings with their log
    probabilities, best first. Each prefix keeps two probabilities -- of the
    paths ending in blank and of those ending in its last label -- so that a
    repeated label counts as new only after a blank. With a beam wide enough
    for every labelling, each probability is exactly exp(−ctc_loss) of it."""
    scores = _scores(log_probs, "prefix_beam_search")
    if scores.ndim != 2:
        raise ValueError(f"prefix_beam_search: log_probs must be (T, C) for one utterance, got shape {scores.shape}")
    beam_width = check_positive_int("prefix_beam_search: beam_width", beam_width)
    blank = check_index("blank", blank, scores.shape[1], "prefix_beam_search: ")
    _refuse_nan_and_inf(scores, True, "prefix_beam_search")
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, NEG_INF)}  # prefix -> (ln p ending in blank, in label)
    for frame in scores:
        grown: dict[tuple, list] = {}

        def add(prefix: tuple, which: int, value: float) -> None:
            entry = grown.setdefault(prefix, [NEG_INF, NEG_INF])
            entry[which] = np.logaddexp(entry[which], value)

        for prefix, (p_blank, p_label) in beams.items():
            total = np.logaddexp(p_blank, p_label)
            add(prefix, 0, total + frame[blank])  # a blank: same labelling
            for c in range(len(frame)):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    add(prefix + (c,), 1, p_blank + frame[c])  # a new c needs a blank in between
                    add(prefix, 1, p_label + frame[c])  # otherwise the repeat collapses
                else:
                    add(prefix + (c,), 1, total + frame[c])
        alive = [kv for kv in grown.items() if np.logaddexp(*kv[1]) > NEG_INF]  # impossible prefixes take no slot
        ranked = sorted(alive, key=lambda kv: -np.logaddexp(*kv[1]))[:beam_width]
        beams = {prefix: (pb, pl) for prefix, (pb, pl) in ranked}
    return [(prefix, float(np.logaddexp(pb, pl))) for prefix, (pb, pl) in beams.items()]


"""When input and output lengths differ: align label strings to longer frame
sequences with a hidden Markov model, then with CTC, on the same data.

    python -m examples.hmm_alignment          # train both, compare, save hmm_alignment.png

The data are "utterances": a string of 3-7 labels (a-e, no label twice in a
row) read out as a longer sequence of discrete frames (symbols 0-7). Each
label lasts a random number of frames (geometric: it stays with probability
stay[k] per frame) and every frame is a noisy symbol drawn from that label's
emission distribution -- so the data come from a left-to-right HMM. Training
pairs give the frames and the label string, never which frame belongs to
which label: the alignment has to be summed over.

1. The HMM. For a known label string l₁..l_S the model is a chain of S
   states; its likelihood sums over every segmentation with the *forward
   algorithm*, in log space, batched over utterances of different lengths:

       α₀(s) = start(s) + emit₀(s)
       α_t(s) = logsumexp_r [α_{t−1}(r) + trans(r, s)] + emit_t(s)
       ln p(x) = logsumexp_s [α_{T−1}(s) + end(s)]

   written with minigrad ops (mg.scan over time, mg.logsumexp), so the
   gradient of ln p comes for free: the emissions and stay probabilities are
   trained by gradient ascent on it. The same model is trained by Baum-Welch
   (EM, in plain NumPy: forward-backward posteriors, then counts), from the
   same start. Both reach the same maximum; the true parameters set the bar.
   To recognise an unseen utterance the labels become one looping HMM
   (stay, or move on to any other label) and Viterbi finds the best path.

2. CTC. A BiGRU reads the frames and gives per frame a distribution over
   blank + labels; nn.functional.ctc_loss sums over the alignments (the same
   sum, over CTC's blank-separated paths), and greedy decoding reads labels
   off. The HMM is generative (p(frames | labels), durations and all); CTC
   is discriminative (p(labels | frames)) and learns its own features.

Printed: held-out log-likelihood per frame (true, EM, gradient ascent) and
the label error rate of each recogniser; the plot shows one held-out
utterance's frames, the HMM's and CTC's frame posteriors, and training curves.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import check_plot, figure, non_negative_int, positive_float, positive_int, progress, train_step
from examples.ctc_digits import edit_distance
from nn.ctc import greedy_decode

LABELS, SYMBOLS = "abcde", 8
NOISE = 0.1  # the chance that a frame shows a random symbol instead of its label's own
HMM_BATCH = 100  # utterances per padded batch for the HMMs (they sum over all batches for each step)
LOG_ZERO = -1e30  # stands for ln 0: finite, so logsumexp over impossible states has finite gradients (zero)


# -- data ---------------------------------------------------------------------------------------

def random_hmm(rng: np.random.Generator, labels: int = len(LABELS),
               symbols: int = SYMBOLS) -> tuple[np.ndarray, np.ndarray]:
    """The true model: label k shows its own symbol (a random one, different
    for each label) with probability 1 − NOISE, else a uniformly random
    symbol: emission (labels, symbols); and a stay probability (labels,)."""
    own = rng.permutation(symbols)[:labels]
    emission = (1 - NOISE) * np.eye(symbols)[own] + NOISE / symbols
    return emission, rng.uniform(0.6, 0.85, size=labels)


def sample_utterances(n: int, emission: np.ndarray, stay: np.ndarray,
                      rng: np.random.Generator) -> tuple[list[np.ndarray], list[list[int]]]:
    """n (frames, labels) pairs drawn from the left-to-right HMM: 3-7 labels,
    none twice in a row; each lasts a geometric number (≥ 1) of frames."""
    labels, symbols = emission.shape
    frames, strings = [], []
    for _ in range(n):
        string = [int(rng.integers(labels))]
        for _ in range(rng.integers(2, 7)):
            string.append(int((string[-1] + rng.integers(1, labels)) % labels))
        durations = rng.geometric(1 - stay[string])
        states = np.repeat(string, durations)
        frames.append(np.array([rng.choice(symbols, p=emission[k]) for k in states]))
        strings.append(string)
    return frames, strings


def pad_batch(frames: list[np.ndarray], strings: list[list[int]]) -> dict:
    """Frames (T, B) and labels (B, S), zero-padded, with their lengths."""
    frame_lengths = np.array([len(f) for f in frames])
    if (frame_lengths < np.array([len(s) for s in strings])).any():
        raise ValueError("pad_batch: every utterance needs at least one frame per label")
    padded_frames = np.zeros((frame_lengths.max(), len(frames)), dtype=np.int64)
    for b, f in enumerate(frames):
        padded_frames[:len(f), b] = f
    labels, label_lengths = nn.pad_sequences(strings)
    return {"frames": padded_frames, "frame_lengths": frame_lengths, "labels": labels,
            "label_lengths": label_lengths}


def length_sorted_batches(frames: list[np.ndarray], strings: list[list[int]], size: int) -> list[dict]:
    """The whole set as padded batches of utterances of similar length (little padding)."""
    order = np.argsort([len(f) for f in frames], kind="stable")
    return [pad_batch([frames[i] for i in rows], [strings[i] for i in rows])
            for rows in np.array_split(order, max(1, len(order) // size))]


# -- the forward algorithm, in minigrad ops ---------------------------------------------------------

def _floored(x) -> mg.Tensor:
    """x with −inf (ln 0) raised to LOG_ZERO: logsumexp over a row of −inf has
    no gradient (e^(−inf − −inf)), over a row of LOG_ZERO it has a zero one."""
    x = x if isinstance(x, mg.Tensor) else mg.tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"hmm_forward: scores must be floating point log-probabilities, got dtype {x.dtype}")
    return mg.maximum(x, LOG_ZERO)


def hmm_forward(log_start, log_trans, log_emit, lengths, log_end=None) -> mg.Tensor:
    """ln p(x_b) for a batch of HMM observation sequences, by the forward algorithm.

    log_start (B, N) or (N,): ln p(first state); log_trans (B, N, N) or (N, N):
    ln p(next state j | state i) at [..., i, j]; log_emit (T, B, N): ln p(x_t | state),
    frames past a sequence's length ignored; lengths: B ints in 1..T; log_end
    (B, N) or (N,): ln p(end | last state), or None for "may end anywhere" (0).
    Entries may be −inf (impossible). Returns (B,): −inf where no path exists.
    Differentiable in every score; one mg.scan over time."""
    log_emit = _floored(log_emit)
    if log_emit.ndim != 3:
        raise ValueError(f"hmm_forward: log_emit must be (T, B, N), got shape {log_emit.shape}")
    steps, batch, states = log_emit.shape
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"hmm_forward: lengths must be integers, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"hmm_forward: lengths must be {batch} integers (one per sequence), got shape "
                         f"{lengths.shape}")
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"hmm_forward: lengths must lie in 1..{steps}, got {lengths.tolist()}")
    scores = {"log_start": (log_start, (batch, states)), "log_trans": (log_trans, (batch, states, states)),
              "log_end": (np.zeros(states, log_emit.dtype) if log_end is None else log_end, (batch, states))}
    start, trans, end = (_floored(score) for score, _ in scores.values())
    for (name, (_, shape)), score in zip(scores.items(), (start, trans, end)):
        if score.shape not in (shape, shape[1:]):
            raise ValueError(f"hmm_forward: {name} must have shape {shape} or {shape[1:]}, got {score.shape}")

    alpha = start + log_emit[0]
    if steps > 1:
        inside = mg.tensor(np.arange(1, steps)[:, None, None] < lengths[None, :, None])  # (T-1, B, 1)

        def step(alpha: mg.Tensor, frame: tuple) -> tuple[mg.Tensor, None]:
            emit, inside = frame
            new = mg.logsumexp(alpha.unsqueeze(-1) + trans, axis=-2) + emit  # sum over the previous state
            return mg.where(inside, new, alpha), None  # a finished sequence keeps its last α

        alpha, _ = mg.scan(step, alpha, (log_emit[1:], inside))
    log_likelihood = mg.logsumexp(alpha + end, axis=-1)
    return mg.where(log_likelihood.data <= LOG_ZERO / 2, -np.inf, log_likelihood)  # (NaN stays NaN)


def chain_scores(log_emission, log_stay, log_move, batch: dict) -> tuple:
    """The left-to-right HMM of each utterance's label string l₁..l_S: start in
    state 0; state s emits with its label's distribution, stays with ln stay,
    moves on to s+1 (or, from the last state, ends) with ln(1 − stay).
    (log_start, log_trans, log_emit, log_end) for :func:`hmm_forward`, from
    per-label scores (Tensors or arrays: the ops work on both)."""
    labels, label_lengths, frames = batch["labels"], batch["label_lengths"], batch["frames"]
    states = labels.shape[1]
    real = np.arange(states)[None, :] < label_lengths[:, None]  # (B, S)
    start = np.where(np.arange(states) == 0, 0.0, -np.inf)
    stay_rows, move_rows = log_stay[labels], log_move[labels]  # (B, S)
    diagonal = np.eye(states, dtype=bool)[None] & real[:, :, None]
    next_state = np.eye(states, k=1, dtype=bool)[None] & real[:, None, :]
    trans = mg.where(diagonal, stay_rows[..., None], mg.where(next_state, move_rows[..., None], -np.inf))
    last = np.arange(states)[None, :] == (label_lengths - 1)[:, None]
    end = mg.where(last, move_rows, -np.inf)
    emit = log_emission[labels[None, :, :], frames[:, :, None]]  # (T, B, S): ln p(frame t | label of state s)
    return start, trans, emit, end


class LabelHMM(nn.Module):
    """The trainable HMM: per label, emission logits over the symbols and a
    stay logit (float64: the model is tiny and is compared with EM's)."""

    def __init__(self, emission: np.ndarray, stay: np.ndarray):
        super().__init__()
        if not ((emission > 0).all() and (stay > 0).all() and (stay < 1).all()):
            raise ValueError("LabelHMM: emission and stay probabilities must lie strictly between 0 and 1 "
                             "(a logit of ±inf cannot be trained)")
        self.emission_logits = nn.Parameter(np.log(emission))
        self.stay_logits = nn.Parameter(np.log(stay) - np.log1p(-stay))

    def scores(self) -> tuple[mg.Tensor, mg.Tensor, mg.Tensor]:
        """ln emission (labels, symbols), ln stay, ln(1 − stay) (labels,)."""
        return (mg.log_softmax(self.emission_logits, axis=-1), nn.functional.logsigmoid(self.stay_logits),
                nn.functional.logsigmoid(-self.stay_logits))

    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        log_emission, log_stay, _ = self.scores()
        return np.exp(log_emission.data), np.exp(log_stay.data)

    def forward(self, batch: dict) -> mg.Tensor:
        """ln p(frames | label string) of each utterance (B,)."""
        start, trans, emit, end = chain_scores(*self.scores(), batch)
        return hmm_forward(start, trans, emit, batch["frame_lengths"], end)


# -- Baum-Welch and Viterbi, in NumPy -------------------------------------------------------------

def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """ln Σ eˣ over ``axis``; −inf for a row of −inf."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top, axis=axis)


def forward_backward(log_start, log_trans, log_emit, lengths, log_end) -> tuple[np.ndarray, np.ndarray]:
    """Plain NumPy forward-backward (the arguments as :func:`hmm_forward`'s):
    ln p(x_b) (B,) and the state posteriors γ_t(s) = p(state s at t | x)
    (T, B, N), 0 past each length. β_{T_b−1} = end, β_t(r) = logsumexp_s
    [trans(r, s) + emit_{t+1}(s) + β_{t+1}(s)], γ = exp(α + β − ln p)."""
    steps, batch, states = log_emit.shape
    start, end = (np.broadcast_to(a, (batch, states)) for a in (log_start, log_end))
    trans = np.broadcast_to(log_trans, (batch, states, states))
    inside = np.arange(steps)[:, None] < lengths[None, :]  # (T, B)
    alpha, beta = np.empty_like(log_emit), np.empty_like(log_emit)
    alpha[0] = start + log_emit[0]
    for t in range(1, steps):
        new = _logsumexp(alpha[t - 1][:, :, None] + trans, axis=1) + log_emit[t]
        alpha[t] = np.where(inside[t][:, None], new, alpha[t - 1])
    beta[-1] = end
    for t in range(steps - 2, -1, -1):
        new = _logsumexp(trans + (log_emit[t + 1] + beta[t + 1])[:, None, :], axis=2)
        beta[t] = np.where(inside[t + 1][:, None], new, end)
    log_likelihood = _logsumexp(alpha[lengths - 1, np.arange(batch)] + end, axis=1)
    with np.errstate(invalid="ignore"):
        posteriors = np.where(inside[:, :, None], np.exp(alpha + beta - log_likelihood[None, :, None]), 0.0)
    return log_likelihood, posteriors


def baum_welch_step(emission: np.ndarray, stay: np.ndarray,
                    batches: list[dict]) -> tuple[np.ndarray, np.ndarray, float]:
    """One EM iteration for the label HMMs: the E-step's posteriors γ (with the
    parameters given), then the counts they imply. Each state is one run of
    frames, left exactly once, so with occupancy o_s = Σ_t γ_t(s):
        emission[k, v] ∝ Σ γ_t(s) over frames t showing v in states s of label k
        stay[k] = Σ_s (o_s − 1) / Σ_s o_s   over states s of label k.
    Returns the new parameters and the total ln p of the data under the old ones."""
    counts, occupancy, runs, total = np.zeros_like(emission), np.zeros_like(stay), np.zeros_like(stay), 0.0
    for batch in batches:
        with np.errstate(divide="ignore"):
            scores = chain_scores(np.log(emission), np.log(stay), np.log1p(-stay), batch)
        log_likelihood, gamma = forward_backward(*scores[:3], batch["frame_lengths"], scores[3])
        labels, frames = batch["labels"], batch["frames"]
        np.add.at(counts, (np.broadcast_to(labels[None], gamma.shape),
                           np.broadcast_to(frames[:, :, None], gamma.shape)), gamma)
        real = np.arange(labels.shape[1])[None, :] < batch["label_lengths"][:, None]
        occupancy += np.bincount(labels[real], gamma.sum(axis=0)[real], minlength=len(stay))
        runs += np.bincount(labels[real], minlength=len(stay))
        total += float(log_likelihood.sum())
    seen = occupancy > 0  # a label absent from the data keeps its parameters
    new_emission = np.where(seen[:, None], counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300), emission)
    new_stay = np.where(seen, (occupancy - runs) / np.maximum(occupancy, 1e-300), stay)
    return new_emission, new_stay, total


def label_loop(emission: np.ndarray, stay: np.ndarray, frames: np.ndarray) -> tuple:
    """The recogniser's HMM for one utterance: one state per label, any label
    first; stay, or move on to one of the other labels uniformly (how the
    strings were made). (log_start, log_trans, log_emit (T, labels))."""
    labels = len(stay)
    move = (1 - stay) / (labels - 1)
    trans = np.where(np.eye(labels, dtype=bool), stay[:, None], move[:, None])
    return np.full(labels, -np.log(labels)), np.log(trans), np.log(emission[:, frames].T)


def viterbi(log_start: np.ndarray, log_trans: np.ndarray, log_emit: np.ndarray) -> list[int]:
    """The likeliest state path (T,) for emissions log_emit (T, N)."""
    score, back = log_start + log_emit[0], []
    for emit in log_emit[1:]:
        candidates = score[:, None] + log_trans  # [from, to]
        back.append(candidates.argmax(axis=0))
        score = candidates.max(axis=0) + emit
    path = [int(score.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]


def recognise(emission: np.ndarray, stay: np.ndarray, frames: np.ndarray) -> list[int]:
    """The label string of the best path through the label loop (runs collapsed)."""
    path = viterbi(*label_loop(emission, stay, frames))
    return [k for t, k in enumerate(path) if t == 0 or k != path[t - 1]]


def label_error_rate(decoded: list[list[int]], strings: list[list[int]]) -> float:
    """Σ edit distance / Σ reference length."""
    return sum(edit_distance(d, s) for d, s in zip(decoded, strings)) / sum(len(s) for s in strings)


# -- CTC ------------------------------------------------------------------------------------------

class CTCReader(nn.Module):
    """Symbol embedding -> BiGRU -> per frame log-probabilities of blank (class 0) and the labels."""

    def __init__(self, hidden: int, labels: int = len(LABELS), symbols: int = SYMBOLS):
        super().__init__()
        self.embedding = nn.Embedding(symbols, 16)
        self.rnn = nn.GRU(16, hidden, bidirectional=True)
        self.out = nn.Linear(2 * hidden, labels + 1)

    def forward(self, frames: np.ndarray, lengths: np.ndarray) -> mg.Tensor:
        h, _ = self.rnn(self.embedding(frames), lengths=lengths)
        return mg.log_softmax(self.out(h), axis=-1)  # (T, B, labels + 1)


def ctc_recognise(model: CTCReader, frames: list[np.ndarray], strings: list[list[int]]) -> list[list[int]]:
    model.eval()
    batch = pad_batch(frames, strings)
    with mg.no_grad():
        log_probs = model(batch["frames"], batch["frame_lengths"])
    return [[c - 1 for c in seq] for seq in greedy_decode(log_probs, batch["frame_lengths"])]


def train_ctc(model: CTCReader, frames: list, strings: list, epochs: int, batch_size: int, lr: float) -> float:
    """Adam with a cosine schedule on the CTC loss (labels shifted by one:
    class 0 is the blank); returns seconds of training."""
    optimizer = nn.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(frames) // batch_size)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr / 20)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for rows in progress(list(nn.batches(np.arange(len(frames)), batch_size=batch_size)), f"CTC epoch {epoch}"):
            batch = pad_batch([frames[i] for i in rows], [[k + 1 for k in strings[i]] for i in rows])
            log_probs = model(batch["frames"], batch["frame_lengths"])
            loss = nn.functional.ctc_loss(log_probs, batch["labels"], batch["frame_lengths"], batch["label_lengths"])
            train_step(optimizer, loss, max_norm=5.0)
            schedule.step()
    return time.perf_counter() - start


# -- the program ------------------------------------------------------------------------------------

def flat_start(frames: list[np.ndarray], labels: int) -> tuple[np.ndarray, np.ndarray]:
    """HTK's flat start: every label emits the symbols' overall frequencies and stays with probability ½."""
    frequencies = np.bincount(np.concatenate(frames), minlength=SYMBOLS) + 1.0
    return np.tile(frequencies / frequencies.sum(), (labels, 1)), np.full(labels, 0.5)


def per_frame(emission: np.ndarray, stay: np.ndarray, batches: list[dict]) -> float:
    """Mean ln p(frames | labels) per frame, in nats."""
    total = 0.0
    for batch in batches:
        with np.errstate(divide="ignore"):  # EM may leave a symbol a label never showed at probability 0
            start, trans, emit, end = chain_scores(np.log(emission), np.log(stay), np.log1p(-stay), batch)
        total += float(hmm_forward(start, trans, emit, batch["frame_lengths"], end).data.sum())
    return total / frames_in(batches)


def frames_in(batches: list[dict]) -> int:
    return int(sum(batch["frame_lengths"].sum() for batch in batches))


def plot(path: str, frames: np.ndarray, string: list[int], hmm: tuple, model: CTCReader, curves: dict) -> None:
    """One held-out utterance: its frames, the label-loop HMM's and CTC's frame posteriors; training curves."""
    log_start, log_trans, log_emit = label_loop(*hmm, frames)
    _, hmm_posteriors = forward_backward(log_start, log_trans, log_emit[:, None], np.array([len(frames)]),
                                         np.zeros(len(LABELS)))
    model.eval()
    with mg.no_grad():
        ctc_posteriors = np.exp(model(frames[:, None], np.array([len(frames)])).data[:, 0])
    with figure(path, 4, 1, figsize=(9, 10)) as (fig, (top, middle, bottom, curve)):
        top.imshow(np.eye(SYMBOLS)[frames].T, aspect="auto", cmap="Greys", interpolation="nearest")
        top.set_ylabel("symbol")
        top.set_title(f"frames of the held-out utterance '{''.join(LABELS[k] for k in string)}'")
        for axes, posteriors, title in ((middle, hmm_posteriors[:, 0], "HMM (gradient ascent): p(label at frame t)"),
                                        (bottom, ctc_posteriors[:, 1:], "CTC: p(label at frame t); the rest is blank")):
            for k, name in enumerate(LABELS):
                axes.plot(posteriors[:, k], label=name)
            if axes is bottom:
                axes.plot(ctc_posteriors[:, 0], ":", color="grey", label="blank")
            axes.set_ylabel("posterior")
            axes.set_title(title)
            axes.set_xlim(-0.5, len(frames) - 0.5)
            axes.legend(ncol=6, fontsize=7, loc="upper right")
        bottom.set_xlabel("frame")
        for name, values in curves.items():
            curve.plot(values, label=name)
        curve.set_xlabel("updates done (EM iterations / gradient ascent steps)")
        curve.set_ylabel("training ln p per frame")
        curve.set_xscale("symlog", linthresh=1)
        curve.legend()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--train-size", type=positive_int, default=2000)
    parser.add_argument("--test-size", type=positive_int, default=500)
    parser.add_argument("--em-iterations", type=positive_int, default=50)
    parser.add_argument("--steps", type=positive_int, default=200, help="gradient ascent steps (full batch, Adam)")
    parser.add_argument("--lr", type=positive_float, default=0.1, help="gradient ascent learning rate")
    parser.add_argument("--ctc-epochs", type=positive_int, default=6)
    parser.add_argument("--ctc-lr", type=positive_float, default=1e-2)
    parser.add_argument("--hidden", type=positive_int, default=32, help="CTC BiGRU hidden size")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="CTC batch size")
    parser.add_argument("--plot", default="hmm_alignment.png", help="PNG of posteriors and curves ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)
    for name in ("train_size", "test_size", "em_iterations", "steps", "ctc_epochs", "hidden", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    true_hmm = random_hmm(rng)
    train_frames, train_strings = sample_utterances(args.train_size, *true_hmm, rng)
    test_frames, test_strings = sample_utterances(args.test_size, *true_hmm, rng)
    train = length_sorted_batches(train_frames, train_strings, HMM_BATCH)
    test = length_sorted_batches(test_frames, test_strings, HMM_BATCH)
    frame_count = frames_in(train)
    print(f"{args.train_size} training and {args.test_size} held-out utterances of 3-7 labels, "
          f"{frame_count / args.train_size:.1f} frames on average")

    start = time.perf_counter()
    em, em_curve = flat_start(train_frames, len(LABELS)), []
    for _ in progress(range(args.em_iterations), "Baum-Welch"):
        *em, total = baum_welch_step(*em, train)
        em_curve.append(total / frame_count)
    em_seconds = time.perf_counter() - start

    start = time.perf_counter()
    hmm, gd_curve = LabelHMM(*flat_start(train_frames, len(LABELS))), []
    optimizer = nn.optim.Adam(hmm.parameters(), lr=args.lr)
    for _ in progress(range(args.steps), "gradient ascent"):
        log_likelihood = sum(hmm(batch).sum() for batch in train)  # the whole set: a full-batch step
        gd_curve.append(-train_step(optimizer, -log_likelihood / frame_count))
    gd_seconds = time.perf_counter() - start
    gd = hmm.probabilities()
    print(f"Baum-Welch (NumPy): {args.em_iterations} iterations, {em_seconds:.1f} s; gradient ascent on the "
          f"forward algorithm (minigrad): {args.steps} steps, {gd_seconds:.1f} s")
    difference = max(np.abs(gd[0] - em[0]).max(), np.abs(gd[1] - em[1]).max())
    print("held-out ln p(frames | labels) per frame: " + ", ".join(
        f"{name} {per_frame(*params, test):.4f}" for name, params in (("true", true_hmm), ("EM", em),
                                                                       ("gradient ascent", gd)))
        + f" (largest parameter difference gradient ascent vs EM: {difference:.1e})")

    ctc = CTCReader(args.hidden)
    ctc_seconds = train_ctc(ctc, train_frames, train_strings, args.ctc_epochs, args.batch_size, args.ctc_lr)
    results = {f"HMM ({name})": [recognise(*params, f) for f in test_frames]
               for name, params in (("true", true_hmm), ("EM", em), ("gradient ascent", gd))}
    results["CTC (BiGRU)"] = ctc_recognise(ctc, test_frames, test_strings)
    print(f"held-out label error rate ({sum(map(len, test_strings))} labels; CTC trained for {ctc_seconds:.0f} s):")
    for name, decoded in results.items():
        print(f"  {name:<22} {label_error_rate(decoded, test_strings):.2%}")
    if args.plot:
        plot(args.plot, test_frames[0], test_strings[0], gd, ctc, {"EM": em_curve, "gradient ascent": gd_curve})
    return 0


if __name__ == "__main__":
    sys.exit(main())

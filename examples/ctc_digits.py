"""Sequence labelling without alignments: read digit strings out of "spoken"
frame sequences with a BiLSTM trained by CTC.

    python -m examples.ctc_digits                    # train, print label error rate per epoch, save a plot

Each utterance is a string of 3-8 digits. Every digit is a run of 3-7 noisy
feature frames around that digit's prototype vector; short silences fall
between digits (always between two equal digits, as in speech) and around
the utterance; each utterance has its own "speaker" (a random gain and
offset), and the frame noise is nearly as strong as the prototypes. Nobody
says which frames belong to which digit: CTC sums over all the alignments,
and the network has to find them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import (
    check_plot,
    figure,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    train_step,
)
from nn.ctc import ctc_loss, greedy_decode

FEATURES, DIGITS = 16, 10
BLANK = 0  # class 0 is the CTC blank; digit d is class d + 1


def make_utterances(n: int, rng: np.random.Generator, prototypes: np.ndarray,
                    noise: float) -> tuple[list[np.ndarray], list[list[int]]]:
    """n (frames (T_i, FEATURES), digits) pairs."""
    frames, labels = [], []
    for _ in range(n):
        digits = rng.integers(0, DIGITS, size=rng.integers(3, 9)).tolist()
        parts = [np.zeros((rng.integers(0, 5), FEATURES))]  # leading silence
        for k, d in enumerate(digits):
            if k and d == digits[k - 1]:
                parts.append(np.zeros((rng.integers(2, 4), FEATURES)))  # a repeat needs a pause
            elif k and rng.random() < 0.5:
                parts.append(np.zeros((rng.integers(1, 3), FEATURES)))  # a pause
            parts.append(np.repeat(prototypes[d][None], rng.integers(3, 8), axis=0))
        parts.append(np.zeros((rng.integers(0, 5), FEATURES)))  # trailing silence
        x = np.concatenate(parts)
        speaker_gain, speaker_offset = rng.uniform(0.7, 1.3), 0.3 * rng.standard_normal(FEATURES)
        x = speaker_gain * x + speaker_offset + noise * rng.standard_normal(x.shape)
        frames.append(x.astype(np.float32))
        labels.append(digits)
    return frames, labels


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def pad_frames(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(T, B, FEATURES) zero-padded, and the lengths."""
    lengths = np.array([len(f) for f in frames])
    out = np.zeros((lengths.max(), len(frames), FEATURES), dtype=np.float32)
    for b, f in enumerate(frames):
        out[:len(f), b] = f
    return out, lengths


class DigitReader(nn.Module):
    """BiLSTM over the frames, then per frame a score for blank and each digit."""

    def __init__(self, hidden: int):
        super().__init__()
        self.rnn = nn.LSTM(FEATURES, hidden, bidirectional=True)
        self.out = nn.Linear(2 * hidden, DIGITS + 1)

    def forward(self, x, lengths) -> mg.Tensor:
        h, _ = self.rnn(mg.tensor(x), lengths=lengths)
        return mg.log_softmax(self.out(h), axis=-1)  # (T, B, 11) log-probabilities


def label_error_rate(model: DigitReader, frames, labels, batch_size: int = 256) -> tuple[float, list]:
    """Σ edit distance / Σ reference length, over greedy (best path) decodings."""
    model.eval()
    decoded = []
    with mg.no_grad():
        for start in range(0, len(frames), batch_size):
            x, lengths = pad_frames(frames[start:start + batch_size])
            best = greedy_decode(model(x, lengths), lengths, blank=BLANK)
            decoded += [[c - 1 for c in seq] for seq in best]
    errors = sum(edit_distance(d, ref) for d, ref in zip(decoded, labels))
    return errors / sum(len(ref) for ref in labels), decoded


def plot(model: DigitReader, frames: np.ndarray, labels: list[int], path: str) -> None:
    """The input frames and the network's frame posteriors for one test utterance."""
    model.eval()
    with mg.no_grad():
        log_probs = model(frames[:, None], np.array([len(frames)]))
    posteriors = np.exp(log_probs.data[:, 0])
    decoded = [c - 1 for c in greedy_decode(log_probs, [len(frames)])[0]]
    with figure(path, 2, 1, figsize=(9, 5), sharex=True) as (fig, (top, bottom)):
        top.imshow(frames.T, aspect="auto", cmap="coolwarm")
        top.set_ylabel("feature")
        top.set_title(f"input frames of the digits {''.join(map(str, labels))}")
        for k, name in enumerate(["blank"] + [str(d) for d in range(DIGITS)]):
            bottom.plot(posteriors[:, k], label=name, lw=1.5 if k else 1.0, ls="-" if k else ":")
            peaks = np.flatnonzero((posteriors.argmax(1) == k) & (k > 0))
            for t in peaks[np.r_[True, np.diff(peaks) > 1]] if len(peaks) else []:
                bottom.annotate(name, (t, posteriors[t, k]), textcoords="offset points", xytext=(0, 4), ha="center")
        bottom.set_xlabel("frame")
        bottom.set_ylabel("posterior")
        bottom.set_title(f"frame posteriors; greedy decoding: {''.join(map(str, decoded))}")
        bottom.legend(ncol=11, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--train-size", type=positive_int, default=12000)
    parser.add_argument("--test-size", type=positive_int, default=1000)
    parser.add_argument("--noise", type=non_negative_float, default=0.8,
                        help="std of the frame noise (prototypes have std 1)")
    parser.add_argument("--hidden", type=positive_int, default=64)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--lr", type=positive_float, default=1e-2)
    parser.add_argument("--plot", default="ctc_digits.png", help="PNG of the posteriors ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    prototypes = rng.standard_normal((DIGITS, FEATURES))
    train_x, train_y = make_utterances(args.train_size, rng, prototypes, args.noise)
    test_x, test_y = make_utterances(args.test_size, rng, prototypes, args.noise)
    model = DigitReader(args.hidden)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * -(-args.train_size // args.batch_size)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=steps, eta_min=args.lr / 20)
    print(f"{args.train_size} training and {args.test_size} held-out utterances of 3-8 digits, "
          f"{np.mean([len(x) for x in train_x]):.0f} frames on average")
    trained = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        batches = list(nn.batches(np.arange(args.train_size), batch_size=args.batch_size))
        for rows in progress(batches, f"epoch {epoch}"):
            x, lengths = pad_frames([train_x[i] for i in rows])
            labels = [[d + 1 for d in train_y[i]] for i in rows]
            targets, target_lengths = nn.pad_sequences(labels)
            loss = ctc_loss(model(x, lengths), targets, lengths, target_lengths, blank=BLANK)
            train_step(optimizer, loss, max_norm=5.0)
            schedule.step()
        trained += time.perf_counter() - start
        ler, _ = label_error_rate(model, test_x, test_y)
        print(f"epoch {epoch}: loss {loss.item():.3f}, held-out label error rate {ler:.2%}, "
              f"{trained:.0f} s of training")
    if args.plot:
        plot(model, test_x[0], test_y[0], args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

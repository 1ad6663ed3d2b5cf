"""word2vec (Mikolov et al., 2013): skip-gram or CBOW with negative sampling,
trained on Python's own help texts (the `pydoc_data` topics that ship with
every Python), then asked for the nearest neighbours of a few words.

    python -m examples.word2vec                      # skip-gram; held-out loss, neighbours, word2vec.png
    python -m examples.word2vec --model cbow --neighbours list exception

Every word w has two vectors: v_w when it is the input, u_w when it is to be
predicted. Skip-gram predicts each word o near a centre word c from v_c;
CBOW predicts c from h, the mean of the v of the words around it. Instead of
a softmax over the whole vocabulary, negative sampling asks a logistic
question: is (h, o) a real pair, or (h, w) for K words w drawn from the noise
distribution q(w) ∝ count(w)^0.75? Per example, in nats:

    loss = −ln σ(u_o·h) − Σ_k ln σ(−u_wk·h)

The intrinsic number is that loss on held-out text (the last 10% of the
words; every neighbour within --window, no sampling of the window), taken in
expectation over the noise instead of sampled (so it is exact, and the same
for the same model in every run):

    held-out loss = mean over held-out examples of −ln σ(u_o·h) − K·Σ_w q(w)·ln σ(−u_w·h)

It is compared with the best model that ignores the input: a score s_w per
word, at its optimum σ(s_w) = p(w) / (p(w) + K·q(w)) with p the training
frequency of the predicted words (the "unigram" line). What a model gains
below that line is what the input tells it about the word to predict. An
untrained model (all scores 0) sits at (K + 1)·ln 2.

Training: mini-batches of examples, Adam (dense, as with torch.nn.Embedding's
default gradients) with word2vec's learning rate falling linearly to ~0
(nn.optim.LinearLR). The text is small (53k training words), so the
models overfit after a few epochs (the held-out loss turns up; see the
plot). word2vec's subsampling of frequent words (--subsample) is off by
default: it sharpens the neighbours a little, but it trains on fewer pairs
with frequent words than the held-out text holds, and the held-out loss
ends above the unigram line.
"""

from __future__ import annotations

import argparse
import collections
import re
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

WORD = re.compile(r"[a-z_][a-z0-9_]*")


def load_words() -> list[str]:
    """The pydoc topics, lower-cased, as identifier-like words (``__init__`` stays one word)."""
    from pydoc_data.topics import topics
    return WORD.findall("\n".join(topics[k] for k in sorted(topics)).lower())


class Vocabulary:
    """The words seen at least ``min_count`` times, most frequent first, with their counts."""

    def __init__(self, words: list[str], min_count: int):
        counts = collections.Counter(words)
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if not kept:
            raise ValueError(f"no word occurs min_count={min_count} times in {len(words)} words")
        self.words = kept
        self.index = {w: i for i, w in enumerate(kept)}
        self.counts = np.array([counts[w] for w in kept], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: list[str]) -> np.ndarray:
        """Ids of the words in the vocabulary; the others are dropped (as word2vec does, before windowing)."""
        return np.array([self.index[w] for w in words if w in self.index], dtype=np.int64)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """q(w) ∝ count(w)^power: rare words drawn more often than their frequency."""
    q = counts ** power
    return q / q.sum()


def subsample(ids: np.ndarray, counts: np.ndarray, threshold: float, rng: np.random.Generator) -> np.ndarray:
    """Drop each occurrence of a word of frequency f with probability 1 − (√(t/f) + t/f)
    (word2vec's rule): frequent words are thinned, words rarer than t all kept."""
    if threshold <= 0:
        return ids
    ratio = threshold / (counts / counts.sum())
    keep = np.minimum(1.0, np.sqrt(ratio) + ratio)
    return ids[rng.random(len(ids)) < keep[ids]]


def window_offsets(window: int) -> np.ndarray:
    """The 2·window offsets −window..−1, 1..window of a word's neighbours."""
    return np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])


def contexts(ids: np.ndarray, reach: np.ndarray, window: int, pad: int) -> np.ndarray:
    """(N, 2·window): the neighbours of every position within its ``reach``
    (≤ window) words on either side, inside the text; ``pad`` elsewhere."""
    offsets = window_offsets(window)
    positions = np.arange(len(ids))[:, None] + offsets
    inside = (positions >= 0) & (positions < len(ids)) & (np.abs(offsets) <= reach[:, None])
    return np.where(inside, ids[np.clip(positions, 0, len(ids) - 1)], pad)


def examples_of(ids: np.ndarray, reach: np.ndarray, window: int, model: str, pad: int) -> tuple[np.ndarray, ...]:
    """(inputs, targets): skip-gram: (centre, neighbour) pairs, one per neighbour;
    CBOW: (padded neighbours (N, 2·window), centre), for positions with at least one neighbour."""
    around = contexts(ids, reach, window, pad)
    if model == "skipgram":
        centre, which = np.nonzero(around != pad)
        return ids[centre], around[centre, which]
    real = (around != pad).any(axis=1)
    return around[real], ids[real]


class Word2Vec(nn.Module):
    """Input vectors v (the embeddings one keeps; CBOW adds a zero padding row
    that never learns) and output vectors u. Initialised as word2vec does:
    v ~ U(−0.5/d, 0.5/d), u = 0."""

    def __init__(self, vocab: int, dim: int, model: str):
        super().__init__()
        self.model = model
        padding = vocab if model == "cbow" else None
        self.input = nn.Embedding(vocab + (padding is not None), dim, padding_idx=padding)
        self.output = nn.Embedding(vocab, dim)
        with mg.no_grad():
            nn.init.uniform_(self.input.weight, -0.5 / dim, 0.5 / dim)
            if padding is not None:
                self.input.weight.data[padding] = 0
            nn.init.zeros_(self.output.weight)

    def encode(self, inputs: np.ndarray) -> mg.Tensor:
        """h (N, d): v_c for skip-gram centres (N,); for CBOW the mean of the
        neighbours' v (N, 2·window), the padding (zero) rows not counted."""
        v = self.input(inputs)
        if self.model == "skipgram":
            return v
        count = (inputs != self.input.padding_idx).sum(axis=1, keepdims=True)
        if not count.all():
            raise ValueError(f"CBOW examples need at least one neighbour; rows {np.flatnonzero(count == 0).tolist()} "
                             "are all padding")
        return v.sum(axis=1) * (1.0 / count).astype(v.dtype)

    def forward(self, inputs: np.ndarray, candidates: np.ndarray) -> mg.Tensor:
        """Scores u_w·h (N, 1 + K) of the candidates: the true word first, then the K noise words."""
        h = self.encode(inputs)
        return (self.output(candidates) @ h.unsqueeze(-1)).squeeze(-1)


def negative_sampling_loss(scores: mg.Tensor) -> mg.Tensor:
    """−ln σ(s_true) − Σ_k ln σ(−s_k), averaged over the examples (nats per example)."""
    labels = np.zeros(scores.shape, dtype=scores.dtype)
    labels[:, 0] = 1
    return nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="sum") * (1.0 / scores.shape[0])


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def noise_term(scores: np.ndarray, q: np.ndarray, negatives: int) -> np.ndarray:
    """−K·Σ_w q(w)·ln σ(−s_w) per row of ``scores`` (N, V): what the K noise words cost, in expectation."""
    return -negatives * (log_sigmoid(-scores) @ q)


def expected_loss(true_scores: np.ndarray, scores: np.ndarray, q: np.ndarray, negatives: int) -> np.ndarray:
    """−ln σ(s_true) − K·Σ_w q(w)·ln σ(−s_w) per example: ``true_scores`` (N,)
    the true words' scores, ``scores`` (N, V) (or (1, V) for all) every word's."""
    return -log_sigmoid(true_scores) + noise_term(scores, q, negatives)


def held_out_loss(model: Word2Vec, inputs: np.ndarray, targets: np.ndarray, q: np.ndarray, negatives: int) -> float:
    """The negative-sampling loss in expectation over the noise, on held-out
    examples (nats per example). The noise term depends on the input only, so
    it is computed once per distinct input (a skip-gram centre word)."""
    distinct, which = np.unique(inputs, axis=0, return_inverse=True)
    which = which.reshape(-1)
    with mg.no_grad():
        h = model.encode(distinct).data.astype(np.float64)
    u = model.output.weight.data.astype(np.float64)
    true = (h[which] * u[targets]).sum(axis=1)
    return float((-log_sigmoid(true) + noise_term(h @ u.T, q, negatives)[which]).mean())


def unigram_loss(train_targets: np.ndarray, targets: np.ndarray, q: np.ndarray, negatives: int) -> float:
    """The held-out loss of the best input-blind model: s_w = ln(p(w) / (K·q(w)))
    with p the training frequency of predicted words (σ(s_w) = p / (p + K·q))."""
    p = np.bincount(train_targets, minlength=len(q)) / len(train_targets)
    with np.errstate(divide="ignore"):
        s = np.log(p) - np.log(negatives * q)  # −inf for a word never predicted in training: σ(−s) = 1
    return float(expected_loss(s[targets], s[None, :], q, negatives).mean())


def nearest(vectors: np.ndarray, vocab: Vocabulary, word: str, k: int) -> list[tuple[str, float]]:
    """The k words whose vectors have the largest cosine similarity with ``word``'s."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[vocab.index[word]]
    similarity[vocab.index[word]] = -np.inf
    best = np.argsort(-similarity)[:k]
    return [(vocab.words[i], float(similarity[i])) for i in best]


LEARNING_RATES = {"skipgram": 3e-3, "cbow": 1e-2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["skipgram", "cbow"], default="skipgram")
    parser.add_argument("--dim", type=positive_int, default=100, help="vector size d")
    parser.add_argument("--window", type=positive_int, default=5,
                        help="largest distance to a neighbour; in training each "
                        "position draws its reach from 1..window (word2vec's dynamic window)")
    parser.add_argument("--negatives", type=positive_int, default=5, help="noise words K per example")
    parser.add_argument("--min-count", type=positive_int, default=5, help="drop words seen fewer times")
    parser.add_argument("--subsample", type=non_negative_float, default=0.0, help="word2vec's threshold t for thinning "
                        "frequent words in training, e.g. 1e-3 (default 0: keep all; see above)")
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--batch-size", type=positive_int, default=1024)
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="Adam's learning rate, decayed linearly to 1e-4 "
                        "of it as in word2vec (default: " + ", ".join(f"{v:g} for {k}" for k, v in
                                                                    LEARNING_RATES.items()) + ")")
    parser.add_argument("--neighbours", nargs="+", default=["list", "integer", "exception", "true"],
                        help="words to show the nearest neighbours of")
    parser.add_argument("--max-words", type=positive_int, default=None, help="use only the start of the text")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="word2vec.png", help="PNG of the held-out loss and the vectors ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    words = load_words()[:args.max_words]
    split = int(0.9 * len(words))
    too_little = (f"too little text{f' (--max-words {args.max_words})' * bool(args.max_words)} "
                  f"for --min-count {args.min_count}")
    try:
        vocab = Vocabulary(words[:split], args.min_count)
    except ValueError as error:
        parser.error(f"{too_little}: {error}")
    train, held_out = vocab.encode(words[:split]), vocab.encode(words[split:])
    q = noise_distribution(vocab.counts)
    pad = len(vocab)
    every = lambda ids: examples_of(ids, np.full(len(ids), args.window), args.window, args.model, pad)
    (eval_inputs, eval_targets), train_targets = every(held_out), every(train)[1]
    if not (len(train_targets) and len(eval_targets)):  # (the losses would be means of nothing: nan)
        parser.error(f"{too_little}: {len(train_targets)} training and {len(eval_targets)} held-out {args.model} "
                     "examples")
    baseline = unigram_loss(train_targets, eval_targets, q, args.negatives)
    model = Word2Vec(len(vocab), args.dim, args.model)
    optimizer = nn.optim.Adam(model.parameters(), lr=LEARNING_RATES[args.model] if args.lr is None else args.lr)
    print(f"{len(words):,} words, {len(vocab):,} seen >= {args.min_count} times; training on the first "
          f"{len(train):,}, {len(eval_targets):,} held-out {args.model} examples")
    curve = [held_out_loss(model, eval_inputs, eval_targets, q, args.negatives)]
    print(f"held-out loss (nats per example): untrained {curve[0]:.4f}, unigram {baseline:.4f}")

    schedule, seconds = None, 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        ids = subsample(train, vocab.counts, args.subsample, rng)
        inputs, targets = examples_of(ids, rng.integers(1, args.window + 1, len(ids)), args.window, args.model, pad)
        order = rng.permutation(len(targets))
        batches = range(0, len(order), args.batch_size)
        if schedule is None:  # word2vec's linear decay, over the (first epoch's) number of steps
            schedule = nn.optim.LinearLR(optimizer, 1.0, 1e-4, total_iters=args.epochs * len(batches))
        losses = []
        for begin in progress(batches, f"epoch {epoch}"):
            rows = order[begin:begin + args.batch_size]
            candidates = np.hstack([targets[rows, None], rng.choice(len(q), (len(rows), args.negatives), p=q)])
            losses.append(train_step(optimizer, negative_sampling_loss(model(inputs[rows], candidates))))
            schedule.step()
        seconds += time.perf_counter() - start
        curve.append(held_out_loss(model, eval_inputs, eval_targets, q, args.negatives))
        print(f"epoch {epoch}: training loss {np.mean(losses):.4f}, held-out loss {curve[-1]:.4f} "
              f"(unigram {baseline:.4f}), {seconds:.1f} s of training")

    vectors = model.input.weight.data[:len(vocab)]
    print(f"\nnearest neighbours (cosine similarity of the input vectors, {args.model}):")
    for word in args.neighbours:
        if word in vocab.index:
            print(f"  {word:>10}: " + ", ".join(f"{w} {s:.2f}" for w, s in nearest(vectors, vocab, word, 6)))
        else:
            print(f"  {word:>10}: not in the vocabulary")
    if args.plot:
        plot(args.plot, curve, baseline, vectors, vocab, [w for w in args.neighbours if w in vocab.index], args.model)
    return 0


def plot(path: str, curve: list[float], baseline: float, vectors: np.ndarray, vocab: Vocabulary, shown: list[str],
         model: str) -> None:
    """Left: held-out loss after each epoch against the unigram line. Right: the shown
    words and their neighbours, projected on the two principal axes of their vectors."""
    groups = [[w] + [n for n, _ in nearest(vectors, vocab, w, 5)] for w in shown]
    with figure(path, 1, 2, figsize=(11, 4.5)) as (fig, (left, right)):
        left.plot(range(1, len(curve)), curve[1:], "o-", label=model)
        left.axhline(baseline, color="gray", ls="--", label="unigram (ignores the input)")
        left.set(xlabel="epoch", ylabel="held-out loss (nats per example)",
                 title=f"negative-sampling loss (untrained: {curve[0]:.2f})")
        left.legend()
        if groups:
            points = vectors[[vocab.index[w] for g in groups for w in g]]
            centred = points - points.mean(axis=0)
            xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            for k, group in enumerate(groups):
                at = xy[sum(map(len, groups[:k])):][:len(group)]
                right.scatter(at[:, 0], at[:, 1], color=f"C{k}", s=12)
                for (x, y), word in zip(at, group):
                    right.annotate(word, (x, y), color=f"C{k}", fontsize=8, weight="bold" if word == group[0] else None)
        right.set(title="words and their nearest neighbours (first two principal axes)", xticks=[], yticks=[])


if __name__ == "__main__":
    sys.exit(main())

"""Translate dates as people write them into ISO 8601 (1994-09-27) with a
character-level seq2seq model: a BiLSTM encoder and an LSTM decoder with
attention, trained in about a minute on a laptop CPU.

    python -m examples.translate_dates                     # train, evaluate, save checkpoint and plots
    python -m examples.translate_dates --translate "sept. 27, 1994" "27.9.1994"
    printf '9/27/94\\nTuesday, September 27, 1994\\n' | python -m examples.translate_dates --translate -

Training data comes from examples/dates.py: every calendar day 1900-2099 in
19 formats and any letter case; the held-out test dates are days that never
occur in training, in any format.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import figure, progress, train_step
from examples.dates import make_pairs, split_dates
from examples.seq2seq_cli import exact_match, translate, translate_mode

SOURCE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 ,./-"
TARGET_CHARS = "0123456789-"
ISO_LENGTH = 10  # YYYY-MM-DD


def normalize(text: str) -> str:
    """What the model reads: lower case, single spaces, no outer spaces."""
    return " ".join(text.lower().split())


def encode_sources(texts: list[str], vocab: nn.CharVocab) -> tuple[np.ndarray, np.ndarray]:
    """Padded source ids and lengths; unknown characters raise ValueError naming them."""
    ids = []
    for text in texts:
        clean = normalize(text)
        if not clean:
            raise ValueError("empty date: give some text to translate")
        bad = sorted({c for c in clean if c not in vocab.stoi})
        if bad:
            raise ValueError(f"{text!r}: unknown character(s) {', '.join(map(repr, bad))}; dates may use letters, "
                             "digits, spaces and , . / -")
        ids.append(vocab.encode(clean))
    return nn.pad_sequences(ids, pad_value=vocab.pad_id)


def encode_targets(isos: list[str], vocab: nn.CharVocab) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing input <bos> 1994-09-27 and expected output 1994-09-27 <eos>."""
    ids = np.array([vocab.encode(iso) for iso in isos])
    bos = np.full((len(isos), 1), vocab.bos_id)
    eos = np.full((len(isos), 1), vocab.eos_id)
    return np.concatenate([bos, ids], axis=1), np.concatenate([ids, eos], axis=1)


def accuracy(model, pairs, source, target) -> float:
    predictions = translate(model, [p[0] for p in pairs], lambda t: encode_sources(t, source), target, ISO_LENGTH + 1)
    return exact_match(predictions, [iso for _, iso in pairs])


def length_buckets(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of rows with similar lengths: less padding to compute
    and fewer time steps where the encoder has to mask ended sentences."""
    order = rng.permutation(len(lengths))
    pool = 50 * batch_size  # sort within pools of 50 batches, so batches stay random
    chunks = []
    for start in range(0, len(order), pool):
        rows = order[start:start + pool]
        rows = rows[np.argsort(lengths[rows], kind="stable")]
        chunks += [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    return [chunks[i] for i in rng.permutation(len(chunks))]


def build_model(args, source: nn.CharVocab, target: nn.CharVocab) -> nn.Seq2Seq:
    return nn.Seq2Seq(len(source), len(target), embedding_dim=args.embedding, hidden_size=args.hidden,
                      attention=args.attention, bidirectional=True)


def train(args) -> None:

    mg.manual_seed(args.seed)
    source, target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)
    train_dates, test_dates = split_dates(args.seed)
    test_pairs = make_pairs(test_dates, per_date=args.test_renderings, seed=args.seed + 1)
    model = build_model(args, source, target)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    batches_per_epoch = -(-len(train_dates) // args.batch_size)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=args.epochs * batches_per_epoch, eta_min=args.lr / 50)
    print(f"{len(train_dates)} training dates; {len(test_pairs)} held-out examples ({len(test_dates)} dates never "
          f"seen in training, {args.test_renderings} renderings each); "
          f"{sum(p.size for p in model.parameters())} parameters")

    monitor = test_pairs[::max(1, len(test_pairs) // 1000)]  # a held-out sample for the accuracy curve
    history = {"step": [], "loss": [], "monitor_step": [], "accuracy": []}
    trained_seconds, step = 0.0, 0
    for epoch in range(1, args.epochs + 1):
        pairs = make_pairs(train_dates, per_date=1, seed=args.seed * 1000 + epoch)  # fresh renderings each epoch
        src_all, src_len_all = encode_sources([p[0] for p in pairs], source)
        tgt_in_all, tgt_out_all = encode_targets([p[1] for p in pairs], target)
        model.train()
        start = time.perf_counter()
        batches = length_buckets(src_len_all, args.batch_size, mg.get_rng())
        for rows in progress(batches, f"epoch {epoch}"):
            lengths = src_len_all[rows]
            src = src_all[rows, :lengths.max()]
            loss = model.loss(src, lengths, tgt_in_all[rows], tgt_out_all[rows])
            history["loss"].append(train_step(optimizer, loss, max_norm=5.0))
            schedule.step()
            step += 1
            history["step"].append(step)
            if step % args.monitor_every == 0:  # (evaluation time is not training time)
                paused = time.perf_counter()
                history["monitor_step"].append(step)
                history["accuracy"].append(accuracy(model, monitor, source, target))
                model.train()
                start += time.perf_counter() - paused
        trained_seconds += time.perf_counter() - start
        acc = accuracy(model, test_pairs, source, target)
        print(f"epoch {epoch}: loss {np.mean(history['loss'][-len(batches):]):.4f}, held-out exact match "
              f"{acc:.2%} ({round(acc * len(test_pairs))}/{len(test_pairs)}), {trained_seconds:.0f} s of training")

    nn.save({"model": model.state_dict(), "config": vars(args)}, args.checkpoint)
    print(f"saved {args.checkpoint}")
    predictions = translate(model, [p[0] for p in test_pairs], lambda t: encode_sources(t, source), target,
                            ISO_LENGTH + 1)
    wrong = [(text, iso, got) for (text, iso), got in zip(test_pairs, predictions) if got != iso]
    for text, iso, got in wrong[:10]:
        print(f"  wrong: {text!r} -> {got} (should be {iso})")
    plot(history, model, test_pairs, source, target, args.plots)


def plot(history: dict, model, pairs, source, target, prefix: str) -> None:
    """Loss and accuracy curves, and attention heatmaps for a few test dates."""
    with figure(f"{prefix}_curves.png", figsize=(7, 4)) as (fig, ax):
        ax.plot(history["step"], history["loss"], lw=0.8, label="training loss")
        ax.set_yscale("log")
        ax.set_xlabel("batch")
        ax.set_ylabel("cross-entropy")
        ax2 = ax.twinx()
        ax2.plot(history["monitor_step"], [100 * a for a in history["accuracy"]], ".-", color="C1",
                 label="held-out exact match (1000-date sample)")
        ax2.set_ylim(0, 101)
        ax2.ticklabel_format(axis="y", useOffset=False)
        ax2.set_ylabel("held-out exact match (%)")
        fig.legend(loc="center", bbox_to_anchor=(0.55, 0.55))

    examples = [p[0] for p in pairs[::max(1, len(pairs) // 4)][:4]]  # four different dates
    model.eval()
    src, lengths = encode_sources(examples, source)
    tokens, weights = model.greedy_decode(src, lengths, max_len=ISO_LENGTH + 1)
    with figure(f"{prefix}_attention.png", 1, len(examples), figsize=(4.2 * len(examples), 3.6)) as (fig, axes):
        for ax, text, toks, w, n in zip(axes, examples, tokens, weights, lengths):
            output = list(target.decode(toks)) + ["<eos>"]
            ax.imshow(w[:len(output), :n], cmap="viridis", aspect="auto")
            ax.set_xticks(range(n), list(normalize(text)), fontsize=8)
            ax.set_yticks(range(len(output)), output, fontsize=8)
            ax.set_title(normalize(text), fontsize=9)


def run_translate(args) -> int:
    if not os.path.exists(args.checkpoint):
        print(f"no checkpoint at {args.checkpoint}: train first (python -m examples.translate_dates)", file=sys.stderr)
        return 2
    checkpoint = nn.load(args.checkpoint)
    source, target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)
    model = build_model(argparse.Namespace(**checkpoint["config"]), source, target)
    model.load_state_dict(checkpoint["model"])
    return translate_mode(args.translate, lambda texts: translate(
        model, texts, lambda t: encode_sources(t, source), target, ISO_LENGTH + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translate", nargs="+", metavar="DATE",
                        help="translate these dates with the saved checkpoint ('-': one date per line from stdin)")
    parser.add_argument("--checkpoint", default="translate_dates.npz", help="where to save / load the model")
    parser.add_argument("--attention", default="general", choices=["dot", "general", "concat", "additive"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--embedding", type=int, default=24, help="character embedding size")
    parser.add_argument("--hidden", type=int, default=48, help="encoder hidden size per direction")
    parser.add_argument("--test-renderings", type=int, default=2, help="renderings of each held-out date to test")
    parser.add_argument("--monitor-every", type=int, default=64, help="batches between accuracy-curve points")
    parser.add_argument("--plots", default="translate_dates", help="prefix of the PNG files")
    args = parser.parse_args(argv)
    if args.translate:
        return run_translate(args)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

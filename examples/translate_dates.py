"""Translate dates as people write them into ISO 8601 (1994-09-27), and
refuse what is not one, with a character-level seq2seq model: a BiLSTM
encoder and an LSTM decoder with attention, trained in about a minute on a
laptop CPU.

    python -m examples.translate_dates                     # train, evaluate, save checkpoint and plots
    python -m examples.translate_dates --translate "sept. 27, 1994" "27.9.94" "Feb 30, 2001"
    printf '9/27/94\\nTuesday, September 27, 1994\\nhello\\n' | python -m examples.translate_dates --translate -

The model learns from examples/dates.py: every calendar day 1900-2099 in
the formats people write, and text that is not a date (impossible dates,
years out of range, partial dates, other text), for which it writes "?".
The held-out dates never occur in training, in any format.

It answers only what it can stand behind. Any of these refuses an input:
the text has a character no date has, or is empty or too long; the model
writes "?"; its answer is not a calendar date in 1900-2099 or does not fit
the text (the numbers, month and weekday written must be the answer's, see
dates.answer_problem); the model's confidence, the smallest probability it
gave any token of its answer, is below --min-confidence.

The checkpoint is saved after every epoch; Ctrl-C keeps the last one (exit
130) and --resume continues the run to the result it would have had.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples import common, dates
from examples.common import EpochCheckpoint
from examples.seq2seq_cli import CONTRACT, Answer, load_trained, translate_mode, translate_with_confidence

SOURCE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 ,./-'"
TARGET_CHARS = "0123456789-?"
NOT_A_DATE = "?"
ISO_LENGTH = 10  # YYYY-MM-DD
MAX_SOURCE_LENGTH = 48  # longer than any date in the formats (40 at most)


def normalize(text: str) -> str:
    """What the model reads: lower case, curly quotes straight, no BOM,
    single spaces and none next to punctuation or at the ends."""
    text = " ".join(text.lower().translate({0x2018: "'", 0x2019: "'", 0xFEFF: None}).split())
    return re.sub(r" (?=[,./'-])|(?<=[,./'-]) ", "", text)


def source_problem(clean: str, vocab: nn.CharVocab) -> str | None:
    """Why the model cannot read a normalized text at all (None if it can)."""
    if not clean:
        return "empty: nothing to translate"
    bad = sorted({c for c in clean if c not in vocab.stoi})
    if bad:
        return (f"unknown character(s) {', '.join(map(repr, bad))}: dates are written with letters, digits, spaces "
                "and , . / - '")
    if len(clean) > MAX_SOURCE_LENGTH:
        return f"{len(clean)} characters, more than any date ({MAX_SOURCE_LENGTH} at most)"
    return None


def encode_sources(texts: list[str], vocab: nn.CharVocab) -> tuple[np.ndarray, np.ndarray]:
    """Padded ids and lengths of the normalized texts; a text the model
    cannot read raises ValueError naming it."""
    ids = []
    for text in texts:
        clean = normalize(text)
        problem = source_problem(clean, vocab)
        if problem:
            raise ValueError(f"{text!r}: {problem}")
        ids.append(vocab.encode(clean))
    return nn.pad_sequences(ids, pad_value=vocab.pad_id)


def encode_targets(answers: list[str], vocab: nn.CharVocab) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing input <bos> 1994-09-27 and expected output 1994-09-27 <eos> (or <bos> ? and ? <eos>)."""
    tgt_in, _ = nn.pad_sequences([vocab.encode(a, add_bos=True) for a in answers], pad_value=vocab.pad_id)
    tgt_out, _ = nn.pad_sequences([vocab.encode(a, add_eos=True) for a in answers], pad_value=vocab.pad_id)
    return tgt_in, tgt_out


class DateTranslator:
    """The model and the checks around it: texts in, an Answer per text out
    (the ISO date, or None and why not)."""

    def __init__(self, model: nn.Seq2Seq, min_confidence: float):
        self.model, self.min_confidence = model, min_confidence
        self.source, self.target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)

    def __call__(self, texts: list[str]) -> list[Answer]:
        clean = [normalize(text) for text in texts]
        answers: list[Answer | None] = [(None, problem) if problem else None
                                        for problem in (source_problem(c, self.source) for c in clean)]
        readable = [i for i, answer in enumerate(answers) if answer is None]
        decoded = translate_with_confidence(self.model, [clean[i] for i in readable], self.encode, self.target,
                                            ISO_LENGTH + 1)
        for i, (iso, confidence) in zip(readable, decoded):
            answers[i] = self.judge(clean[i], iso, confidence)
        return answers

    def encode(self, clean: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return nn.pad_sequences([self.source.encode(c) for c in clean], pad_value=self.source.pad_id)

    def judge(self, clean: str, iso: str, confidence: float) -> Answer:
        """The model's answer, if the checks let it through."""
        if iso == NOT_A_DATE:
            return None, dates.visible_reason(clean) or "the model reads no date in it"
        problem = dates.answer_problem(clean, iso)
        if problem:
            return None, problem
        if confidence < self.min_confidence:
            return None, f"the model is unsure of {iso} (confidence {confidence:.2f} < {self.min_confidence})"
        return iso, None


def score(translator: DateTranslator, texts: list[str], answers: list[str | None]) -> tuple[dict, list]:
    """How many answers are right, refused, and silently wrong (an answer
    that is not the right one; for a non-date, any answer), and the misses:
    (text, right answer, what the translator said)."""
    got = [answer or f"? ({reason})" for answer, reason in translator(texts)]
    misses = [(t, a, g) for t, a, g in zip(texts, answers, got) if g != a]
    refused = sum(g.startswith("?") for g in got)
    return {"n": len(texts), "right": len(texts) - len(misses), "refused": refused,
            "wrong": len(misses) - refused}, misses


def report(name: str, counts: dict[str, int]) -> str:
    n = counts["n"]
    return (f"{name}: exact match {counts['right'] / n:.2%} ({counts['right']}/{n}), refused "
            f"{counts['refused'] / n:.2%}, silently wrong {counts['wrong'] / n:.2%} ({counts['wrong']})")


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


def build_model(config) -> nn.Seq2Seq:
    return nn.Seq2Seq(len(nn.CharVocab(SOURCE_CHARS)), len(nn.CharVocab(TARGET_CHARS)),
                      embedding_dim=config.embedding, hidden_size=config.hidden, attention=config.attention,
                      bidirectional=True)


def training_non_dates(args, n_dates: int, epoch: int) -> list[str]:
    """The epoch's non-dates: ``args.negatives`` per training date."""
    return dates.non_date_texts(round(args.negatives * n_dates), seed=args.seed * 1000 + epoch)


def epoch_data(args, train_dates: list, epoch: int, source: nn.CharVocab, target: nn.CharVocab) -> tuple:
    """A fresh rendering of every training date and the epoch's non-dates,
    encoded: src, lengths, tgt_in, tgt_out."""
    pairs = dates.make_pairs(train_dates, per_date=1, seed=args.seed * 1000 + epoch)
    pairs += [(text, NOT_A_DATE) for text in training_non_dates(args, len(train_dates), epoch)]
    return (*encode_sources([p[0] for p in pairs], source), *encode_targets([p[1] for p in pairs], target))


def train(args, saved: dict | None, checkpoint: EpochCheckpoint) -> None:
    mg.manual_seed(args.seed)
    source, target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)
    train_dates, test_dates = dates.split_dates(args.seed)
    train_dates, test_dates = train_dates[:args.train_dates], test_dates[:args.test_dates]
    test_pairs = dates.make_pairs(test_dates, per_date=args.test_renderings, seed=args.seed + 1)
    model = build_model(args)
    translator = DateTranslator(model, args.min_confidence)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    batches_per_epoch = -(-round(len(train_dates) * (1 + args.negatives)) // args.batch_size)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=args.epochs * batches_per_epoch, eta_min=args.lr / 50)
    history = {"step": [], "loss": [], "monitor_step": [], "accuracy": [], "seconds": 0.0}
    if saved is not None:
        history = checkpoint.restore(saved, model, optimizer, schedule)
        print(f"resuming after epoch {checkpoint.epoch} of {args.epochs} from {args.checkpoint}")
    print(f"{len(train_dates)} training dates and {round(args.negatives * len(train_dates))} non-dates per epoch; "
          f"{len(test_pairs)} held-out examples ({len(test_dates)} dates never seen in training, "
          f"{args.test_renderings} renderings each); {sum(p.size for p in model.parameters())} parameters")

    monitor = test_pairs[::max(1, len(test_pairs) // 1000)]  # a held-out sample for the accuracy curve
    for epoch in range(checkpoint.epoch + 1, args.epochs + 1):
        src_all, src_len_all, tgt_in_all, tgt_out_all = epoch_data(args, train_dates, epoch, source, target)
        model.train()
        start = time.perf_counter()
        batches = length_buckets(src_len_all, args.batch_size, mg.get_rng())
        for rows in common.progress(batches, f"epoch {epoch}"):
            lengths, width = src_len_all[rows], (tgt_out_all[rows] != target.pad_id).sum(axis=1).max()
            loss = model.loss(src_all[rows, :lengths.max()], lengths, tgt_in_all[rows, :width],
                              tgt_out_all[rows, :width])
            history["loss"].append(common.train_step(optimizer, loss, max_norm=5.0))
            schedule.step()
            history["step"].append(len(history["loss"]))
            if len(history["loss"]) % args.monitor_every == 0:  # (evaluation time is not training time)
                paused = time.perf_counter()
                history["monitor_step"].append(len(history["loss"]))
                history["accuracy"].append(score(translator, *zip(*monitor))[0]["right"] / len(monitor))
                model.train()
                start += time.perf_counter() - paused
        history["seconds"] += time.perf_counter() - start
        counts, _ = score(translator, *zip(*test_pairs))
        print(f"epoch {epoch}: loss {np.mean(history['loss'][-len(batches):]):.4f}, held-out exact match "
              f"{counts['right'] / counts['n']:.2%} ({counts['right']}/{counts['n']}), "
              f"{history['seconds']:.0f} s of training")
        checkpoint.save(args, epoch, model, optimizer, schedule, **history)
    print(f"saved {args.checkpoint}")
    evaluate(translator, test_pairs, test_dates, len(train_dates), args)
    if args.plots:
        plot(history, model, test_pairs, source, target, args.plots)


def evaluate(translator: DateTranslator, test_pairs: list, test_dates: list, n_train_dates: int, args) -> None:
    """The held-out split, the wider formats on the held-out dates, and
    non-dates that were not among the training ones."""
    wider = dates.wider_pairs(test_dates, per_date=args.test_renderings, seed=args.seed + 2)
    seen = {normalize(text) for epoch in range(1, args.epochs + 1)
            for text in training_non_dates(args, n_train_dates, epoch)}
    drawn = dates.non_date_texts(args.test_non_dates, seed=f"held out {args.seed}", families=dates.HELD_OUT_FAMILIES)
    non_dates = [text for text in drawn if normalize(text) not in seen]  # short ones ('dec', '7th') recur
    for name, pairs in [("held-out split", test_pairs), ("wider formats", wider)]:
        counts, misses = score(translator, *zip(*pairs))
        print(report(name, counts))
        for text, iso, said in misses[:5]:
            print(f"  {text!r} -> {said} (should be {iso})")
    counts, answered = score(translator, non_dates, [None] * len(non_dates))
    print(f"held-out non-dates: refused {counts['refused'] / counts['n']:.2%} ({counts['refused']}/{counts['n']}; "
          f"{len(drawn) - len(non_dates)} of {len(drawn)} drawn were among the training non-dates and left out)"
          + "".join(f"\n  {text!r} -> {said}" for text, _, said in answered if not said.startswith("?")))


def plot(history: dict, model, pairs, source, target, prefix: str) -> None:
    """Loss and accuracy curves, and attention heatmaps for a few test dates."""
    with common.figure(f"{prefix}_curves.png", figsize=(7, 4)) as (fig, ax):
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
    with common.figure(f"{prefix}_attention.png", 1, len(examples), figsize=(4.2 * len(examples), 3.6),
                squeeze=False) as (fig, axes):
        for ax, text, toks, w, n in zip(axes[0], examples, tokens, weights, lengths):
            output = list(target.decode(toks)) + ["<eos>"]
            ax.imshow(w[:len(output), :n], cmap="viridis", aspect="auto")
            ax.set_xticks(range(n), list(normalize(text)), fontsize=8)
            ax.set_yticks(range(len(output)), output, fontsize=8)
            ax.set_title(normalize(text), fontsize=9)


def run_translate(parser: argparse.ArgumentParser, args, argv: list[str] | None) -> int:
    trained = load_trained(args.checkpoint, "translate_dates", build_model)
    if trained is None:
        return 2
    common.check_translate_options(parser, args, argv, trained[1])
    return translate_mode(args.translate, DateTranslator(trained[0], args.min_confidence))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"{__doc__}\nconventions:\n{dates.CONVENTIONS}\n\n{CONTRACT}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translate", nargs="+", metavar="DATE",
                        help="translate these dates with the saved checkpoint ('-': one date per line from stdin)")
    common.add_checkpoint_options(parser, "translate_dates.npz")
    parser.add_argument("--min-confidence", type=common.probability, default=0.5,
                        help="refuse an answer when the model gives one of its tokens a lower probability")
    parser.add_argument("--attention", default="general", choices=["dot", "general", "concat", "additive"])
    parser.add_argument("--epochs", type=common.positive_int, default=3)
    parser.add_argument("--seed", type=common.non_negative_int, default=0)
    parser.add_argument("--batch-size", type=common.positive_int, default=128)
    parser.add_argument("--lr", type=common.positive_float, default=1e-2)
    parser.add_argument("--embedding", type=common.positive_int, default=24, help="character embedding size")
    parser.add_argument("--hidden", type=common.positive_int, default=48, help="encoder hidden size per direction")
    parser.add_argument("--negatives", type=common.Number(float, at_least=0, at_most=100), default=0.2,
                        help="non-dates per training date in each epoch")
    parser.add_argument("--train-dates", type=common.positive_int, default=None, help="train on only this many dates")
    parser.add_argument("--test-dates", type=common.positive_int, default=None, help="test on only this many dates")
    parser.add_argument("--test-renderings", type=common.positive_int, default=2,
                        help="renderings of each held-out date")
    parser.add_argument("--test-non-dates", type=common.positive_int, default=5000, help="held-out non-dates to test")
    parser.add_argument("--monitor-every", type=common.positive_int, default=64,
                        help="batches between accuracy-curve points")
    parser.add_argument("--plots", default="translate_dates", help="prefix of the PNG files ('' for none)")
    args = parser.parse_args(argv)
    if args.translate:
        return run_translate(parser, args, argv)
    common.check_plot(parser, args.plots and f"{args.plots}_curves.png", "--plots")
    saved = common.check_checkpoint(parser, args, argv, "translate_dates")
    checkpoint = EpochCheckpoint(args.checkpoint, "translate_dates")
    return common.run_interruptible(lambda: train(args, saved, checkpoint), checkpoint)


if __name__ == "__main__":
    sys.exit(main())

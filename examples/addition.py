"""Learn to add: "16+75" -> "91", character by character, with a seq2seq model.

    python -m examples.addition                      # train (attention, digits reversed), evaluate, save
    python -m examples.addition --no-attention --no-reverse
    python -m examples.addition --translate "16+75" "999+1" "7-3"
    printf '123+456\\n7+8\\n' | python -m examples.addition --translate -

Operands have 1 to 3 digits. Training draws an operand-length pair (1+1,
1+2, ..., 3+3) uniformly, then the operands uniformly among the numbers of
those lengths, so a 1+1 sum is as common as a 3+3 one (drawn uniformly over
values, 98% of the sums would be 2-3 digits + 2-3 digits). Fresh sums every
epoch; the held-out sums of every length pair never occur in training.

Two tricks from the literature are flags. Reversing the digits, of the
question as read ("57+61" for "16+75", as Sutskever et al. 2014 reverse
the source) and of the answer as written ("19" for 91, shown as 91), lines
the k-th answer digit up with the k-th digits of the operands, in the order
column addition uses them: the ones digit first, the carry next. Attention
lets each answer digit look at the digits it needs. (Reversing only the
question, the model writes the most significant digit first, which depends
on every carry; it then missed held-out 1+1 sums such as 0+6.)

It answers a sum of two numbers of up to 3 digits (spaces around them and
leading zeros are fine) and refuses anything else, and any answer in which
the model gives a token a probability below --min-confidence.

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
from examples import common
from examples.common import EpochCheckpoint
from examples.seq2seq_cli import CONTRACT, Answer, load_trained, translate_mode, translate_with_confidence

SOURCE_CHARS, TARGET_CHARS = "0123456789+", "0123456789"
LAYOUT = 2  # in checkpoints; 1: before answers were written reversed too (it would read those the wrong way round)
MAX_ANSWER = 4  # 999 + 999 = 1998
LENGTHS = (1, 2, 3)  # operand digit counts
LENGTH_PAIRS = [(a, b) for a in LENGTHS for b in LENGTHS]
SUM = re.compile(r"\s*([0-9]+)\s*\+\s*([0-9]+)\s*")


def operands(digits: int) -> np.ndarray:
    """Every number written with exactly ``digits`` digits (0-9 for one)."""
    return np.arange(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits)


def held_out(per_pair: int, seed: int) -> dict[tuple[int, int], np.ndarray]:
    """Per length pair, the held-out sums as codes a·1000 + b: ``per_pair`` of
    them, or a fifth of the pair's sums where that is fewer (20 of the 100 1+1 sums)."""
    rng = np.random.default_rng(seed)
    test = {}
    for la, lb in LENGTH_PAIRS:
        codes = (operands(la)[:, None] * 1000 + operands(lb)[None, :]).ravel()
        test[la, lb] = np.sort(rng.choice(codes, size=min(per_pair, len(codes) // 5), replace=False))
    return test


def training_sums(n: int, test: dict[tuple[int, int], np.ndarray], seed: int) -> list[tuple[int, int]]:
    """``n`` sums (a, b): a length pair drawn uniformly, then the operands
    uniformly among the numbers of those lengths, never a held-out sum."""
    rng = np.random.default_rng(seed)
    pairs = rng.integers(len(LENGTH_PAIRS), size=n)
    out = []
    for k, (la, lb) in enumerate(LENGTH_PAIRS):
        count = int((pairs == k).sum())
        a, b = rng.choice(operands(la), size=4 * count + 8), rng.choice(operands(lb), size=4 * count + 8)
        keep = ~np.isin(a * 1000 + b, test[la, lb])  # at most a fifth are held out, so 4x is plenty
        out += list(zip(a[keep][:count].tolist(), b[keep][:count].tolist()))
    return [out[i] for i in rng.permutation(len(out))]


def question_problem(text: str) -> str | None:
    """Why ``text`` is not a question this model answers (None if it is)."""
    match = SUM.fullmatch(text)
    if not text.strip():
        return "empty: nothing to add"
    if not match or max(len(match.group(1).lstrip("0")), len(match.group(2).lstrip("0"))) > 3:
        return "not a sum of two numbers of up to 3 digits (write it like 16+75)"
    return None


def canonical(text: str) -> str:
    """'  016 + 75 ' -> '16+75' (for a text question_problem accepts)."""
    a, b = SUM.fullmatch(text).groups()
    return f"{int(a)}+{int(b)}"


def encode_questions(texts: list[str], vocab: nn.CharVocab, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Padded ids and lengths of the questions (reversed if ``reverse``); a
    text that is not a question raises ValueError naming it."""
    ids = []
    for text in texts:
        problem = question_problem(text)
        if problem:
            raise ValueError(f"{text!r}: {problem}")
        clean = canonical(text)
        ids.append(vocab.encode(clean[::-1] if reverse else clean))
    return nn.pad_sequences(ids, pad_value=vocab.pad_id)


class Adder:
    """The model and the checks around it: questions in, an Answer each out."""

    def __init__(self, model: nn.Seq2Seq, reverse: bool, min_confidence: float):
        self.model, self.reverse, self.min_confidence = model, reverse, min_confidence
        self.source, self.target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)

    def __call__(self, texts: list[str]) -> list[Answer]:
        answers: list[Answer | None] = [(None, p) if p else None for p in map(question_problem, texts)]
        asked = [i for i, answer in enumerate(answers) if answer is None]
        encode = lambda t: encode_questions(t, self.source, self.reverse)  # noqa: E731
        decoded = translate_with_confidence(self.model, [texts[i] for i in asked], encode, self.target,
                                            MAX_ANSWER + 1)
        for i, (written, confidence) in zip(asked, decoded):
            answers[i] = self.judge(written, confidence)
        return answers

    def judge(self, written: str, confidence: float) -> Answer:
        """The model's output as an answer, if it is a number written as sums
        are (digits, no leading zero: "" or "05" would be printed as if right)
        and the model is sure enough of it."""
        total = written[::-1] if self.reverse else written
        if not re.fullmatch(r"0|[1-9][0-9]*", total):
            return None, f"the model wrote {written!r}{' (ones digit first)' * self.reverse}, not a number"
        if confidence < self.min_confidence:
            return None, f"the model is unsure of {total} (confidence {confidence:.2f} < {self.min_confidence})"
        return total, None


def build_model(config) -> nn.Seq2Seq:
    if getattr(config, "layout", 1) != LAYOUT:
        raise ValueError("it was written by an older examples.addition, whose answers read the other way round; "
                         "train again")
    return nn.Seq2Seq(len(nn.CharVocab(SOURCE_CHARS)), len(nn.CharVocab(TARGET_CHARS)),
                      embedding_dim=config.embedding, hidden_size=config.hidden,
                      attention="general" if config.attention else None, bidirectional=True)


def per_pair_accuracy(adder: Adder, test: dict[tuple[int, int], np.ndarray]) -> dict[tuple[int, int], tuple]:
    """Per length pair: (right, refused, wrong, n) on its held-out sums."""
    out = {}
    for pair, codes in test.items():
        sums = [(int(c) // 1000, int(c) % 1000) for c in codes]
        got = [answer for answer, _ in adder([f"{a}+{b}" for a, b in sums])]
        right = sum(g == str(a + b) for g, (a, b) in zip(got, sums))
        refused = sum(g is None for g in got)
        out[pair] = (right, refused, len(sums) - right - refused, len(sums))
    return out


def train(args, saved: dict | None, checkpoint: EpochCheckpoint) -> None:
    mg.manual_seed(args.seed)
    source, target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)
    test = held_out(args.test_per_pair, args.seed)
    model = build_model(args)
    adder = Adder(model, args.reverse, args.min_confidence)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=args.epochs * -(-args.train_size // args.batch_size),
                                          eta_min=args.lr / 50)
    trained = 0.0
    if saved is not None:
        trained = checkpoint.restore(saved, model, optimizer, schedule)["seconds"]
        print(f"resuming after epoch {checkpoint.epoch} of {args.epochs} from {args.checkpoint}")
    print(f"{args.train_size} fresh training sums per epoch, {sum(map(len, test.values()))} held-out sums; "
          f"attention {'on' if args.attention else 'off'}, digits {'reversed' if args.reverse else 'as written'}")
    for epoch in range(checkpoint.epoch + 1, args.epochs + 1):
        sums = training_sums(args.train_size, test, seed=args.seed * 1000 + epoch)
        src, src_len = encode_questions([f"{a}+{b}" for a, b in sums], source, args.reverse)
        answers = [str(a + b)[::-1] if args.reverse else str(a + b) for a, b in sums]
        tgt_in, _ = nn.pad_sequences([target.encode(s, add_bos=True) for s in answers], pad_value=target.pad_id)
        tgt_out, _ = nn.pad_sequences([target.encode(s, add_eos=True) for s in answers], pad_value=target.pad_id)
        model.train()
        start = time.perf_counter()
        for rows in common.progress(list(nn.batches(np.arange(len(sums)), batch_size=args.batch_size)),
                                    f"epoch {epoch}"):
            lengths = src_len[rows]
            loss = model.loss(src[rows, :lengths.max()], lengths, tgt_in[rows], tgt_out[rows])
            common.train_step(optimizer, loss, max_norm=5.0)
            schedule.step()
        trained += time.perf_counter() - start
        right, n = np.sum([(r, n) for r, _, _, n in per_pair_accuracy(adder, test).values()], axis=0)
        print(f"epoch {epoch}: loss {loss.item():.4f}, held-out exact match {right / n:.2%}, "
              f"{trained:.0f} s of training")
        checkpoint.save(args, epoch, model, optimizer, schedule, seconds=trained)
    print(f"saved {args.checkpoint}")
    print("held-out exact match per operand-length pair (refused / silently wrong):")
    for (la, lb), (right, refused, wrong, n) in per_pair_accuracy(adder, test).items():
        print(f"  {la}+{lb} digits: {right / n:7.2%} ({right}/{n}; {refused} refused, {wrong} wrong)")


def run_translate(parser: argparse.ArgumentParser, args, argv: list[str] | None) -> int:
    trained = load_trained(args.checkpoint, "addition", build_model)
    if trained is None:
        return 2
    model, config = trained
    common.check_translate_options(parser, args, argv, config)
    return translate_mode(args.translate, Adder(model, config.reverse, args.min_confidence))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"{__doc__}\n{CONTRACT}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translate", nargs="+", metavar="SUM", help="answer these with the saved checkpoint "
                        "('-': one per line from stdin)")
    common.add_checkpoint_options(parser, "addition.npz")
    parser.add_argument("--min-confidence", type=common.probability, default=0.5,
                        help="refuse an answer when the model gives one of its digits a lower probability")
    parser.add_argument("--no-attention", dest="attention", action="store_false", help="a plain encoder-decoder")
    parser.add_argument("--no-reverse", dest="reverse", action="store_false",
                        help="read the question and write the answer as written (not ones digit first)")
    parser.set_defaults(layout=LAYOUT)
    parser.add_argument("--epochs", type=common.positive_int, default=15)
    parser.add_argument("--seed", type=common.non_negative_int, default=0)
    parser.add_argument("--train-size", type=common.positive_int, default=50_000, help="training sums per epoch")
    parser.add_argument("--test-per-pair", type=common.positive_int, default=500,
                        help="held-out sums per operand-length pair (at most a fifth of the pair's sums)")
    parser.add_argument("--batch-size", type=common.positive_int, default=128)
    parser.add_argument("--lr", type=common.positive_float, default=5e-3)
    parser.add_argument("--embedding", type=common.positive_int, default=16)
    parser.add_argument("--hidden", type=common.positive_int, default=64)
    args = parser.parse_args(argv)
    if args.translate:
        return run_translate(parser, args, argv)
    saved = common.check_checkpoint(parser, args, argv, "addition")
    checkpoint = EpochCheckpoint(args.checkpoint, "addition")
    return common.run_interruptible(lambda: train(args, saved, checkpoint), checkpoint)


if __name__ == "__main__":
    sys.exit(main())

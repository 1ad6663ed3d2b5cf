"""Learn to add: "16+75" -> "91", character by character, with a seq2seq model.

    python -m examples.addition                      # train (attention, reversed input), evaluate, save
    python -m examples.addition --no-attention --no-reverse
    python -m examples.addition --translate "16+75" "999+1"
    printf '123+456\\n7+8\\n' | python -m examples.addition --translate -

Operands have up to 3 digits. The held-out test pairs (a, b) never occur in
training. Two tricks from the literature are flags: reading the input
reversed ("57+61" for "16+75", Sutskever et al. 2014) puts the digits that
decide the first output digits close together, and attention lets each
output digit look at the input digits it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import progress, train_step
from examples.seq2seq_cli import exact_match, translate, translate_mode

SOURCE_CHARS, TARGET_CHARS = "0123456789+", "0123456789"
MAX_ANSWER = 4  # 999 + 999 = 1998


def make_problems(n_train: int, n_test: int, seed: int) -> tuple[list, list]:
    """Distinct (a, b) pairs with 0 <= a, b <= 999; the test pairs are not in training."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(1000 * 1000, size=n_train + n_test, replace=False)
    pairs = [(int(c) // 1000, int(c) % 1000) for c in codes]
    return pairs[:n_train], pairs[n_train:]


def encode_questions(texts: list[str], vocab: nn.CharVocab, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    ids = []
    for text in texts:
        clean = text.replace(" ", "")
        if not clean:
            raise ValueError("empty question: write it like 16+75")
        parts = clean.split("+")
        if len(parts) != 2 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            raise ValueError(f"{text!r}: write a sum of two numbers with up to 3 digits, like 16+75")
        ids.append(vocab.encode(clean[::-1] if reverse else clean))
    return nn.pad_sequences(ids, pad_value=vocab.pad_id)


def build_model(config, source: nn.CharVocab, target: nn.CharVocab) -> nn.Seq2Seq:
    return nn.Seq2Seq(len(source), len(target), embedding_dim=config.embedding, hidden_size=config.hidden,
                      attention="general" if config.attention else None, bidirectional=True)


def train(args) -> None:

    mg.manual_seed(args.seed)
    source, target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)
    train_pairs, test_pairs = make_problems(args.train_size, args.test_size, args.seed)
    questions = [f"{a}+{b}" for a, b in train_pairs]
    src, src_len = encode_questions(questions, source, args.reverse)
    answers = [str(a + b) for a, b in train_pairs]
    tgt_in, _ = nn.pad_sequences([target.encode(s, add_bos=True) for s in answers], pad_value=target.pad_id)
    tgt_out, _ = nn.pad_sequences([target.encode(s, add_eos=True) for s in answers], pad_value=target.pad_id)

    model = build_model(args, source, target)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=args.epochs * -(-len(train_pairs) // args.batch_size),
                                          eta_min=args.lr / 50)
    test_questions = [f"{a}+{b}" for a, b in test_pairs]
    test_answers = [str(a + b) for a, b in test_pairs]
    encode = lambda texts: encode_questions(texts, source, args.reverse)  # noqa: E731
    print(f"{len(train_pairs)} training sums, {len(test_pairs)} held-out sums; "
          f"attention {'on' if args.attention else 'off'}, input {'reversed' if args.reverse else 'as written'}")
    trained = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        batches = list(nn.batches(np.arange(len(train_pairs)), batch_size=args.batch_size))
        for rows in progress(batches, f"epoch {epoch}"):
            lengths = src_len[rows]
            loss = model.loss(src[rows, :lengths.max()], lengths, tgt_in[rows], tgt_out[rows])
            train_step(optimizer, loss, max_norm=5.0)
            schedule.step()
        trained += time.perf_counter() - start
        acc = exact_match(translate(model, test_questions, encode, target, MAX_ANSWER + 1), test_answers)
        print(f"epoch {epoch}: loss {loss.item():.4f}, held-out exact match {acc:.2%}, {trained:.0f} s of training")
    nn.save({"model": model.state_dict(), "config": vars(args)}, args.checkpoint)
    print(f"saved {args.checkpoint}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translate", nargs="+", metavar="SUM", help="answer these with the saved checkpoint "
                        "('-': one per line from stdin)")
    parser.add_argument("--checkpoint", default="addition.npz")
    parser.add_argument("--no-attention", dest="attention", action="store_false", help="a plain encoder-decoder")
    parser.add_argument("--no-reverse", dest="reverse", action="store_false", help="read the input as written")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--test-size", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--embedding", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args(argv)
    if not args.translate:
        train(args)
        return 0
    if not os.path.exists(args.checkpoint):
        print(f"no checkpoint at {args.checkpoint}: train first (python -m examples.addition)", file=sys.stderr)
        return 2
    checkpoint = nn.load(args.checkpoint)
    config = argparse.Namespace(**checkpoint["config"])
    source, target = nn.CharVocab(SOURCE_CHARS), nn.CharVocab(TARGET_CHARS)
    model = build_model(config, source, target)
    model.load_state_dict(checkpoint["model"])
    encode = lambda texts: encode_questions(texts, source, config.reverse)  # noqa: E731
    return translate_mode(args.translate, lambda texts: translate(model, texts, encode, target, MAX_ANSWER + 1))


if __name__ == "__main__":
    sys.exit(main())

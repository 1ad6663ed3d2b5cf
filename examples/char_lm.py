"""A character-level LSTM language model trained on Python's own help texts
(the `pydoc_data` topics that ship with every Python), then sampled.

    python -m examples.char_lm                   # train, print held-out perplexity and samples, save char_lm.png
    python -m examples.char_lm --temperature 0.3 --sample-length 600

Training is truncated backpropagation through time: the text is cut into
--batch-size parallel streams, read --bptt characters at a time, and the
LSTM state is carried from one chunk to the next but detached
(nn.detach_state), so gradients stop at chunk boundaries. The last 5% of the
text is held out; perplexity = exp(mean negative log-likelihood per character).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import check_plot, figure, non_negative_int, positive_float, positive_int, progress, train_step


def load_text() -> str:
    from pydoc_data.topics import topics
    return "\n".join(topics[k] for k in sorted(topics))


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """(L, batch): the text cut into ``batch`` contiguous streams, one per column."""
    length = len(ids) // batch
    return ids[:length * batch].reshape(batch, length).T


class CharLM(nn.Module):
    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, num_layers=layers)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, ids: np.ndarray, state=None):
        """ids (T, B) → logits (T, B, vocab) and the new state."""
        h, state = self.lstm(self.embed(ids), state)
        return self.out(h), state


def perplexity(model: CharLM, data: np.ndarray, bptt: int) -> float:
    model.eval()
    total, count, state = 0.0, 0, None
    with mg.no_grad():
        for start in range(0, len(data) - 1, bptt):
            chunk = data[start:start + bptt + 1]
            logits, state = model(chunk[:-1], state)
            total += nn.functional.cross_entropy(logits, chunk[1:], reduction="sum").item()
            count += chunk[1:].size
    return math.exp(total / count)


def sample(model: CharLM, vocab: nn.CharVocab, prompt: str, length: int, temperature: float,
           rng: np.random.Generator) -> str:
    """Feed the prompt, then draw each next character from softmax(logits / temperature)."""
    model.eval()
    ids = np.array(vocab.encode(prompt))[:, None]
    out = []
    with mg.no_grad():
        logits, state = model(ids)
        for _ in range(length):
            scaled = logits.data[-1, 0].astype(np.float64) / temperature
            p = np.exp(scaled - scaled.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model(np.array([[nxt]]), state)
    return prompt + vocab.decode(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--bptt", type=positive_int, default=64, help="characters per truncated-BPTT chunk")
    parser.add_argument("--embedding", type=positive_int, default=32)
    parser.add_argument("--hidden", type=positive_int, default=256)
    parser.add_argument("--layers", type=positive_int, default=1)
    parser.add_argument("--lr", type=positive_float, default=3e-3)
    parser.add_argument("--temperature", type=positive_float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--sample-length", type=non_negative_int, default=300)
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--max-chars", type=positive_int, default=None, help="use only the start of the text")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="char_lm.png", help="PNG of the training curve ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)
    enough = max(20 * 2 * 8, math.ceil(2 * args.batch_size / 0.95))  # 2 steps per stream: 8 held out (5%), B training
    if args.max_chars is not None and args.max_chars < enough:
        parser.error(f"--max-chars {args.max_chars} is too little text: at least {enough} for --batch-size "
                     f"{args.batch_size}")

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = load_text()[:args.max_chars]
    vocab = nn.CharVocab(text)
    unknown = sorted(set(args.prompt) - set(text))
    if not args.prompt or unknown:  # (sampling feeds the prompt first: it needs one, of the text's characters)
        parser.error(f"--prompt {args.prompt!r}: " + (f"character(s) {', '.join(map(repr, unknown))} do not occur in "
                                                      "the text" if unknown else "give at least one character"))
    ids = np.array(vocab.encode(text))
    split = int(0.95 * len(ids))
    train, held_out = streams(ids[:split], args.batch_size), streams(ids[split:], 8)
    model = CharLM(len(vocab), args.embedding, args.hidden, args.layers)
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    chunks = range(0, len(train) - 1, args.bptt)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=args.epochs * len(chunks), eta_min=args.lr / 10)
    print(f"{len(text):,} characters ({len(vocab) - 3} distinct); training on {split:,}, "
          f"{sum(p.size for p in model.parameters()):,} parameters")
    losses, curve = [], []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        state = None
        for begin in progress(chunks, f"epoch {epoch}"):
            chunk = train[begin:begin + args.bptt + 1]
            logits, state = model(chunk[:-1], state)
            state = nn.detach_state(state)  # truncated BPTT: carry the state, not its history
            loss = nn.functional.cross_entropy(logits, chunk[1:])
            train_step(optimizer, loss, max_norm=1.0)
            schedule.step()
            losses.append(loss.item())
        curve.append(perplexity(model, held_out, args.bptt))
        print(f"epoch {epoch}: training loss {np.mean(losses[-len(chunks):]):.3f} nats/char, "
              f"held-out perplexity {curve[-1]:.2f}, {time.perf_counter() - start:.0f} s")
    for temperature in args.temperature:
        print(f"\n--- sample at temperature {temperature} ---")
        print(sample(model, vocab, args.prompt, args.sample_length, temperature, rng))
    if args.plot:
        with figure(args.plot, figsize=(7, 3.5)) as (fig, ax):
            ax.plot(np.exp(np.convolve(losses, np.ones(50) / 50, mode="valid")), label="training (running mean)")
            ax.plot(np.arange(1, len(curve) + 1) * len(chunks), curve, "o-", label="held-out")
            ax.set(xlabel="chunk", ylabel="perplexity", yscale="log", title="character-level LSTM on pydoc topics")
            ax.legend()
    return 0


if __name__ == "__main__":
    sys.exit(main())

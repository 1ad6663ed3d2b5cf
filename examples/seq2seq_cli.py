"""What the seq2seq examples share: batched greedy translation, exact-match
accuracy, and the --translate mode (arguments, or one input per line on stdin)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

import nn


def translate(model: nn.Seq2Seq, texts: list[str], encode: Callable, target: nn.CharVocab, max_len: int,
              batch_size: int = 1024) -> list[str]:
    """Greedy translations of ``texts``; ``encode(texts)`` gives padded ids and lengths."""
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        src, lengths = encode(texts[start:start + batch_size])
        tokens, _ = model.greedy_decode(src, lengths, max_len=max_len)
        out.extend(target.decode(t) for t in tokens)
    return out


def exact_match(predictions: list[str], answers: list[str]) -> float:
    return float(np.mean([p == a for p, a in zip(predictions, answers)]))


def translate_mode(texts: list[str], translate_all: Callable[[list[str]], list[str]]) -> int:
    """Print translations of ``texts`` (["-"]: read lines from stdin, print one
    result per line, blank for blank). Bad input: a message and exit code 2."""
    from_stdin = texts == ["-"]
    if from_stdin:
        texts = [line.rstrip("\n") for line in sys.stdin]
    wanted = [i for i, text in enumerate(texts) if text.strip() or not from_stdin]
    try:
        results = translate_all([texts[i] for i in wanted])
    except ValueError as error:
        where = next((f"line {i + 1}: " for i in wanted if repr(texts[i]) in str(error)), "") if from_stdin else ""
        print(f"error: {where}{error}", file=sys.stderr)
        return 2
    output = [""] * len(texts)
    for i, result in zip(wanted, results):
        output[i] = result if from_stdin else f"{texts[i]} -> {result}"
    print("\n".join(output))
    return 0

"""What the seq2seq examples share: batched greedy translation with the
model's confidence, and the --translate mode with its output contract
(arguments, or one input per line on stdin)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import numpy as np

import minigrad as mg
import nn
from examples.common import written_by

# What a translator says about one input: (the answer, None) or (None, why it refuses).
Answer = tuple[str | None, str | None]

CONTRACT = """\
output: with arguments, one line each: "INPUT -> ANSWER", or "INPUT -> ? (why)"
when the input is refused (INPUT quoted if it has a line break or tab). With
'-', one output line per input line, in order: the answer, or an empty line
for a refused input, whose line number and reason go to stderr. Exit status:
0 every input answered, 1 some refused, 2 usage error (bad option, no
checkpoint), 141 the reader of stdout stopped early (| head)."""


def translate_with_confidence(model: nn.Seq2Seq, texts: list[str], encode: Callable, target: nn.CharVocab,
                              max_len: int, batch_size: int = 1024) -> list[tuple[str, float]]:
    """Greedy translations of ``texts`` and the model's confidence in each:
    the smallest probability it gave any of the output's tokens (eos
    included), min_t p(y_t | y_<t, x). One doubtful token makes the whole
    answer doubtful, however sure the others are. An output that is no
    finished text -- a special token (pad, bos, unk) in it, or no eos within
    ``max_len`` -- has confidence 0 and shows what is wrong ("1994-0<pad>9-27",
    "12345…"): decoding would drop the token or cut the output silently."""
    model.eval()
    out = []
    specials = {target.pad_id, target.bos_id, target.eos_id, target.unk_id}
    for start in range(0, len(texts), batch_size):
        src, lengths = encode(texts[start:start + batch_size])
        tokens, _ = model.greedy_decode(src, lengths, max_len=max_len)
        confidence = np.exp(token_log_probs(model, src, lengths, tokens, max_len).min(axis=1))
        for t, c in zip(tokens, confidence.tolist()):
            if len(t) < max_len and specials.isdisjoint(t):
                out.append((target.decode(t), c))
            else:
                out.append(("".join(target.itos[i] for i in t) + "…" * (len(t) >= max_len), 0.0))
    return out


@mg.no_grad()
def token_log_probs(model: nn.Seq2Seq, src: np.ndarray, lengths: np.ndarray, tokens: list[list[int]],
                    max_len: int) -> np.ndarray:
    """log p(y_t | y_<t, x) of each output token and of the eos after it (if
    the decoder wrote one within ``max_len``), by one teacher-forced pass
    over the decoded outputs: (B, T), 0 past the end of an output."""
    outputs = [t + [model.eos_id] if len(t) < max_len else t for t in tokens]
    tgt_in, _ = nn.pad_sequences([[model.bos_id] + o[:-1] for o in outputs], pad_value=model.pad_id)
    tgt_out, out_lengths = nn.pad_sequences(outputs, pad_value=model.pad_id)
    logits, _ = model(src, lengths, tgt_in)
    log_probs = mg.log_softmax(logits, axis=-1).data.astype(np.float64)
    picked = np.take_along_axis(log_probs, tgt_out[..., None], axis=-1)[..., 0]
    picked[np.arange(tgt_out.shape[1])[None, :] >= out_lengths[:, None]] = 0.0
    return picked


def load_trained(path: str, example: str, build: Callable[[argparse.Namespace], nn.Seq2Seq]
                 ) -> tuple[nn.Seq2Seq, argparse.Namespace] | None:
    """The model saved at ``path`` by ``python -m examples.<example>`` and
    its settings, or None after saying on stderr why there is none; notes a
    run that was interrupted before its last epoch."""
    if os.path.isdir(path):
        print(f"{path} is a directory, not a checkpoint: give the .npz file (--checkpoint)", file=sys.stderr)
        return None
    if not os.path.isfile(path):
        print(f"no checkpoint at {path}: train first (python -m examples.{example})", file=sys.stderr)
        return None
    try:
        checkpoint = nn.load(path)
        why = written_by(checkpoint, example)
        if why is None:
            config = argparse.Namespace(**checkpoint["config"])
            model = build(config)
            model.load_state_dict(checkpoint["model"])
    except OSError as error:  # (a file we may not read)
        why = f"cannot be read ({error.strerror})"
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        why = f"is not a checkpoint of examples.{example}: {error}"
    if why:
        print(f"{path} {why}", file=sys.stderr)
        return None
    epoch, epochs = checkpoint.get("epoch"), getattr(config, "epochs", None)
    if epoch is not None and epochs is not None and epoch < epochs:
        print(f"note: {path} holds epoch {epoch} of {epochs} (training was interrupted; --resume finishes it)",
              file=sys.stderr)
    return model, config


def _stdin_lines() -> list[str]:
    """stdin's lines without their line ends; bytes that are not UTF-8 become
    U+FFFD, so they refuse their own line only."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return [line.rstrip("\r\n") for line in sys.stdin]
    return [line.decode("utf-8", errors="replace").rstrip("\r\n") for line in stream]


def translate_mode(texts: list[str], answer_all: Callable[[list[str]], list[Answer]]) -> int:
    """The --translate contract (CONTRACT above). ``answer_all(texts)`` gives
    an Answer per text and refuses per text, never for the whole batch."""
    from_stdin = "-" in texts
    if from_stdin and len(texts) > 1:
        print("error: '-' (read stdin) must be the only input", file=sys.stderr)
        return 2
    if from_stdin:
        texts = _stdin_lines()
    answers = answer_all(texts) if texts else []
    try:
        for number, (text, (answer, reason)) in enumerate(zip(texts, answers), 1):
            if from_stdin:
                print(answer or "")
                if answer is None:
                    print(f"line {number}: {text!r}: {reason}", file=sys.stderr)
            else:
                shown = text if text.isprintable() else repr(text)
                print(f"{shown} -> {answer}" if answer is not None else f"{shown} -> ? ({reason})")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped (| head): nothing more to say; the rest goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0 if all(answer is not None for answer, _ in answers) else 1

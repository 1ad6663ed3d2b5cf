"""The examples' data and command lines: formats, splits, and clear errors without tracebacks."""

import datetime as dt
import random

import pytest

import nn
from examples import addition, ctc_digits, dates, translate_dates

NUMERIC = ["%m/%d/%y", "%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d"]


def test_every_format_renders_the_right_date_unambiguously():
    rng = random.Random(0)
    for day in [dt.date(1900, 1, 1), dt.date(1969, 2, 28), dt.date(1994, 9, 27), dt.date(2068, 12, 31),
                dt.date(2099, 12, 31), dt.date(2000, 11, 3)]:
        for text in dates.all_renderings(day, rng):
            if text[0].isdigit() and not any(c.isalpha() for c in text):
                parsed = set()
                for fmt in NUMERIC:
                    try:
                        parsed.add(dt.datetime.strptime(text, fmt).date())
                    except ValueError:
                        pass
                assert parsed == {day}, (text, parsed)  # %y pivot: 69-99 -> 19xx, 00-68 -> 20xx
            else:
                month = dates.MONTHS[day.month - 1]
                assert month[:3] in text and str(day.day) in text and str(day.year) in text, text


def test_split_is_by_calendar_date():
    train, test = dates.split_dates(seed=0)
    assert not set(train) & set(test)
    assert len(train) + len(test) == (dates.LAST - dates.FIRST).days + 1


def test_translate_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    missing = tmp_path / "none.npz"
    assert translate_dates.main(["--checkpoint", str(missing), "--translate", "1 may 2000"]) == 2
    assert "train first" in capsys.readouterr().err


def test_encoding_rejects_unknown_characters_and_empty_input():
    vocab = nn.CharVocab(translate_dates.SOURCE_CHARS)
    with pytest.raises(ValueError, match="unknown character\\(s\\) '@'"):
        translate_dates.encode_sources(["may 5 @ 1990"], vocab)
    with pytest.raises(ValueError, match="empty date"):
        translate_dates.encode_sources(["   "], vocab)
    src, lengths = translate_dates.encode_sources(["MAY  5,   1990"], vocab)
    assert vocab.decode(src[0]) == "may 5, 1990" and lengths[0] == len("may 5, 1990")


def test_addition_problems_and_questions():
    train, test = addition.make_problems(1000, 200, seed=0)
    assert not set(train) & set(test) and all(0 <= a <= 999 and 0 <= b <= 999 for a, b in train)
    vocab = nn.CharVocab(addition.SOURCE_CHARS)
    src, _ = addition.encode_questions(["16+75"], vocab, reverse=True)
    assert vocab.decode(src[0]) == "57+61"
    for bad in ["16-75", "1234+5", "", "1+2+3"]:
        with pytest.raises(ValueError):
            addition.encode_questions([bad], vocab, reverse=False)


def test_translate_mode_reads_stdin_line_by_line(monkeypatch, capsys):
    import io

    from examples.seq2seq_cli import translate_mode

    monkeypatch.setattr("sys.stdin", io.StringIO("a\n\nbb\n"))
    assert translate_mode(["-"], lambda texts: [t.upper() for t in texts]) == 0
    assert capsys.readouterr().out == "A\n\nBB\n"

    def refuse(texts):
        raise ValueError(f"{texts[1]!r}: unknown character(s)")

    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb#\n"))
    assert translate_mode(["-"], refuse) == 2
    assert "line 2" in capsys.readouterr().err


def test_edit_distance_known_values():
    assert ctc_digits.edit_distance([], [1, 2]) == 2
    assert ctc_digits.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert ctc_digits.edit_distance([1, 2, 3], [1, 3]) == 1
    assert ctc_digits.edit_distance([3, 1, 2], [1, 2, 3]) == 2
    assert ctc_digits.edit_distance([1, 1, 1], [2, 2]) == 3


def test_utterances_collapse_to_their_labels():
    import numpy as np

    rng = np.random.default_rng(0)
    prototypes = 100 * np.eye(ctc_digits.DIGITS, ctc_digits.FEATURES)  # digit d: one huge feature d
    frames, labels = ctc_digits.make_utterances(300, rng, prototypes, noise=0.0)
    for x, digits in zip(frames, labels):
        assert 3 <= len(digits) <= 8 and x.shape[1] == ctc_digits.FEATURES
        per_frame = np.where(x.max(axis=1) > 10, x.argmax(axis=1), -1)  # -1: silence
        runs = [int(c) for k, c in enumerate(per_frame) if k == 0 or c != per_frame[k - 1]]
        assert [c for c in runs if c >= 0] == digits  # CTC's collapse: so repeats are always split by silence
        assert all(3 <= len(run) <= 7 for run in np.split(per_frame, np.flatnonzero(np.diff(per_frame)) + 1)
                   if run[0] >= 0)


def test_ctc_digits_learns_to_read_a_few_digits(capsys):
    import re

    assert ctc_digits.main(["--epochs", "2", "--train-size", "3000", "--test-size", "200", "--noise", "0.5",
                            "--hidden", "32", "--plot", ""]) == 0
    rates = [float(r) for r in re.findall(r"label error rate ([0-9.]+)%", capsys.readouterr().out)]
    assert len(rates) == 2 and rates[-1] < 12.0, rates  # measured: 23% after one epoch, 4.4% after two

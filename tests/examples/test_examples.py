"""The examples' data and command lines: formats, splits, and clear errors without tracebacks."""

import datetime as dt
import random

import pytest

import nn
from examples import addition, dates, translate_dates

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

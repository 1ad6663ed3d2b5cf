"""The examples' published targets, at their default settings. Slow (minutes
each): run with ``pytest -m slow``."""

import re

import pytest

from examples import addition, char_lm, ctc_digits, translate_dates

pytestmark = pytest.mark.slow


def last(pattern: str, text: str) -> float:
    return float(re.findall(pattern, text)[-1])


def seconds_of_training(text: str) -> float:
    return last(r"([0-9.]+) s of training", text)


def test_translate_dates_default_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert translate_dates.main([]) == 0
    out = capsys.readouterr().out
    assert last(r"held-out exact match ([0-9.]+)%", out) >= 99.9
    assert seconds_of_training(out) <= 60
    assert translate_dates.main(["--translate", "september 27, 1994", "27.09.1994", "9/27/94"]) == 0
    assert re.findall(r"-> (\S+)", capsys.readouterr().out) == ["1994-09-27"] * 3


def test_ctc_digits_default_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert ctc_digits.main([]) == 0
    out = capsys.readouterr().out
    assert last(r"label error rate ([0-9.]+)%", out) <= 2.0 and seconds_of_training(out) <= 180
    assert (tmp_path / "ctc_digits.png").exists()


def test_addition_default_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert addition.main([]) == 0
    out = capsys.readouterr().out
    assert last(r"held-out exact match ([0-9.]+)%", out) >= 99.0 and seconds_of_training(out) <= 300


def test_char_lm_default_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert char_lm.main(["--sample-length", "100"]) == 0
    assert last(r"held-out perplexity ([0-9.]+)", capsys.readouterr().out) < 3.5  # measured 3.07

"""Human-written dates and their ISO form, generated with ``datetime``.

Many formats people really write -- full and abbreviated month names (with
and without a dot, "sept" too), with and without weekday, ordinals, numeric
m/d/yy and m/d/yyyy, d.m.yyyy, ISO itself -- in any letter case, for years
1900-2099. Two-digit years follow Python's %y pivot (69-99 -> 1969-1999,
00-68 -> 2000-2068), so m/d/yy is only written for years in that window.
The train/test split is by calendar date: no test date appears in training,
in any format.
"""

from __future__ import annotations

import datetime as dt
import random

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FIRST, LAST = dt.date(1900, 1, 1), dt.date(2099, 12, 31)


def _month_short(d: dt.date, rng: random.Random) -> str:
    """'sep', 'sep.' or 'sept' / 'sept.' for September."""
    name = MONTHS[d.month - 1]
    short = "sept" if d.month == 9 and rng.random() < 0.5 else name[:3]
    return short + ("." if rng.random() < 0.3 and short != name else "")


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _two_digit_year_ok(d: dt.date) -> bool:
    return 1969 <= d.year <= 2068


# Each format takes a date and a Random and returns the text; None when it does not apply.
FORMATS = [
    lambda d, r: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",                        # september 27, 1994
    lambda d, r: f"{MONTHS[d.month - 1]} {d.day} {d.year}",                         # september 27 1994
    lambda d, r: f"{d.day} {MONTHS[d.month - 1]} {d.year}",                         # 27 september 1994
    lambda d, r: f"{d.day} {_month_short(d, r)} {d.year}",                          # 27 sep 1994
    lambda d, r: f"{_month_short(d, r)} {d.day}, {d.year}",                         # sept. 27, 1994
    lambda d, r: f"{d.year} {_month_short(d, r)} {d.day}",                          # 1994 sept 27
    lambda d, r: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",   # tuesday, september 27, 1994
    lambda d, r: f"{WEEKDAYS[d.weekday()][:3]}, {_month_short(d, r)} {d.day}, {d.year}",  # tue, sep 27, 1994
    lambda d, r: f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}",   # tuesday 27 september 1994
    lambda d, r: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",              # september 27th, 1994
    lambda d, r: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",        # the 27th of september 1994
    lambda d, r: f"{d.month}/{d.day}/{d.year % 100:02d}" if _two_digit_year_ok(d) else None,  # 9/27/94
    lambda d, r: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}" if _two_digit_year_ok(d) else None,  # 09/27/94
    lambda d, r: f"{d.month}/{d.day}/{d.year}",                                     # 9/27/1994
    lambda d, r: f"{d.month:02d}/{d.day:02d}/{d.year}",                             # 09/27/1994
    lambda d, r: f"{d.day:02d}.{d.month:02d}.{d.year}",                             # 27.09.1994
    lambda d, r: f"{d.day}.{d.month}.{d.year}",                                     # 27.9.1994
    lambda d, r: d.isoformat(),                                                     # 1994-09-27
    lambda d, r: f"{d.year}/{d.month:02d}/{d.day:02d}",                             # 1994/09/27
]


def _letter_case(text: str, rng: random.Random) -> str:
    """People write in any case: as is (lower), Title, UPPER, or Capitalized."""
    return rng.choice([str.lower, str.lower, str.title, str.upper, str.capitalize])(text)


def render(date: dt.date, rng: random.Random) -> str:
    """One random human rendering of ``date``."""
    while True:
        text = rng.choice(FORMATS)(date, rng)
        if text is not None:
            return _letter_case(text, rng)


def all_renderings(date: dt.date, rng: random.Random) -> list[str]:
    """One rendering of ``date`` in every format that applies (lower case)."""
    return [t for t in (f(date, rng) for f in FORMATS) if t is not None]


def split_dates(seed: int, test_fraction: float = 0.1) -> tuple[list[dt.date], list[dt.date]]:
    """Every calendar day from 1900 to 2099, shuffled and split: train, test."""
    days = [FIRST + dt.timedelta(n) for n in range((LAST - FIRST).days + 1)]
    random.Random(seed).shuffle(days)
    n_test = int(len(days) * test_fraction)
    return days[n_test:], days[:n_test]


def make_pairs(dates: list[dt.date], per_date: int, seed: int) -> list[tuple[str, str]]:
    """``per_date`` (human text, ISO text) pairs per date."""
    rng = random.Random(seed)
    return [(render(d, rng), d.isoformat()) for d in dates for _ in range(per_date)]

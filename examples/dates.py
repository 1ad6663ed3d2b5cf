"""Dates as people write them, and text that is not a date: the data of
examples.translate_dates, generated with ``datetime``.

The conventions (CONVENTIONS below) hold for the translator and for
everything here (SPEC §7).

Three kinds of data come from here: ``render`` (the training formats, also
used for the held-out split), ``render_wider`` (an independent renderer of
the formats people write, built on strftime, for testing only) and
``non_date`` (impossible dates, years out of range, partial dates, text).
And one check: ``answer_problem`` tells whether an answer can be the date a
text writes: its numbers in the places the conventions give them, its month
and weekday names, its marks.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import re
from collections.abc import Callable

CONVENTIONS = """\
- Years 1900-2099 only: a date outside them is refused, never moved into range.
- A two-digit year follows Python's %y pivot: 69-99 -> 1969-1999, 00-68 ->
  2000-2068 ("94" and "'94" are 1994, "08" is 2008). A year has two or four
  digits, nothing else.
- Numbers with dots are day.month.year: 27.09.1994, 27.9.94.
- Numbers with slashes or dashes (the same thing, even mixed) are
  month/day/year (9/27/1994, 09-27-94), unless the first number is above
  12: then day/month/year (27/9/1994, 23-08-1973). So 05/06/2001 is May 6,
  and 13/45/99 is no date. A dot and a slash or dash together are no date.
- A four-digit year first is year-month-day, whatever the separator:
  1994-09-27, 1994-9-27, 1994/09/27, 1994.09.27; eight digits alone are
  yyyymmdd (19940927).
- Month names are English, full or cut to three letters (or "sept"), with or
  without a dot; a day may be an ordinal (27th); a weekday may come first
  (full, three letters, "tues", "thurs") and must be the date's weekday.
- Letter case and spaces do not matter."""

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FIRST, LAST = dt.date(1900, 1, 1), dt.date(2099, 12, 31)
PIVOT_FIRST, PIVOT_LAST = 1969, 2068  # the years a two-digit year can name


def two_digit_year(year: int) -> int:
    """The year %y reads from two digits: 69-99 -> 19xx, 00-68 -> 20xx."""
    return year + (1900 if year >= 69 else 2000)


# -- the pieces of a rendering ----------------------------------------------------------------

def month_name(month: int, rng: random.Random) -> str:
    """'september', 'sep', 'sep.', 'sept' or 'sept.' ('may.' too)."""
    name = MONTHS[month - 1]
    short = rng.choice([name, name[:3], name[:3]] + (["sept"] if month == 9 else []))
    return short + ("." if short in (name[:3], "sept") and rng.random() < 0.3 else "")


def weekday_name(weekday: int, rng: random.Random) -> str:
    """'tuesday', 'tue', 'tue.', 'tues' (and 'thurs')."""
    name = WEEKDAYS[weekday]
    short = rng.choice([name, name[:3]] + ([name[:4]] if weekday == 1 else [name[:5]] if weekday == 3 else []))
    return short + ("." if short != name and rng.random() < 0.2 else "")


def ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def day_word(day: int, rng: random.Random) -> str:
    """'27', '27th', or zero-padded ('07', as strftime's %d writes it)."""
    draw = rng.random()
    return ordinal(day) if draw < 0.3 else f"{day:02d}" if draw < 0.45 else str(day)


def year_word(year: int, rng: random.Random) -> str:
    """'1994', or for years the pivot reaches also '94' and "'94"."""
    if PIVOT_FIRST <= year <= PIVOT_LAST and rng.random() < 0.4:
        return rng.choice(["", "'"]) + f"{year % 100:02d}"
    return f"{year:04d}" if 1000 <= year else str(year)


def numbers(month: int, day: int, rng: random.Random) -> tuple[str, str]:
    """Month and day as numbers, both zero-padded or both not."""
    return (f"{month:02d}", f"{day:02d}") if rng.random() < 0.5 else (str(month), str(day))


def comma(rng: random.Random) -> str:
    return "," if rng.random() < 0.5 else ""


# -- formats: (year, month, day, rng) -> text, or None where the format does not apply ----------
# They take bare numbers, not a datetime.date, so impossible dates render too.

Format = Callable[[int, int, int, random.Random], "str | None"]


def _month_day_year(y, m, d, r):  # september 27, 1994 / sept. 27th '94
    return f"{month_name(m, r)} {day_word(d, r)}{comma(r)} {year_word(y, r)}"


def _day_month_year(y, m, d, r):  # 27 september 1994 / 27th sep, 94
    return f"{day_word(d, r)} {month_name(m, r)}{comma(r)} {year_word(y, r)}"


def _the_day_of_month(y, m, d, r):  # the 27th of september, 1994
    return f"{r.choice(['the ', ''])}{ordinal(d)} of {month_name(m, r)}{comma(r)} {year_word(y, r)}"


def _year_month_day_named(y, m, d, r):  # 1994 sept 27
    return f"{y} {month_name(m, r)} {d}"


def _day_mon_year_joined(y, m, d, r):  # 27-sep-1994, 27-SEP-94, 27/sep/1994
    sep = r.choice("-/")
    return f"{d:02d}{sep}{MONTHS[m - 1][:3]}{sep}{year_word(y, r).lstrip(chr(39))}"


def _year_mon_day_joined(y, m, d, r):  # 1994-sep-27
    return f"{y}-{MONTHS[m - 1][:3]}-{d:02d}"


def _month_first_numeric(y, m, d, r):  # 9/27/94, 09-27-1994 (US)
    if m > 12:  # read as day/month/year
        return None
    sep, (month, day) = r.choice("/-"), numbers(m, d, r)
    return f"{month}{sep}{day}{sep}{year_word(y, r).lstrip(chr(39))}"


def _day_first_numeric(y, m, d, r):  # 27/9/1994, 23-08-73: only where the day is above 12
    if d <= 12:  # read as month/day/year
        return None
    sep, (month, day) = r.choice("/-"), numbers(m, d, r)
    return f"{day}{sep}{month}{sep}{year_word(y, r).lstrip(chr(39))}"


def _dotted(y, m, d, r):  # 27.09.1994, 27.9.94
    month, day = numbers(m, d, r)
    return f"{day}.{month}.{year_word(y, r).lstrip(chr(39))}"


def _year_first_numeric(y, m, d, r):  # 1994-09-27, 1994-9-27, 1994/09/27, 1994.09.27
    month, day = numbers(m, d, r) if r.random() < 0.3 else (f"{m:02d}", f"{d:02d}")
    sep = r.choice("-/.")
    return f"{y}{sep}{month}{sep}{day}"


def _compact(y, m, d, r):  # 19940927
    return f"{y}{m:02d}{d:02d}"


FORMATS: list[Format] = [_month_day_year, _day_month_year, _the_day_of_month, _year_month_day_named,
                         _day_mon_year_joined, _year_mon_day_joined, _month_first_numeric, _day_first_numeric,
                         _dotted, _year_first_numeric, _compact]
NAMED_MONTH_FORMATS = FORMATS[:6]
YEAR_FIRST_FORMATS = {_year_month_day_named, _year_mon_day_joined, _year_first_numeric}


def _with_weekday(text: str, weekday: int, rng: random.Random) -> str:
    return f"{weekday_name(weekday, rng)}{rng.choice([', ', ' '])}{text}"


def letter_case(text: str, rng: random.Random) -> str:
    """People write in any case: lower, Title, UPPER, Capitalized, or mixed."""
    mixed = lambda t: "".join(c.upper() if rng.random() < 0.5 else c for c in t)  # noqa: E731
    return rng.choice([str.lower, str.lower, str.title, str.upper, str.capitalize, mixed])(text)


def stray_spaces(text: str, rng: random.Random) -> str:
    """Sometimes spaces around punctuation, doubled, or at the ends."""
    if rng.random() < 0.8:
        return text
    out = "".join(f" {c} " if c in ",./-" and rng.random() < 0.5 else c for c in text)
    return rng.choice(["", " ", "  "]) + out.replace(" ", rng.choice([" ", "  "])) + rng.choice(["", " "])


def render(date: dt.date, rng: random.Random) -> str:
    """One random rendering of ``date`` in the training formats."""
    while True:
        text = rng.choice(FORMATS)(date.year, date.month, date.day, rng)
        if text is not None:
            break
    if rng.random() < 0.15:
        text = _with_weekday(text, date.weekday(), rng)
    return stray_spaces(letter_case(text, rng), rng)


def all_renderings(date: dt.date, rng: random.Random) -> list[str]:
    """One rendering of ``date`` in every format that applies (lower case)."""
    return [t for t in (f(date.year, date.month, date.day, rng) for f in FORMATS) if t is not None]


# -- an independent renderer of the formats people write, for testing --------------------------
# strftime patterns (C locale month and weekday names), each with the condition under which our
# conventions read it as the date meant; a few need more than strftime gives.

def _unpad(text: str) -> str:
    """'1994-09-07' -> '1994-9-7' (drop leading zeros of every number)."""
    return "-".join(str(int(part)) for part in text.split("-"))


WIDER_FORMATS: list[tuple[str, Callable[[dt.date], bool]]] = [
    ("%d.%m.%y", lambda d: PIVOT_FIRST <= d.year <= PIVOT_LAST),     # 27.09.94
    ("%d.%m.%Y", lambda d: True),                                     # 27.09.1994
    ("%d-%b-%Y", lambda d: True),                                     # 27-Sep-1994
    ("%d-%b-%y", lambda d: PIVOT_FIRST <= d.year <= PIVOT_LAST),      # 27-SEP-94
    ("%d/%m/%Y", lambda d: d.day > 12),                               # 23/08/1973
    ("%d-%m-%Y", lambda d: d.day > 12),                               # 23-08-1973
    ("%m/%d/%y", lambda d: PIVOT_FIRST <= d.year <= PIVOT_LAST),      # 09/27/94
    ("%m/%d/%Y", lambda d: True),                                     # 09/27/1994
    ("%Y%m%d", lambda d: True),                                       # 19940927
    ("%Y.%m.%d", lambda d: True),                                     # 1994.09.27
    ("%Y/%m/%d", lambda d: True),                                     # 1994/09/27
    ("unpadded %Y-%m-%d", lambda d: True),                            # 1994-9-27
    ("%b %d, '%y", lambda d: PIVOT_FIRST <= d.year <= PIVOT_LAST),    # Sep 27, '94
    ("Sept %d, '%y", lambda d: d.month == 9 and PIVOT_FIRST <= d.year <= PIVOT_LAST),
    ("%B {th} %Y", lambda d: True),                                   # September 27th 1994
    ("%B {th}, %Y", lambda d: True),                                  # September 27th, 1994
    ("{th} %b %Y", lambda d: True),                                   # 27th Sep 1994
    ("the {th} of %B, %Y", lambda d: True),                           # the 27th of September, 1994
    ("%A, %B %d, %Y", lambda d: True),                                # Tuesday, September 27, 1994
    ("%a, %d %b %Y", lambda d: True),                                 # Tue, 27 Sep 1994 (RFC 2822)
    ("%a %b %d %Y", lambda d: True),                                  # Tue Sep 27 1994
    ("%b. %d, %Y", lambda d: True),                                   # Sep. 27, 1994
    ("%d %B %Y", lambda d: True),                                     # 27 September 1994
]


def render_wider(date: dt.date, pattern: str) -> str:
    """``date`` in one of WIDER_FORMATS (as strftime writes it, English names)."""
    if pattern.startswith("unpadded "):
        return _unpad(date.strftime(pattern.removeprefix("unpadded ")))
    return date.strftime(pattern.replace("{th}", ordinal(date.day)))


def wider_pairs(dates: list[dt.date], per_date: int, seed: int) -> list[tuple[str, str]]:
    """``per_date`` (text, ISO) pairs per date in random WIDER_FORMATS that
    apply, in random letter case and spacing."""
    rng = random.Random(seed)
    pairs = []
    for date in dates:
        patterns = [p for p, applies in WIDER_FORMATS if applies(date)]
        for pattern in rng.sample(patterns, min(per_date, len(patterns))):
            pairs.append((stray_spaces(letter_case(render_wider(date, pattern), rng), rng), date.isoformat()))
    return pairs


# -- what is not a date ------------------------------------------------------------------------

def _random_valid(rng: random.Random, first: int = FIRST.year, last: int = LAST.year) -> dt.date:
    return dt.date(rng.randint(first, last), rng.randint(1, 12), rng.randint(1, 28))


def _impossible_date(rng: random.Random) -> str:
    """A day the month does not have (Feb 30, Apr 31, Feb 29 of 1900, day 0
    or 32+) in any format, or month 0 or 13+ in a numeric one, read by the
    conventions as written."""
    year, month = _random_valid(rng).year, rng.randint(1, 12)
    length = calendar.monthrange(year, month)[1]
    while True:
        fmt = rng.choice(FORMATS)
        if fmt in NAMED_MONTH_FORMATS or fmt is _month_first_numeric or rng.random() < 0.5:
            day = rng.choice([0] + list(range(length + 1, 32)) + list(range(32, 40)))
        else:  # month 13+ (or 0) where the format reads it as the month
            day, month = rng.randint(13 if fmt is _day_first_numeric else 1, 28), rng.choice([0] + list(range(13, 20)))
        text = fmt(year, month, day, rng)
        if text is not None:
            return text


def _year_out_of_range(rng: random.Random) -> str:
    """A real date in 1000-1899 or 2100-2999, its year written in full."""
    date = _random_valid(rng, *rng.choice([(1000, 1899), (2100, 2999)]))
    while True:
        text = rng.choice(FORMATS)(date.year, date.month, date.day, rng)
        if text is not None and str(date.year) in text:
            return _with_weekday(text, date.weekday(), rng) if rng.random() < 0.1 else text


def _year_of_odd_length(rng: random.Random) -> str:
    """A year of 1, 3 or 5 digits ('27.9.994', 'sep 27, 5'), not first
    (where '3-oct-01' is October 3, 2001)."""
    date = _random_valid(rng)
    year = rng.choice([rng.randint(0, 9), rng.randint(100, 999), rng.randint(10000, 29999)])
    while True:
        fmt = rng.choice(FORMATS)
        text = None if fmt in YEAR_FIRST_FORMATS else fmt(year, date.month, date.day, rng)
        if text is not None:
            return text


def _partial_date(rng: random.Random) -> str:
    """A month, a year, a day, or two of the three, alone."""
    date = _random_valid(rng)
    y, m, d = date.year, date.month, date.day
    return rng.choice([
        lambda: month_name(m, rng),
        lambda: f"{month_name(m, rng)}{comma(rng)} {year_word(y, rng)}",
        lambda: f"{m}/{y}", lambda: f"{m:02d}.{y}", lambda: f"{y}-{m:02d}", lambda: f"{y}{m:02d}",
        lambda: f"{month_name(m, rng)} {day_word(d, rng)}", lambda: f"{day_word(d, rng)} {month_name(m, rng)}",
        lambda: f"the {ordinal(d)} of {month_name(m, rng)}", lambda: f"{m}/{d}", lambda: f"{d}.{m}.",
        lambda: f"{weekday_name(date.weekday(), rng)}, {month_name(m, rng)} {d}",
        lambda: str(y), lambda: f"'{y % 100:02d}", lambda: ordinal(d), lambda: f"the {ordinal(d)}",
        lambda: weekday_name(date.weekday(), rng),
    ])()


def _unsupported_numbers(rng: random.Random) -> str:
    """Numbers that our conventions do not read as a date: separated by
    spaces or by a dot and a slash or dash, a two-digit year first, 5-7 or
    9+ digits."""
    date = _random_valid(rng)
    y, m, d = date.year, date.month, date.day
    a, b = rng.sample([".", rng.choice("/-")], 2)
    return rng.choice([
        lambda: f"{d} {m} {y}", lambda: f"{m:02d} {d:02d} {y}", lambda: f"{y} {m:02d} {d:02d}",
        lambda: f"{d}{a}{m}{b}{y}", lambda: f"{y}{a}{m:02d}{b}{d:02d}",
        lambda: f"{y % 100:02d}{a}{m:02d}{a}{d:02d}" if y % 100 > 31 else f"{m}{a}{d}{a}{y}{a}{m}",
        lambda: "".join(str(rng.randint(0, 9)) for _ in range(rng.choice([5, 6, 7, 9, 10, 12]))),
        lambda: f"{d:02d}{m:02d}{y % 100:02d}", lambda: f"{y}{m:02d}{d:02d}{rng.randint(0, 9)}",
    ])()


LETTERS = "abcdefghijklmnopqrstuvwxyz"
SYMBOLS = LETTERS + "0123456789" + " ,./-'"


def _text(rng: random.Random) -> str:
    """Words and symbols: at most one number, so never a date."""
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"

    def word() -> str:
        syllables = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(1, 4)))
        return syllables[:rng.randint(1, 8)]

    return rng.choice([
        lambda: "".join(rng.choice(SYMBOLS) for _ in range(rng.randint(1, 3))).strip() or "-",
        lambda: "".join(rng.choice(LETTERS + " ,.-") for _ in range(rng.randint(1, 25))).strip() or "x",
        lambda: " ".join(word() for _ in range(rng.randint(1, 4))),
        lambda: f"{word()} {rng.randint(0, 9999)}", lambda: f"{rng.randint(0, 999)} {word()} {word()}",
        lambda: f"{rng.choice(MONTHS)[:rng.randint(3, 9)]}{word()}",  # mayor, marching: not a month
        lambda: f"{rng.randint(0, 99)}{rng.choice('.,/-')}{rng.randint(0, 99)}",
    ])()


def _wrong_weekday(rng: random.Random) -> str:
    """A real date with a weekday that is not its own: which part is wrong?"""
    date = _random_valid(rng)
    while True:
        text = rng.choice(FORMATS)(date.year, date.month, date.day, rng)
        if text is not None:
            return _with_weekday(text, (date.weekday() + rng.randint(1, 6)) % 7, rng)


# The families the model learns to refuse, and one it never sees (only the checks catch it).
NON_DATE_FAMILIES: dict[str, Callable[[random.Random], str]] = {
    "impossible date": _impossible_date, "year out of range": _year_out_of_range,
    "year of 1, 3 or 5 digits": _year_of_odd_length, "partial date": _partial_date,
    "unsupported numbers": _unsupported_numbers, "text": _text,
}
HELD_OUT_FAMILIES = {**NON_DATE_FAMILIES, "wrong weekday": _wrong_weekday}


def non_date(rng: random.Random, families: dict[str, Callable[[random.Random], str]] = NON_DATE_FAMILIES) -> str:
    """One text that is not a date by the conventions, in any case and spacing."""
    return stray_spaces(letter_case(rng.choice(list(families.values()))(rng), rng), rng)


# -- splits and pairs --------------------------------------------------------------------------

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


def non_date_texts(n: int, seed: int | str, families: dict[str, Callable[[random.Random], str]] = NON_DATE_FAMILIES
                   ) -> list[str]:
    """``n`` texts that are no date, drawn from ``families``."""
    rng = random.Random(seed)
    return [non_date(rng, families) for _ in range(n)]


# -- checking an answer against the text -----------------------------------------------------

MONTH_WORDS = {name: n for n, full in enumerate(MONTHS, 1) for name in (full, full[:3])} | {"sept": 9}
WEEKDAY_WORDS = {name: n for n, full in enumerate(WEEKDAYS) for name in (full, full[:3])} | {"tues": 1, "thurs": 3}
FILLER_WORDS = {"the", "of"}
_TOKEN = re.compile(r"(\d+)([a-z]*)|([a-z]+)")


def answer_problem(text: str, iso: str) -> str | None:
    """Why ``iso`` cannot be the date that ``text`` (lower case) writes, or
    None if it can. Checked: the answer is a calendar date in 1900-2099;
    every word is a month, a weekday, "the" or "of"; no dot between numbers
    beside a slash or dash; no slash or dash beside another mark (", '" is
    fine) and no mark written twice; without a month name, a . / or -
    between every two numbers (not "27 9 1994"); at most one month and one weekday, and they are
    the answer's; the numbers are, in the order the conventions read them
    (see ``number_roles``), the answer's day, its month (unless a month is
    named) and its year (four digits, or two that %y reads as it), or
    yyyymmdd alone; an ordinal is the day, with its suffix. So where the
    conventions read the text as a date, no other date passes."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
        return f"the model wrote {iso!r}, not a date"
    try:
        date = dt.date.fromisoformat(iso)
    except ValueError:
        return f"the model wrote {iso}, which is not a calendar date"
    if not FIRST <= date <= LAST:
        return f"the model wrote {iso}, outside the supported years {FIRST.year}-{LAST.year}"
    months, weekdays, numbers = [], [], []
    for digits, suffix, word in _TOKEN.findall(text):
        if digits:
            numbers.append((digits, suffix))
        elif word in MONTH_WORDS:
            months.append(MONTH_WORDS[word])
        elif word in WEEKDAY_WORDS:
            weekdays.append(WEEKDAY_WORDS[word])
        elif word not in FILLER_WORDS:
            return f"{word!r} is not part of a date"
    unmarked = re.sub(r"'(?=\d\d\b)", "", text)  # (the apostrophe of a two-digit year is no separator: 27-sep-'94)
    runs = [run.replace(" ", "") for run in re.findall(r"[^a-z0-9]+", unmarked)]  # (spaces do not matter)
    if any(len(run) > 1 and (re.search(r"[/-]", run) or len(set(run)) < len(run)) for run in runs):
        return "a slash or dash beside another mark, or a mark written twice: that is no date"
    separators = set(re.findall(r"(?<=\d) *([./-]) *(?=\d)", text))
    if "." in separators and len(separators) > 1:
        return "a dot and a slash or dash between its numbers: that is no date"
    if not months and any(not re.search(r"[./-]", gap) for gap in re.findall(r"(?<=\d)([^a-z0-9]+)(?=\d)", unmarked)):
        return "numbers without a month name must be joined by . / or - (as in 27.9.94, 9/27/94): that is no date"
    if len(months) > 1 or len(weekdays) > 1:
        return "it names more than one month or weekday"
    if months and months[0] != date.month:
        return f"it names {MONTHS[months[0] - 1]}, but the model wrote {iso}"
    if weekdays and weekdays[0] != date.weekday():
        return f"{iso} is a {WEEKDAYS[date.weekday()]}, not a {WEEKDAYS[weekdays[0]]}"
    if not months and numbers == [(f"{date:%Y%m%d}", "")]:
        return None
    roles = number_roles([digits for digits, _ in numbers], named_month=bool(months), dotted="." in separators)
    if roles is None or not all(_fits(role, digits, suffix, date) for role, (digits, suffix) in zip(roles, numbers)):
        read = f" (read as {'/'.join(roles)})" if roles else ""
        return (f"the model wrote {iso}, which does not fit the numbers written "
                f"({', '.join(d + s for d, s in numbers)}){read}")
    return None


def number_roles(numbers: list[str], named_month: bool, dotted: bool) -> list[str] | None:
    """What each number of a date is under the conventions, in the order
    written ("day", "month", "year"), or None if they are not a date's
    numbers. With a month name: a day and a year, the year first only if
    it has four digits. Without: three numbers, year-month-day if the first
    has four digits, else day.month.year with dots, else month/day/year
    unless the first is above 12 (then day/month/year)."""
    if named_month:
        return (["year", "day"] if len(numbers[0]) == 4 else ["day", "year"]) if len(numbers) == 2 else None
    if len(numbers) != 3:
        return None
    if len(numbers[0]) == 4:
        return ["year", "month", "day"]
    if dotted or int(numbers[0]) > 12:
        return ["day", "month", "year"]
    return ["month", "day", "year"]


def _fits(role: str, digits: str, suffix: str, date: dt.date) -> bool:
    """Whether a number written (with an ordinal's suffix, if any) is ``date``'s day, month or year."""
    if role == "year":
        two_digits = len(digits) == 2 and two_digit_year(int(digits)) == date.year
        return not suffix and (digits == str(date.year) or two_digits)
    value = date.day if role == "day" else date.month
    right_suffix = not suffix or role == "day" and ordinal(value) == str(value) + suffix
    return len(digits) <= 2 and int(digits) == value and right_suffix


def visible_reason(text: str) -> str | None:
    """A reason a text (lower case) is no date that shows without reading
    it: a four-digit number outside the supported years."""
    for number in re.findall(r"(?<!\d)\d{4}(?!\d)", text):
        if not FIRST.year <= int(number) <= LAST.year:
            return f"the year {number} is outside the supported {FIRST.year}-{LAST.year}"
    return None

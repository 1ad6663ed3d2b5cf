"""The date conventions (examples/dates.py, CONVENTIONS) checked against an
independent reading of them: ``reference_date``, written with
``datetime.strptime`` and none of the example's code. Every training and
wider-format rendering reads as its date, every generated non-date as none,
and the answer check accepts the right answer and refuses wrong ones."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples import dates
from examples.translate_dates import normalize

WEEKDAY = {name: n for n, full in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                              "sunday"]) for name in (full, full[:3])} | {"tues": 1, "thurs": 3}


def _named() -> list[str]:
    """strptime patterns for a text with a month name (after canonicalising)."""
    out = []
    for month in ("%B", "%b"):
        for year in ("%Y", "%y"):
            out += [f"{month} %d {year}", f"{month} %d, {year}", f"%d {month} {year}", f"%d {month}, {year}",
                    f"%d-{month}-{year}", f"%d/{month}/{year}"]
        out += [f"%Y {month} %d", f"%Y-{month}-%d"]
    return out


def _numeric(text: str) -> list[str]:
    """strptime patterns for numbers only (dashes made slashes), by the conventions."""
    if re.fullmatch(r"\d{8}", text):
        return ["%Y%m%d"]
    separators = set(re.findall(r"\D", text))
    if "." in separators and len(separators) > 1:
        return []  # a dot with a slash or dash
    if re.fullmatch(r"\d{4}([/.])\d{1,2}\1\d{1,2}", text):
        return [f"%Y{text[4]}%m{text[4]}%d"]
    match = re.fullmatch(r"(\d{1,2})([/.])\d{1,2}\2(\d{2}|\d{4})", text)
    if not match:
        return []
    sep, year = match.group(2), "%Y" if len(match.group(3)) == 4 else "%y"
    if sep == ".":
        return [f"%d.%m.{year}"]
    return [f"%d/%m/{year}" if int(match.group(1)) > 12 else f"%m/%d/{year}"]


def _canonical(text: str) -> tuple[str, int | None]:
    """Lower case; the weekday in front taken off (returned); no dot after
    a month's three letters (or sept); no spaces around . / -; ", " after a comma; "'94" -> "94"."""
    text = " ".join(text.lower().split())
    weekday = None
    match = re.match(r"([a-z]+)\s*\.?\s*,?\s*", text)
    if match and match.group(1) in WEEKDAY:
        weekday, text = WEEKDAY[match.group(1)], text[match.end():]
    text = re.sub(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)\s*\.", r"\1 ", text)
    text = re.sub(r"\bsept\b", "sep", text)
    text = re.sub(r"\s*([./-])\s*", r"\1", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"(^|,)? *'(\d\d)$", lambda m: f"{m.group(1) or ''} {m.group(2)}", text.strip())
    return " ".join(text.split()), weekday


def reference_date(text: str) -> dt.date | None:
    """The date ``text`` writes under the conventions, or None if it writes none."""
    text, weekday = _canonical(text)
    if re.search(r"[a-z]", text):
        ordinal = re.search(r"(\d+)(st|nd|rd|th)\b", text)
        if ordinal:
            day = int(ordinal.group(1))
            suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
            if ordinal.group(2) != suffix:
                return None
            text = text[:ordinal.start()] + ordinal.group(1) + text[ordinal.end():]
            the_of = re.fullmatch(r"(the )?(\d+) of (.*)", text)
            if the_of:
                text = f"{the_of.group(2)} {the_of.group(3)}"
        patterns = _named()
    else:
        text = text.replace("-", "/")  # slashes and dashes are the same
        patterns = _numeric(text)
    dates = set()
    for pattern in patterns:
        try:
            dates.add(dt.datetime.strptime(text, pattern).date())
        except ValueError:
            continue
    if len(dates) != 1:
        return None
    (date,) = dates
    if not 1900 <= date.year <= 2099 or (weekday is not None and date.weekday() != weekday):
        return None
    return date


# -- the reference itself, on known texts ----------------------------------------------------

@pytest.mark.parametrize("text, iso", [
    ("27.09.94", "1994-09-27"), ("27.9.94", "1994-09-27"), ("27-Sep-1994", "1994-09-27"), ("27-SEP-94", "1994-09-27"),
    ("Sept 27, '94", "1994-09-27"), ("September 27th 1994", "1994-09-27"), ("27th Sep 1994", "1994-09-27"),
    ("the 27th of September, 1994", "1994-09-27"), ("Tue, 27 Sep 1994", "1994-09-27"),
    ("Tuesday, September 27, 1994", "1994-09-27"), ("tues. sept. 27, 1994", "1994-09-27"), ("1994-9-27", "1994-09-27"),
    ("2016.03.18", "2016-03-18"), ("20100914", "2010-09-14"), ("23/8/1973", "1973-08-23"), ("27-aug-08", "2008-08-27"),
    ("05/06/2001", "2001-05-06"), ("06/05/2001", "2001-06-05"), ("9/27/94", "1994-09-27"), ("1/1/69", "1969-01-01"),
    ("12/31/68", "2068-12-31"), ("29 feb 2000", "2000-02-29"), ("may. 5 2001", "2001-05-05"),
    ("12-10/1977", "1977-12-10"),
    ("13/45/99", None), ("Feb 30, 2001", None), ("29 feb 1900", None), ("27 sep 1899", None), ("jan 1, 1776", None),
    ("1 jan 2100", None), ("hello world", None), ("a", None), (".", None), ("september", None), ("1994", None),
    ("sep 1994", None), ("sep 27", None), ("27.9.994", None), ("94-09-27", None), ("27 09 1994", None),
    ("27.09/1994", None), ("1994927", None), ("Monday, September 27, 1994", None), ("27st sep 1994", None),
])
def test_reference_reads_known_texts(text, iso):
    assert str(reference_date(text)) == str(iso)


# -- the generators against the reference ----------------------------------------------------

days = st.dates(dates.FIRST, dates.LAST)


@given(days, st.integers(0, 2 ** 32))
def test_every_training_format_writes_its_date(date, seed):
    rng = random.Random(seed)
    texts = dates.all_renderings(date, rng) + [dates.render(date, rng) for _ in range(20)]
    assert len(dates.all_renderings(date, rng)) >= 8
    for text in texts:
        assert reference_date(text) == date, text
        assert reference_date(normalize(text)) == date, (text, normalize(text))  # what the model reads: same date


@given(days)
def test_every_wider_format_writes_its_date(date):
    for pattern, applies in dates.WIDER_FORMATS:
        if applies(date):
            text = dates.render_wider(date, pattern)
            assert reference_date(text) == date, (pattern, text)


def test_wider_pairs_cover_the_formats_on_the_dates_given():
    days_ = [dt.date(1994, 9, 27) + dt.timedelta(n) for n in range(300)]
    pairs = dates.wider_pairs(days_, per_date=2, seed=0)
    assert len(pairs) == 600 and {iso for _, iso in pairs} == {d.isoformat() for d in days_}
    assert all(reference_date(text) == dt.date.fromisoformat(iso) for text, iso in pairs)


@pytest.mark.parametrize("family", sorted(dates.HELD_OUT_FAMILIES))
def test_non_dates_are_no_date(family):
    rng = random.Random(family)
    texts = [dates.HELD_OUT_FAMILIES[family](rng) for _ in range(1500)]
    assert len(set(texts)) > 500  # varied
    dated = [(t, reference_date(t)) for t in texts if reference_date(t) is not None]
    assert not dated, dated[:5]


def test_non_date_texts_use_only_the_characters_of_dates():
    texts = dates.non_date_texts(3000, seed=0, families=dates.HELD_OUT_FAMILIES)
    assert set("".join(texts).lower()) <= set(dates.SYMBOLS)


def test_two_digit_years_only_where_the_pivot_reads_them():
    rng = random.Random(0)
    for year in [1900, 1968, 1969, 2000, 2068, 2069, 2099]:
        texts = [dates.render(dt.date(year, 7, 4), rng) for _ in range(300)]
        two_digit = [t for t in texts if str(year) not in t]
        assert all(reference_date(t) == dt.date(year, 7, 4) for t in texts)
        assert all(re.search(rf"(?<!\d){year % 100:02d}$", t.strip()) for t in two_digit)
        assert bool(two_digit) == (1969 <= year <= 2068), (year, two_digit[:3])
    assert dates.two_digit_year(69) == 1969 and dates.two_digit_year(68) == 2068 and dates.two_digit_year(0) == 2000


def test_split_is_by_calendar_date():
    train, test = dates.split_dates(seed=0)
    assert not set(train) & set(test)
    assert len(train) + len(test) == (dates.LAST - dates.FIRST).days + 1


# -- the answer check -------------------------------------------------------------------------

@given(days, st.integers(0, 2 ** 32))
def test_answer_check_accepts_the_right_answer(date, seed):
    rng = random.Random(seed)
    texts = dates.all_renderings(date, rng) + [dates.render_wider(date, p) for p, ok in dates.WIDER_FORMATS if ok(date)]
    for text in texts:
        assert dates.answer_problem(normalize(text), date.isoformat()) is None, text


def _other_readings(date: dt.date) -> set[dt.date]:
    """Dates made of the numbers ``date`` is written with, put in other places: day and month
    swapped, a two-digit year read as the day or the month and the other way round."""
    y2 = date.year % 100
    out = set()
    for year, month, day in [(date.year, date.day, date.month), (dates.two_digit_year(date.day), date.month, y2),
                             (dates.two_digit_year(date.month), y2, date.day), (dates.two_digit_year(date.day), y2,
                                                                                 date.month),
                             (dates.two_digit_year(date.month), date.day, y2)]:
        try:
            out.add(dt.date(year, month, day))
        except ValueError:
            continue
    return out - {date}


@given(days, st.integers(0, 2 ** 32), days)
def test_answer_check_refuses_every_other_date(date, seed, other):
    """Where the conventions read a text as a date, the check lets no other
    date through: not another year, day or month, and not the same numbers
    read in another order (05/06/2001 as June 5; sep 10, 12 as 2010-09-12)."""
    rng = random.Random(seed)
    texts = dates.all_renderings(date, rng) + [dates.render_wider(date, p) for p, ok in dates.WIDER_FORMATS if ok(date)]
    wrong = ({other} | _other_readings(date)) - {date}
    for text in texts:
        clean = normalize(text)
        assert reference_date(clean) == date, text
        for answer in wrong:
            assert dates.answer_problem(clean, answer.isoformat()), (text, answer)


@given(st.lists(st.sampled_from(["1", "5", "05", "12", "13", "27", "31", "94", "08", "1994", "2001", "19940927",
                                 "sep", "may", "tue", "the", "of", "27th", "1st", "/", "-", ".", ",", " ", "'"]),
                min_size=1, max_size=7), days)
def test_answer_check_passes_only_the_references_reading(parts, date):
    """Texts put together from a date's pieces: if the reference reader
    finds a date in one, the check passes that date and no other."""
    text = normalize("".join(parts))
    read = reference_date(text)
    if read is not None and date != read:
        assert dates.answer_problem(text, date.isoformat()), (text, date)
    if read is not None:
        assert dates.answer_problem(text, read.isoformat()) is None, text


@pytest.mark.parametrize("text, iso, why", [
    ("feb 30,2001", "2001-02-30", "not a calendar date"), ("27 sep 1899", "1899-09-27", "outside the supported"),
    ("27.9.94", "994-09-27", "not a date"), ("27.09.94", "2094-09-27", "does not fit the numbers"),
    ("tuesday,sept 27,1994", "1994-10-27", "names september"), ("monday,sep 27,1994", "1994-09-27", "is a tuesday"),
    ("sep 27 1994 at noon", "1994-09-27", "'at' is not part of a date"),
    ("27st sep 1994", "1994-09-27", "does not fit"),
    ("sep oct 27 1994", "1994-09-27", "more than one month"), ("19940927", "1994-09-28", "does not fit"),
    ("hello world", "2001-07-07", "'hello' is not part"), ("sep 27,'94", "2094-09-27", "does not fit"),
    ("5.7/1996", "1996-07-05", "a dot and a slash"), ("2097-12.12", "2097-12-12", "a dot and a slash or dash"),
    # two marks side by side once passed (the trained model read 05/.06/2001 as 2001-06-05, 05/06/2001 as May 6)
    ("05/.06/2001", "2001-06-05", "beside another mark"), ("1/.04.1964", "1964-04-01", "beside another mark"),
    ("1965./2.22", "1965-02-22", "beside another mark"), ("27.-9.1994", "1994-09-27", "beside another mark"),
    ("27 . - 9.1994", "1994-09-27", "beside another mark"), ("sep..21, 1987", "1987-09-21", "written twice"),
    ("sept 05, -36", "2036-09-05", "beside another mark"), ("27. 9 /1994", "1994-09-27", "a dot and a slash"),
    # numbers apart, no month named: passed (the conventions read none; the model answered "10-10 1991")
    ("27 9 1994", "1994-09-27", "joined by . / or -"), ("10-10 1991", "1991-10-10", "joined by . / or -"),
    ("1928/2, 1", "1928-02-01", "joined by . / or -"), ("mon 8 17, 48", "2048-08-17", "joined by . / or -"),
    # the numbers in another order than the conventions': passed (the model's reading was not checked)
    ("05/06/2001", "2001-06-05", "read as month/day/year"), ("27.09.94", "1994-27-09", "not a calendar date"),
    ("5.6.2001", "2001-05-06", "read as day/month/year"), ("sep 10, 12", "2010-09-12", "read as day/year"),
    ("1994 sep 5", "2005-09-19", "read as year/day"), ("12/10/08", "2012-10-08", "read as month/day/year"),
    ("94.09.27", "1994-09-27", "read as day/month/year"),
])
def test_answer_check_refuses_with_a_reason(text, iso, why):
    assert why in dates.answer_problem(text, iso)


def test_answer_check_takes_a_two_digit_years_apostrophe_beside_a_mark():
    assert dates.answer_problem("27-sep-'94", "1994-09-27") is None  # (refused by the first "two marks" rule)
    assert dates.answer_problem("sep 27,'94", "1994-09-27") is None


def test_visible_reason_names_a_year_out_of_range():
    assert "1776" in dates.visible_reason("jan 1,1776") and dates.visible_reason("jan 1,1994") is None
    assert dates.visible_reason("19940927") is None  # eight digits are no year

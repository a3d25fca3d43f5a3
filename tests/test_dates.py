"""Dates: every common news form, periods for years and months, and the century rule only for
two-digit years."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.text.dates import parse_date, parse_period

TODAY = date(2026, 12, 1)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019", "2019-01-01"),  # not today's month and day in 2019
        ("2019-05", "2019-05-01"),
        ("May 2019", "2019-05-01"),
        ("2030-05-01", "2030-05-01"),  # a future year written in full is kept
        ("2130-05-01", "2130-05-01"),
        ("02/08/63", "1963-02-08"),
        ("05/01/21", "2021-05-01"),
        ("11/30/26", "2026-11-30"),  # a two-digit year: the latest not in the future
        ("12/31/26", "1926-12-31"),
        ("26-FEB-1987 15:01:01.79", "1987-02-26"),
        ("May 5, 2021", "2021-05-05"),
        ("Feb 26", None),  # no year: no date
        ("2019-02-30", None),
        ("not a date", None),
        ("", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2019", "2019-01-01", "2019-12-31"),
        ("2020-02", "2020-02-01", "2020-02-29"),
        ("Feb 1900", "1900-02-01", "1900-02-28"),
        ("2019-05-31", "2019-05-31", "2019-05-31"),
    ],
)
def test_parse_period_gives_both_ends(text, start, end):
    assert tuple(d.isoformat() for d in parse_period(text, today=TODAY)) == (start, end)


@settings(max_examples=200, deadline=None)
@given(day=days)
def test_full_year_forms_round_trip(day):
    iso = day.isoformat()
    forms = [
        iso,
        f"{day.day:02d}-{MONTHS[day.month - 1].upper()}-{day.year} 15:01:01.79",
        f"{MONTHS[day.month - 1]} {day.day}, {day.year}",
        f"{day.day} {calendar.month_name[day.month]} {day.year}",
        f"{day.month:02d}/{day.day:02d}/{day.year}",
    ]
    for form in forms:
        assert parse_date(form, today=TODAY) == iso, form


@settings(max_examples=200, deadline=None)
@given(day=days)
def test_two_digit_years_are_the_latest_date_not_in_the_future(day):
    parsed = parse_date(f"{day.month:02d}/{day.day:02d}/{day.year % 100:02d}", today=TODAY)
    if parsed is None:  # 29 February moved to a year without one
        assert day.month == 2 and day.day == 29
        return
    got = date.fromisoformat(parsed)
    assert (got.month, got.day, got.year % 100) == (day.month, day.day, day.year % 100)
    # The latest such date not after today: within the hundred years that end today (12/02/26,
    # read on 2026-12-01, is 1926-12-02: exactly a century minus a day back).
    assert TODAY.replace(year=TODAY.year - 100) < got <= TODAY


@settings(max_examples=200, deadline=None)
@given(year=st.integers(1000, 2999), month=st.integers(1, 12))
def test_years_and_months_are_periods(year, month):
    assert parse_period(str(year)) == (date(year, 1, 1), date(year, 12, 31))
    start, end = parse_period(f"{year}-{month:02d}")
    assert start == date(year, month, 1) and end.month == month and (end + timedelta(days=1)).day == 1
    assert parse_date(f"{MONTHS[month - 1]} {year}") == start.isoformat()


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_is_a_date_or_none_never_an_error(text):
    parsed = parse_date(text)
    assert parsed is None or date.fromisoformat(parsed)


@pytest.mark.parametrize(
    ("value", "since", "until"),
    [("2019", "2019-01-01", "2019-12-31"), ("2019-05", "2019-05-01", "2019-05-31"),
     ("May 2019", "2019-05-01", "2019-05-31"), ("2020-02", "2020-02-01", "2020-02-29"),
     ("2019-05-31", "2019-05-31", "2019-05-31")],
)
def test_search_bounds_cover_the_whole_period(value: str, since: str, until: str) -> None:
    from index.filters import date_bound

    assert (date_bound(value, end=False), date_bound(value, end=True)) == (since, until)

"""Display text against Babel's own formatting, value by value: the vectorised writers must say what Babel says."""

from __future__ import annotations

import copy
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from babel import Locale
from babel.dates import format_date, format_datetime

from export_pipelines.display.dates import date_texts, resolved_pattern
from export_pipelines.display.numbers import number_style, number_texts
from export_pipelines.display.rules import ColumnRule
from export_pipelines.display.text import column_formatter

LOCALES = ["de_DE", "en_US", "fr_FR", "hi_IN", "nl_NL", "ja_JP", "es_ES", "ar_EG", "sv_SE"]
rng = random.Random(17)
DECIMALS = [Decimal("1234.505"), Decimal("-1234567.895"), Decimal("0.005"), Decimal("0.015"), Decimal("-0.004"),
            Decimal("999999999.999"), Decimal("0"), Decimal("-2.675")] + [
    Decimal(rng.randint(-10**12, 10**12)) / 1000 for _ in range(200)]  # fmt: skip
FLOATS = [2.675, 0.125, 1.005, 0.0, 2107.055, 2674.65, -0.5, 1e-7] + [
    round(rng.uniform(-1e4, 1e4), rng.randint(0, 4)) for _ in range(300)]  # fmt: skip


def babel_number(value, locale: str, kind: str, decimals: int | None, currency: str | None, thousands=True) -> str:
    """What Babel's NumberPattern.apply writes, with the decimals forced as the rule forces them."""
    loc = Locale.parse(locale)
    pattern = copy.copy({"currency": loc.currency_formats["standard"], "percent": loc.percent_formats[None],
                         "decimal": loc.decimal_formats[None]}[kind])  # fmt: skip
    if decimals is not None:
        pattern.frac_prec = (decimals, decimals)
    return pattern.apply(value, loc, currency=currency, currency_digits=decimals is None, group_separator=thousands)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("kind", "decimals", "currency"),
    [
        ("currency", None, "EUR"),
        ("currency", 0, "USD"),
        ("currency", None, "JPY"),
        ("decimal", 2, None),
        ("decimal", 5, None),
        ("percent", 1, None),
        ("decimal", None, None),
    ],
)
def test_decimals_are_written_as_babel_writes_them(locale, kind, decimals, currency):
    array = pa.array(DECIMALS, pa.decimal128(15, 3))
    style = number_style(locale, kind, decimals, currency)

    for thousands in (True, False):
        got = number_texts(array, style, thousands).to_pylist()
        assert got == [babel_number(v, locale, kind, decimals, currency, thousands) for v in DECIMALS]


@pytest.mark.parametrize("locale", ["de_DE", "en_US", "fr_FR"])
@pytest.mark.parametrize(("kind", "decimals"), [("decimal", 0), ("decimal", 2), ("percent", 1), ("decimal", None)])
def test_floats_round_as_their_text_reads_as_babel_does(locale, kind, decimals):
    got = number_texts(pa.array(FLOATS), number_style(locale, kind, decimals, None)).to_pylist()

    assert got == [babel_number(v, locale, kind, decimals, None) for v in FLOATS]


def test_nulls_nan_and_infinities():
    style = number_style("de_DE", "decimal", 2, None)

    got = number_texts(pa.array([None, float("nan"), float("inf"), -float("inf"), 1.5]), style).to_pylist()

    assert got == [None, "NaN", "∞", "-∞", "1,50"]


def test_integers_stay_digits_under_a_locale_alone_and_group_with_a_rule():
    ids = pa.array([1234567, None, -5], pa.int64())

    assert column_formatter("integer", 0, None, "de_DE") is None
    assert column_formatter("integer", 0, ColumnRule(thousands=True), "de_DE")(ids).to_pylist() == [
        "1.234.567", None, "-5"]  # fmt: skip
    assert column_formatter("integer", 0, ColumnRule(null="–"), None)(ids).to_pylist() == ["1234567", "–", "-5"]


MOMENTS = [datetime(2024, 3, 31, 0, 59, 59, 999_999, tzinfo=UTC), datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
           datetime(2024, 2, 29, 12, 0, 0, 5_000, tzinfo=UTC), datetime(1999, 12, 31, 23, 0, tzinfo=UTC)] + [
    datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 400 * 86400)) for _ in range(100)]  # fmt: skip
PATTERNS = ["dd.MM.yyyy HH:mm", "d MMMM y, h:mm a", "EEEE, d. MMM yy 'um' H 'Uhr'", "yyyy-MM-dd'T'HH:mm:ss.SSS",
            "EEE d LLL y h a", "medium", "long", "short"]  # fmt: skip


@pytest.mark.parametrize("locale", ["de_DE", "en_US", "fr_FR", "ja_JP", "ar_EG"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_timestamps_are_written_as_babel_writes_them_in_the_columns_zone(locale, pattern):
    zone = "Europe/Berlin"
    array = pa.array(MOMENTS + [None], pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz=zone))
    resolved = resolved_pattern(pattern, locale, "timestamp")

    got = date_texts(array, resolved, locale).to_pylist()

    expected = [format_datetime(m, resolved, tzinfo=__import__("zoneinfo").ZoneInfo(zone), locale=locale)
                for m in MOMENTS]  # fmt: skip
    assert got == expected + [None]


@pytest.mark.parametrize("locale", ["de_DE", "en_US", "fr_FR"])
@pytest.mark.parametrize("pattern", ["dd.MM.yyyy", "d MMMM y", "EEEE, d. MMM yy", "medium", None])
def test_dates_are_written_as_babel_writes_them(locale, pattern):
    days = [date(2024, 2, 29), date(1999, 12, 31), date(2024, 10, 27)] + [m.date() for m in MOMENTS]
    resolved = resolved_pattern(pattern, locale, "date")

    got = date_texts(pa.array(days, pa.date32()), resolved, locale).to_pylist()

    assert got == [format_date(day, resolved, locale=locale) for day in days]


@pytest.mark.parametrize("pattern", ["dd.MM.yyyy", "d.M.yy", "y-MM-dd"])
def test_a_year_of_other_than_four_digits_is_written_field_by_field(pattern):
    days = [date(999, 1, 5), date(2024, 11, 30), None]

    got = date_texts(pa.array(days, pa.date32()), pattern, "de_DE").to_pylist()

    assert got == [format_date(day, pattern, locale="de_DE") for day in days[:2]] + [None]

"""Deterministic, realistic and deliberately awkward values for the demo tables.

Every renderer, filter and permission check is tried against this data, so it carries the cases
that break exports in practice: non-ASCII and non-BMP text, delimiters, quotes, CR/LF inside
values, text a spreadsheet would run as a formula, NULL next to the empty string, cents that a
float would lose, and instants on year, leap-day and DST boundaries.

The first rows of each table are pinned to cover every hard case once, so a test that seeds only
a few dozen rows still meets all of them; after that, values are drawn from one ``random.Random``
and hard cases keep turning up at a low rate in every tenant.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
# Uneven on purpose: a tenant filter should change row counts visibly.
TENANT_CUM_WEIGHTS = tuple(accumulate((35, 25, 20, 12, 8)))
STATUSES = ("pending", "paid", "shipped", "cancelled", "refunded")
STATUS_CUM_WEIGHTS = tuple(accumulate((15, 30, 40, 8, 7)))
PAID_STATUSES = frozenset({"paid", "shipped", "refunded"})
CURRENCIES = ("EUR", "USD", "GBP", "JPY")
COUNTRIES = ("DE", "FR", "GB", "US", "JP", "SE", "DK", "PL", "ES", "CN", "EG", "NL", "BR", "IN")

START = datetime(2023, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_MICROSECONDS = (END - START) // timedelta(microseconds=1)

# (name, country): non-ASCII, non-BMP, delimiters, quotes, newlines, formula triggers, padding.
HARD_CUSTOMERS = (
    ("Zoë Ångström", "SE"),
    ("José Núñez", "ES"),
    ("Łukasz Żółć", "PL"),
    ("李小龙", "CN"),
    ("محمد", "EG"),
    ("Ærøskøbing AS", "DK"),
    ("Smith, Jones & Co.", "GB"),
    ('Dwayne "The Rock" Johnson', "US"),
    ("Acme\nLogistics", "US"),
    ("Nordic Freight\r\nDivision", "SE"),
    ('=HYPERLINK("http://evil.example","click")', "US"),
    ("+49 Trading GmbH", "DE"),
    ("-Minus Corp", "GB"),
    ("@Home Supplies", "US"),
    ("O'Brien; Sons\tLtd", "GB"),
    ("  Padded Name  ", "FR"),
    ("Café ☕ 🚀 Ltd", "FR"),
    ('Müller, "Hans"\nGmbH', "DE"),
)
FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Elif", "Fatima", "Günter", "Hiroshi", "Ingrid", "Jamal",
    "Katarzyna", "Liam", "María", "Noah", "Olga", "Priya", "Quentin", "Rosa", "Søren", "Tomás",
)  # fmt: skip
LAST_NAMES = (
    "Andersson", "Brown", "Çelik", "Dubois", "Evans", "Fernández", "García", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Lefèvre", "Martin", "Nakamura", "O'Connor", "Patel", "Rossi", "Schmidt",
)  # fmt: skip
COMPANY_SUFFIXES = ("GmbH", "Ltd", "Inc.", "SARL", "AB", "B.V.", "S.A.", "KK")

# None and "" first: exports must keep them apart (empty cell vs. empty quoted string...).
HARD_NOTES = (
    None,
    "",
    "Leave at the back door",
    "Deliver after 5pm, ring twice",
    'Customer said "urgent"',
    "line one\nline two",
    "line one\r\nline two",
    "=1+2",
    "+31 20 123 4567",
    "-5% agreed by phone",
    "@sales please follow up",
    "  padded  ",
    "tab\tseparated",
    "ünïcödé ✓ 😀 注文",
)
ORDINARY_NOTES = (
    "Gift wrap requested",
    "Repeat customer",
    "Invoice to head office",
    "Partial delivery accepted",
    "Call before delivery",
    "Fragile: glassware",
)
# The first PINNED_ROWS customers and orders cycle through these, then values are random.
PINNED_ROWS = len(HARD_CUSTOMERS)
PINNED_AMOUNTS = tuple(Decimal(text) for text in ("0.00", "9999999.99", "0.01", "1234.50", "19.99"))
PINNED_QUANTITIES = (1, 500, 2)
PINNED_DISCOUNTS = (None, 0.0, 0.1, 0.125)
PINNED_INSTANTS = (
    START,
    datetime(2023, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 34, 56, 789_012, tzinfo=UTC),
    datetime(2024, 3, 31, 1, 30, 0, 1, tzinfo=UTC),  # Europe's spring-forward hour
    datetime(2024, 10, 27, 0, 30, 0, 500_000, tzinfo=UTC),  # ... and its fall-back hour
    END - timedelta(microseconds=1),
)


@dataclass(frozen=True)
class Customer:
    """What an order copies from its customer: the id, the tenant that scopes it, and the name."""

    customer_id: int
    tenant_id: str
    name: str

    @classmethod
    def from_row(cls, row: tuple) -> Customer:
        """Read a row of ``customer_rows``: it starts with customer_id, tenant_id, name."""
        return cls(*row[:3])


def pinned_or(index: int, pinned: Sequence[T], draw: Callable[[random.Random], T], rng: random.Random) -> T:
    """Pinned row ``index`` takes ``pinned[index]`` while there is one, a random draw afterwards."""
    return pinned[index] if index < len(pinned) else draw(rng)


def random_instant(rng: random.Random) -> datetime:
    """A UTC instant with microseconds, uniform over 2023-2025."""
    return START + timedelta(microseconds=rng.randrange(SPAN_MICROSECONDS))


def customer_count(orders: int) -> int:
    """About one customer per twenty orders, and never fewer than 50."""
    return max(50, orders // 20)


def customer_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    """Yield customer rows in catalog column order.

    Columns: customer_id, tenant_id, name, email, country, is_active, created_at.
    """
    pinned = min(count, PINNED_ROWS)
    for index in range(pinned):
        # The first five go to the five tenants in turn, so every tenant owns at least one hard name.
        name, country = HARD_CUSTOMERS[index]
        tenant = pinned_or(index, TENANTS, _random_tenant, rng)
        is_active = pinned_or(index, (True, False), _random_active, rng)
        created_at = pinned_or(index, PINNED_INSTANTS, random_instant, rng)
        yield _customer_row(index + 1, tenant, name, country, is_active, created_at)
    for customer_id in range(pinned + 1, count + 1):
        name, country = _random_customer(rng)
        tenant, is_active, created_at = _random_tenant(rng), _random_active(rng), random_instant(rng)
        yield _customer_row(customer_id, tenant, name, country, is_active, created_at)


def order_rows(count: int, rng: random.Random, directory: Sequence[Customer]) -> Iterator[tuple]:
    """Yield order rows in catalog column order; each copies its customer from ``directory``.

    Columns: order_id, tenant_id, customer_id, customer_name, status, amount, currency, quantity,
    discount_rate, is_paid, created_at, shipped_on, note.
    """
    pinned = min(count, PINNED_ROWS)
    # The pinned orders meet the pinned customers one by one, so every hard name is ordered.
    pinned_customers = directory[:PINNED_ROWS]
    for index in range(pinned):
        yield _order_row(
            index + 1,
            pinned_or(index, pinned_customers, lambda rng: rng.choice(directory), rng),
            pinned_or(index, STATUSES, _random_status, rng),
            pinned_or(index, PINNED_AMOUNTS, _random_amount, rng),
            pinned_or(index, CURRENCIES, _random_currency, rng),
            pinned_or(index, PINNED_QUANTITIES, _random_quantity, rng),
            pinned_or(index, PINNED_DISCOUNTS, _random_discount, rng),
            pinned_or(index, PINNED_INSTANTS, random_instant, rng),
            pinned_or(index, HARD_NOTES, _random_note, rng),
            rng,
        )
    for order_id in range(pinned + 1, count + 1):
        yield _order_row(
            order_id,
            rng.choice(directory),
            _random_status(rng),
            _random_amount(rng),
            _random_currency(rng),
            _random_quantity(rng),
            _random_discount(rng),
            random_instant(rng),
            _random_note(rng),
            rng,
        )


def _customer_row(
    customer_id: int, tenant: str, name: str, country: str, is_active: bool, created_at: datetime
) -> tuple:
    email = f"customer{customer_id}@{tenant}.example.com"
    return (customer_id, tenant, name, email, country, is_active, created_at)


def _order_row(
    order_id: int,
    customer: Customer,
    status: str,
    amount: Decimal,
    currency: str,
    quantity: int,
    discount_rate: float | None,
    created_at: datetime,
    note: str | None,
    rng: random.Random,
) -> tuple:
    """Copy the customer into the order and derive what follows from its status."""
    return (
        order_id,
        customer.tenant_id,
        customer.customer_id,
        customer.name,
        status,
        amount,
        currency,
        quantity,
        discount_rate,
        status in PAID_STATUSES,
        created_at,
        _shipped_on(status, created_at, rng),
        note,
    )


def _random_tenant(rng: random.Random) -> str:
    return rng.choices(TENANTS, cum_weights=TENANT_CUM_WEIGHTS)[0]


def _random_active(rng: random.Random) -> bool:
    return rng.random() < 0.85


def _random_customer(rng: random.Random) -> tuple[str, str]:
    """(name, country): mostly people and companies, now and then one of the hard names again."""
    roll = rng.random()
    if roll < 0.02:
        return rng.choice(HARD_CUSTOMERS)
    if roll < 0.25:
        return f"{rng.choice(LAST_NAMES)} {rng.choice(COMPANY_SUFFIXES)}", rng.choice(COUNTRIES)
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", rng.choice(COUNTRIES)


def _random_status(rng: random.Random) -> str:
    return rng.choices(STATUSES, cum_weights=STATUS_CUM_WEIGHTS)[0]


def _random_currency(rng: random.Random) -> str:
    return rng.choice(CURRENCIES)


def _random_quantity(rng: random.Random) -> int:
    """Mostly a handful, with a long tail up to the 500 the shop allows."""
    return min(500, 1 + int(rng.expovariate(1 / 6)))


def _random_amount(rng: random.Random) -> Decimal:
    """Whole cents, log-normal like real baskets; now and then the largest amount ever booked."""
    if rng.random() < 0.001:
        return Decimal("9999999.99")
    cents = min(999_999_999, int(rng.lognormvariate(8.5, 1.4)))
    return Decimal(cents).scaleb(-2)


def _random_discount(rng: random.Random) -> float | None:
    if rng.random() < 0.3:
        return None
    return round(rng.uniform(0, 0.3), 4)


def _shipped_on(status: str, created_at: datetime, rng: random.Random) -> date | None:
    """Only shipped orders, and most refunded ones, have left the warehouse."""
    if status == "shipped" or (status == "refunded" and rng.random() < 0.7):
        return created_at.date() + timedelta(days=rng.randint(0, 14))
    return None


def _random_note(rng: random.Random) -> str | None:
    """Mostly NULL or ordinary text, sometimes '' (not NULL), sometimes one of the hard notes."""
    roll = rng.random()
    if roll < 0.45:
        return None
    if roll < 0.55:
        return ""
    if roll < 0.62:
        return rng.choice(HARD_NOTES[2:])
    return rng.choice(ORDINARY_NOTES)

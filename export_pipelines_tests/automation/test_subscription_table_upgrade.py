"""A subscriptions table made before ``skip_if_empty`` existed: it still loads, ``subscriptions init`` adds the
column (the rows keep sending, empty or not), and a tick of a subscription that skips empty exports says so."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from export_pipelines.automation.subscription_schedules import run_request_for_tick
from export_pipelines.automation.subscription_table import SubscriptionError, SubscriptionTable, export_subscriptions
from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.cli import main
from export_pipelines.request.model import TAG_SKIP_IF_EMPTY

NIGHTLY = {"name": "nightly", "owner": "analyst", "request": {"dataset": "orders"}, "cron": "0 2 * * *"}


@pytest.fixture(params=["sqlite", "postgresql"])
def old_table(request, tmp_path, monkeypatch) -> SubscriptionTable:
    """The table as ``subscriptions init`` made it before skip_if_empty, with one row."""
    url = f"sqlite:///{tmp_path / 'source.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_database")("subscriptions_upgrade")  # fmt: skip
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    columns = [column._copy() for column in export_subscriptions.c if column.name != "skip_if_empty"]
    before = sa.Table("export_subscriptions", sa.MetaData(), *columns)
    table = SubscriptionTable(url)
    before.metadata.create_all(table.engine)
    with table.engine.begin() as connection:
        connection.execute(before.insert().values(**NIGHTLY))
    return table


def test_an_older_table_loads_refuses_the_new_field_until_init_adds_its_column(old_table, capsys):
    stored, bad = old_table.load()
    with pytest.raises(SubscriptionError, match="skip_if_empty.*subscriptions init"):
        old_table.update("nightly", {"skip_if_empty": True})
    old_table.update("nightly", {"cron": "0 3 * * *"})  # the other fields still change

    assert main(["subscriptions", "init"]) == 0
    assert "added the column(s) skip_if_empty" in capsys.readouterr().out
    upgraded, _ = old_table.load()
    old_table.update("nightly", {"skip_if_empty": True})

    assert bad == [] and [(s.subscription.name, s.subscription.skip_if_empty) for s in stored] == [("nightly", False)]
    assert upgraded[0].subscription.skip_if_empty is False and upgraded[0].subscription.cron == "0 3 * * *"
    assert old_table.load()[0][0].subscription.skip_if_empty is True
    assert main(["subscriptions", "init"]) == 0 and "nothing changed" in capsys.readouterr().out


def test_a_tick_of_a_subscription_that_skips_empty_exports_carries_the_tag():
    tick = datetime(2026, 3, 2, 2, tzinfo=UTC)
    skipping = run_request_for_tick(Subscription(**NIGHTLY, skip_if_empty=True), tick, None)
    sending = run_request_for_tick(Subscription(**NIGHTLY), tick, None)

    assert skipping.tags[TAG_SKIP_IF_EMPTY] == "true" and TAG_SKIP_IF_EMPTY not in sending.tags

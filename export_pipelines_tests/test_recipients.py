"""Recipients are parsed, one plain address each, in an allowed domain, and capped in number.

Checked through ``plan_export`` against a real seeded SQLite source, because that is the gate every
launch path goes through; the allow-list and the cap are read from the environment at that moment.
"""

from __future__ import annotations

import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError, SettingsError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import plan_export
from export_pipelines.source.engine import source_connection

CATALOG = load_catalog()


def plan(url: str, recipients: list[str]):
    request = ExportRequest(user="admin", dataset="orders", recipients=recipients)
    with source_connection(url) as connection:
        return plan_export(request, CATALOG, connection, 1_000_000)


def refusal(url: str, recipients: list[str]) -> ExportRequestError:
    with pytest.raises(ExportRequestError) as refused:
        plan(url, recipients)
    return refused.value


NOT_ONE_PLAIN_ADDRESS = [
    "a@x.com,evil@y.com",
    "a@x.com;evil@y.com",
    "a@x.com evil@y.com",
    "Evil <a@x.com>",
    '"Ana" <a@x.com>',
    "<a@x.com>",
    "a@x.com (comment)",
    "group: a@x.com;",
    "undisclosed:;",
    "a@x.com\r\nBcc: evil@y.com",
    "a@x.com\n",
    " a@x.com",
    '"a,b"@x.com',
    "a@[10.0.0.1]",
    "a@-x.com",
    "a@x..com",
    "a.@x.com",
    "@x.com",
    "a@",
    "a@@x.com",
    "ä@x.com",
    "a@x.com\x00",
    "not an email",
]


@pytest.mark.parametrize("text", NOT_ONE_PLAIN_ADDRESS)
def test_anything_but_one_plain_address_is_refused_naming_its_index(sqlite_url, text):
    error = refusal(sqlite_url, ["ops@example.com", text])

    assert error.field == "recipients[1]"
    assert str(error).startswith("recipients[1]: ")
    assert "one plain address" in error.allowed


def test_plain_addresses_pass_unchanged(sqlite_url):
    recipients = ["ops@example.com", "Ana.Lopez+exports@eu.example.co.uk", "x_y-z@xn--bcher-kva.example"]

    assert plan(sqlite_url, recipients).request.recipients == recipients


def test_domain_allow_list_is_read_when_validating(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_RECIPIENT_DOMAINS", "example.com, .corp.example")

    plan(sqlite_url, ["ops@example.com", "OPS@EXAMPLE.COM", "a@eu.corp.example", "a@b.eu.corp.example"])
    for outside in ("a@corp.example", "a@evil.com", "a@notexample.com", "a@sub.example.com", "a@example.com.evil"):
        error = refusal(sqlite_url, ["ops@example.com", outside])
        assert error.field == "recipients[1]"
        assert "may not receive exports" in error.problem
        assert error.allowed == "addresses in example.com, any subdomain of corp.example"


def test_no_allow_list_means_any_domain(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_RECIPIENT_DOMAINS", "")

    plan(sqlite_url, ["a@anywhere.test"])


def test_a_bad_allow_list_names_the_variable(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_RECIPIENT_DOMAINS", "example.com,@evil")

    with pytest.raises(SettingsError, match="EXPORT_RECIPIENT_DOMAINS: '@evil' is not a domain"):
        plan(sqlite_url, ["a@example.com"])


def test_recipients_are_capped_at_20_by_default(sqlite_url, monkeypatch):
    monkeypatch.delenv("EXPORT_MAX_RECIPIENTS", raising=False)
    plan(sqlite_url, [f"u{i}@example.com" for i in range(20)])

    error = refusal(sqlite_url, [f"u{i}@example.com" for i in range(21)])

    assert error.field == "recipients"
    assert "21 recipients is over the limit of 20" in str(error)
    assert "EXPORT_MAX_RECIPIENTS" in error.allowed


def test_the_cap_is_read_from_the_environment_when_validating(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_RECIPIENTS", "2")

    assert refusal(sqlite_url, ["a@example.com", "b@example.com", "c@example.com"]).field == "recipients"
    monkeypatch.setenv("EXPORT_MAX_RECIPIENTS", "none")
    with pytest.raises(SettingsError, match="EXPORT_MAX_RECIPIENTS='none' must be a whole number"):
        plan(sqlite_url, ["a@example.com"])

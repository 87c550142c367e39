"""export_job end to end, on SQLite and PostgreSQL: the file's content is compared with the source."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.delivery.links import verify_link
from export_pipelines.run.resources import ExportStorageResource

ORDERS = load_catalog().dataset("orders")


def _csv_text(value, column) -> str:
    if value is None:
        return ""
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "decimal":
        return str(Decimal(value).quantize(Decimal(10) ** -column.scale))
    return str(value)


def test_csv_of_every_row_matches_the_source(run, source_rows):
    # The formula guard (on by default) changes text on purpose; it has tests of its own.
    record, location = run(
        user="admin", dataset="orders", format="csv", chunk_size=400, format_options={"formula_guard": False}
    )

    assert record.status == "SUCCESS", record.error
    with open(location, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == [c.label for c in ORDERS.columns.values()]
    body = table[1:]
    assert len(body) == len(source_rows["rows"]) == record.rows
    for line, row in zip(body, source_rows["rows"]):
        values = dict(zip(ORDERS.column_names, line))
        assert datetime.fromisoformat(values.pop("created_at")) == row["created_at"]
        if values["discount_rate"]:
            assert float(values.pop("discount_rate")) == row["discount_rate"]
        for name, text in values.items():
            if name != "discount_rate":
                assert text == _csv_text(row[name], ORDERS.columns[name]), (name, row["order_id"])
    assert record.skipped_rows == 0
    assert record.sha256 and record.bytes == Path(location).stat().st_size


def test_csv_keeps_null_apart_from_the_empty_string(run, source_rows):
    record, location = run(user="admin", dataset="orders", columns=["order_id", "note"])

    lines = Path(location).read_text(encoding="utf-8").splitlines()[1:]
    notes = {row["order_id"]: row["note"] for row in source_rows["rows"]}
    empty = next(key for key, note in notes.items() if note == "")
    missing = next(key for key, note in notes.items() if note is None)
    assert f'{empty},""' in lines
    assert f"{missing}," in lines


def test_json_with_filters_sort_columns_and_time_zone(run, source_rows):
    record, location = run(
        user="admin",
        dataset="orders",
        format="json",
        columns=["created_at", "order_id", "amount", "note", "status"],
        filters=[
            {"column": "status", "op": "in", "value": ["paid", "shipped"]},
            {"column": "amount", "op": "ge", "value": "100.00"},
        ],
        sort="created_at:desc",
        timezone="Europe/Berlin",
        chunk_size=97,
    )

    assert record.status == "SUCCESS", record.error
    exported = json.loads(Path(location).read_text(encoding="utf-8"))
    expected = sorted(
        (r for r in source_rows["rows"] if r["status"] in ("paid", "shipped") and r["amount"] >= Decimal("100")),
        key=lambda r: (r["created_at"], -r["order_id"]),
        reverse=True,
    )
    assert [item["order_id"] for item in exported] == [r["order_id"] for r in expected]
    assert list(exported[0]) == ["created_at", "order_id", "amount", "note", "status"]
    berlin = ZoneInfo("Europe/Berlin")
    for item, row in zip(exported, expected):
        moment = datetime.fromisoformat(item["created_at"])
        assert moment == row["created_at"]
        assert moment.utcoffset() == row["created_at"].astimezone(berlin).utcoffset()
        assert item["amount"] == str(row["amount"])
        assert item["note"] == row["note"]  # None stays null, "" stays ""


def test_partial_export_is_counted_and_reported(run, source_rows):
    record, location = run(user="analyst", dataset="orders", format="jsonl", columns=["order_id", "tenant_id"])

    granted = source_rows["analyst_tenants"]
    exported = [json.loads(line) for line in Path(location).read_text(encoding="utf-8").splitlines()]
    assert {item["tenant_id"] for item in exported} <= granted
    assert len(exported) == sum(r["tenant_id"] in granted for r in source_rows["rows"])
    assert record.skipped_rows == sum(r["tenant_id"] not in granted for r in source_rows["rows"]) > 0


def test_many_chunks_give_the_same_file_as_one(run):
    _, one = run(user="admin", dataset="orders", format="jsonl", chunk_size=100_000)
    _, many = run(user="admin", dataset="orders", format="jsonl", chunk_size=111)

    assert Path(one).read_bytes() == Path(many).read_bytes()


def test_no_matching_rows_still_gives_a_valid_file(run):
    record, location = run(
        user="admin", dataset="orders", format="json", filters=[{"column": "order_id", "op": "lt", "value": 0}]
    )

    assert record.status == "SUCCESS" and record.rows == 0
    assert json.loads(Path(location).read_text()) == []


def test_bad_request_fails_in_validate_and_leaves_history_but_no_file(run, export_env):
    record, location = run(user="admin", dataset="orders", columns=["order_id", "price"])

    assert record.status == "FAILURE" and location is None
    assert "columns[1]" in record.error and "amount" in record.error
    assert not list((export_env / "exports").rglob("*.*")) if (export_env / "exports").exists() else True


def test_user_without_grant_is_refused(run):
    record, _ = run(user="auditor", dataset="orders")

    assert record.status == "FAILURE"
    assert "PermissionDenied" in record.error and "auditor" in record.error


def test_gzip_compressed_csv_round_trips(run):
    import gzip

    _, plain = run(user="admin", dataset="orders", format="csv")
    record, packed = run(user="admin", dataset="orders", format="csv", compression="gzip")

    assert packed.endswith(".csv.gz")
    assert gzip.decompress(Path(packed).read_bytes()) == Path(plain).read_bytes()
    assert record.bytes < Path(plain).stat().st_size


def test_staging_is_gone_after_success(run, export_env):
    record, _ = run(user="admin", dataset="orders", chunk_size=500)

    staging = export_env / "exports" / "_staging"
    assert record.status == "SUCCESS"
    assert not staging.exists() or not any(staging.rglob("*"))


def test_notification_email_arrives_at_a_real_smtp_server(run, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("EXPORT_PUBLIC_URL", "https://exports.example.com/")
    monkeypatch.setenv("EXPORT_LINK_TTL", "3d")

    record, location = run(user="analyst", dataset="orders", recipients=["ana@example.com"], title="Orders – Q4 Ü")

    assert record.status == "SUCCESS", record.error
    (message,) = smtp_server.messages
    assert message["To"] == "ana@example.com"
    assert "Orders – Q4 Ü" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert record.sha256 in text
    # The download page, never where the file is stored.
    [url] = set(re.findall(r"https://exports\.example\.com/d/[\w.-]+", text + html))
    storage, key = ExportStorageResource(), record.file_key
    for where in (storage.get().location(key), storage.backend().location(key), key):
        assert where not in text and where not in html
    claims = verify_link(url.rpartition("/")[2], datetime.now(UTC))
    assert (claims.run_id, claims.file_key, claims.owner) == (record.run_id, record.file_key, "analyst")
    assert timedelta(days=3) - timedelta(minutes=5) < claims.expires_at - datetime.now(UTC) <= timedelta(days=3)
    assert claims.expires_at <= datetime.fromisoformat(record.expires_at)
    assert f"Link expires: {claims.expires_at:%Y-%m-%d %H:%M} UTC" in " ".join(text.split())
    assert record.skipped_rows > 0 and "withheld" in text
    # Never the exact count (see test_withheld_rows) as a number of its own: the file name's time (…T185856Z), the
    # checksum or the link may hold its digits.
    assert f"{record.skipped_rows:,}" not in re.findall(r"(?<![\w,])\d(?:[\d,]*\d)?(?!\w)", text)


def test_a_small_export_arrives_attached_byte_for_byte(run, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))

    record, location = run(user="admin", dataset="orders", recipients=["ana@example.com"], format="csv")

    assert record.status == "SUCCESS", record.error
    (message,) = smtp_server.messages
    [part] = message.iter_attachments()
    assert part.get_content_type() == "text/csv" and part.get_filename() == Path(record.file_key).name
    assert part.get_payload(decode=True) == Path(location).read_bytes()
    assert "The file is attached to this email" in " ".join(message.get_body(("plain",)).get_content().split())


def test_a_file_over_the_attachment_limit_is_neither_attached_nor_mentioned(run, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("EXPORT_EMAIL_ATTACH_MAX_BYTES", "4096")

    record, location = run(user="admin", dataset="orders", recipients=["ana@example.com"], format="csv")

    assert record.status == "SUCCESS", record.error
    assert Path(location).stat().st_size > 4096
    (message,) = smtp_server.messages
    assert list(message.iter_attachments()) == []
    assert "attach" not in smtp_server.envelopes[0].content.decode("ascii").lower()

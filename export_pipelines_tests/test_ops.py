"""Ops invoked directly with build_op_context: each step's contract without running a whole job."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest
from dagster import DagsterInstance, Failure, build_hook_context, build_op_context

from export_pipelines.demo.seed import seed_demo
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.plan import published_key, staging_prefix
from export_pipelines.run.hooks import remove_staging_on_failure
from export_pipelines.run.ops.collect import collect_chunks
from export_pipelines.run.ops.render import render_file
from export_pipelines.run.ops.transform import transform_chunk
from export_pipelines.run.ops.validate import validate_request
from export_pipelines.run.resources import (
    CatalogResource,
    ExportLimitsResource,
    ExportStorageResource,
    SourceDatabaseResource,
)
from export_pipelines.run.staging import read_chunk, write_chunk


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ops') / 'demo.sqlite'}"
    seed_demo(url, rows=700)
    return url


# Resources are the deployment's: they read the environment, never a field a caller sets.
@pytest.fixture
def source(seeded_url, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", seeded_url)
    return SourceDatabaseResource()


@pytest.fixture
def storage(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_STORAGE_URL", str(tmp_path / "exports"))
    return ExportStorageResource()


def _context(source, storage):
    resources = {
        "source": source,
        "storage": storage,
        "catalog": CatalogResource(),
        "limits": ExportLimitsResource(),
    }
    return build_op_context(resources=resources, instance=DagsterInstance.ephemeral())


def test_validate_returns_a_plan_with_counts(source, storage):
    request = ExportRequest(user="analyst", dataset="orders", filters=[{"column": "amount", "op": "gt", "value": 50}])

    plan = validate_request(_context(source, storage), config=request)

    assert plan.visible_rows + plan.skipped_rows == plan.matching_rows
    assert plan.skipped_rows > 0 and plan.query.tenants == frozenset({"acme", "globex"})


def test_validate_failure_is_not_retried(source, storage):
    request = ExportRequest(user="admin", dataset="orders", columns=["order_id", "price"])

    with pytest.raises(Failure) as failure:
        validate_request(_context(source, storage), config=request)

    assert failure.value.allow_retries is False
    assert "columns[1]" in failure.value.description and "amount" in failure.value.description


def test_row_cap_refuses_large_exports(source, storage, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_ROWS", "100")
    with pytest.raises(Failure, match="over the limit of 100"):
        validate_request(_context(source, storage), config=ExportRequest(user="admin", dataset="orders"))


def test_collect_stages_keyset_chunks_covering_every_row_once(source, storage):
    context = _context(source, storage)
    request = ExportRequest(user="admin", dataset="orders", format="parquet", chunk_size=64)
    plan = validate_request(context, config=request)

    chunks = [output.value for output in collect_chunks(context, plan)]

    assert [c.index for c in chunks] == list(range(len(chunks))) and len(chunks) == -(-700 // 64)
    assert not any(c.encoded for c in chunks), "parquet does not encode chunks on their own"
    keys = [k for c in chunks for k in read_chunk(storage.get(), c.key).column("order_id").to_pylist()]
    assert keys == sorted(keys) and len(set(keys)) == 700


@pytest.mark.parametrize("format_name", ["csv", "json", "jsonl"])
def test_encoded_chunks_render_the_same_file_as_arrow_chunks(source, storage, format_name):
    """CSV and JSON chunks are encoded in collect; the file must not tell which path it took."""
    request = ExportRequest(user="admin", dataset="orders", format=format_name, chunk_size=64, timezone="Asia/Tokyo")
    plan = validate_request(_context(source, storage), config=request)
    encoded = [output.value for output in collect_chunks(_context(source, storage), plan)]
    assert all(c.encoded for c in encoded) and sum(c.rows for c in encoded) == 700
    passed = [transform_chunk(_context(source, storage), plan, c) for c in encoded]
    assert passed == encoded, "encoded chunks pass transform as they are"

    by_encoded_chunks = _rendered(source, storage, plan, encoded)
    arrow_plan = dataclasses.replace(plan, request=request.model_copy(update={"format": "parquet"}))
    raw = [output.value for output in collect_chunks(_context(source, storage), arrow_plan)]
    arrow_chunks = [transform_chunk(_context(source, storage), plan, chunk) for chunk in raw]
    assert not any(c.encoded for c in arrow_chunks)
    by_arrow_chunks = _rendered(source, storage, plan, arrow_chunks)

    assert by_encoded_chunks == by_arrow_chunks
    assert by_encoded_chunks.count(b"\n") >= 700


def _rendered(source, storage, plan, chunks) -> bytes:
    context = _context(source, storage)
    rendered = render_file(context, plan, chunks)
    # Encrypted bound to the key it will be published under, not to its staging key.
    with storage.get().open_read(rendered.key, bound_to=published_key(context.run_id, rendered.file_name)) as file:
        return file.read()


def test_transform_shapes_columns_order_and_time_zone(source, storage):
    context = _context(source, storage)
    request = ExportRequest(
        user="admin", dataset="orders", format="xlsx", columns=["created_at", "amount"], timezone="Asia/Tokyo"
    )
    plan = validate_request(context, config=request)
    (raw,) = [output.value for output in collect_chunks(context, plan)]

    shaped = transform_chunk(context, plan, raw)

    table = read_chunk(storage.get(), shaped.key)
    assert table.column_names == ["created_at", "amount"]
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="Asia/Tokyo")
    assert not storage.get().exists(raw.key)


def test_failure_hook_removes_the_runs_staging(storage, tmp_path):
    target = storage.get()
    write_chunk(target, f"{staging_prefix('run-1')}/raw/chunk-000000.arrow", pa.table({"a": [1]}))
    write_chunk(target, f"{staging_prefix('run-2')}/raw/chunk-000000.arrow", pa.table({"a": [1]}))

    remove_staging_on_failure(build_hook_context(resources={"storage": storage}, run_id="run-1"))

    assert not (tmp_path / "exports" / "_staging" / "run-1").exists()
    assert (tmp_path / "exports" / "_staging" / "run-2").exists()


def test_only_the_last_chunk_says_it_is_the_last(source, storage):
    request = ExportRequest(user="admin", dataset="orders", format="csv", chunk_size=200)
    plan = validate_request(_context(source, storage), config=request)

    chunks = [output.value for output in collect_chunks(_context(source, storage), plan)]

    assert [c.index for c in chunks] == [0, 1, 2, 3] and [c.last for c in chunks] == [False, False, False, True]


@pytest.mark.parametrize("missing", [1, 3])
def test_render_refuses_to_publish_a_file_missing_a_chunk(source, storage, missing):
    """As after a re-execution from failure that skipped a mapped transform_chunk step."""
    request = ExportRequest(user="admin", dataset="orders", format="parquet", chunk_size=200)
    plan = validate_request(_context(source, storage), config=request)
    raw = [output.value for output in collect_chunks(_context(source, storage), plan)]
    shaped = [transform_chunk(_context(source, storage), plan, chunk) for chunk in raw]
    assert shaped[-1].last, "transform keeps the mark"

    with pytest.raises(Failure, match="not every chunk") as refused:
        render_file(_context(source, storage), plan, [c for c in shaped if c.index != missing])

    assert refused.value.allow_retries is False


@pytest.mark.parametrize("format_name", ["csv", "parquet"])
def test_a_retried_step_finds_what_its_first_attempt_read(source, storage, format_name):
    """A retry (TRANSIENT_RETRY) may follow an attempt that did its work and then failed, say writing its
    events: transform and render must find their inputs again, and render must write the same file."""
    context = _context(source, storage)  # one run: every step's staging under the same run id
    # Tokyo time: Arrow chunks are reshaped by transform (its raw chunk removed), not passed on.
    request = ExportRequest(user="admin", dataset="orders", format=format_name, chunk_size=200, timezone="Asia/Tokyo")
    plan = validate_request(context, config=request)
    raw = [output.value for output in collect_chunks(context, plan)]

    shaped = [transform_chunk(context, plan, chunk) for chunk in raw]
    assert format_name == "csv" or all(c.key != r.key for c, r in zip(shaped, raw)), "reshaped, not passed on"
    assert [transform_chunk(context, plan, chunk) for chunk in raw] == shaped, "transform retried"

    first, second = render_file(context, plan, shaped), render_file(context, plan, shaped)  # render retried
    assert (second.rows, second.sha256) == (first.rows, first.sha256) and second.rows == 700

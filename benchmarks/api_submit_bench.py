"""How long does the export API take to queue an export: from POST /api/v1/exports to its 202?

A demo SQLite source is seeded and the project's ``dagster.yaml`` (the submission gate, the queue) copied into a
temporary ``DAGSTER_HOME``; the download service with the API runs on uvicorn on a free loopback port, as
``export-pipelines serve`` runs it, with an application key (ES256) in ``EXPORT_APP_JWT_PUBLIC_KEY``. No daemon:
the runs stay queued, which is the point measured. After ``--warmup`` untimed submissions, ``--runs``
submissions (each a distinct small request, so the dedupe window keeps none back) are posted one at a time with
httpx over one kept-alive connection; each time is the client's, from sending the request to reading the 202,
which comes once the run is in the queue: the request checked, the run created, the gate's checks under the
user's admission lock, its receipt signed, RUN_ENQUEUED written. p50, p95 and max are printed.

``--storage postgres`` (the default) keeps the instance in a throw-away PostgreSQL database on
``--postgres-url``'s server, as a deployment does; ``--storage sqlite`` is the embedded default, where Dagster
creates a SQLite event-log database for every new run (its tables and an alembic stamp: most of a second).

    .venv/bin/python benchmarks/api_submit_bench.py [--storage postgres|sqlite] [--runs 50] [--warmup 5]

``--estimate-rows N`` also seeds N orders into a throw-away PostgreSQL source and times ``POST
/api/v1/exports/estimate`` for them (``--runs`` times, analyst with a filter, whose grants withhold rows), each
in turn with the New export form's estimate of the same filters (``POST /exports/new/estimate``, signed in by
the development sign-in): the form's is the API's plus reading the form and the user's choices.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def main(arguments) -> dict:
    import httpx
    import jwt

    queue = {"EXPORT_MAX_QUEUED_PER_USER": str(arguments.runs + arguments.warmup + 1)}
    _, key, database = throwaway_deployment(arguments.storage, arguments.postgres_url, "api-submit-bench-", queue)
    from export_pipelines.demo.seed import seed_demo

    source = _postgres(arguments.postgres_url) if arguments.estimate_rows else None
    if source:
        os.environ["EXPORT_SOURCE_DB_URL"] = source
    seed_demo(os.environ["EXPORT_SOURCE_DB_URL"], rows=arguments.estimate_rows or 1_000)
    server, url = _serve()
    token = jwt.encode({"sub": "analyst", "aud": "export-pipelines", "exp": int(time.time()) + 3600}, key, "ES256")
    times = []
    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
        for n in range(arguments.warmup + arguments.runs):
            body = {"dataset": "orders", "format": "csv", "columns": ["order_id", "amount"], "title": f"bench {n}"}
            started = time.perf_counter()
            answer = api.post("/exports", json=body)
            elapsed = time.perf_counter() - started
            if answer.status_code != 202 or answer.json()["status"] != "queued":
                raise RuntimeError(f"submission {n} answered {answer.status_code}: {answer.text}")
            if n >= arguments.warmup:
                times.append(elapsed * 1000)
        if source:
            page = _signed_in_page(url)
            try:
                estimates, page_estimates = _estimates(api, page, arguments.runs)
            finally:
                page.close()
        else:
            estimates, page_estimates = [], []
    server.should_exit = True
    if source:
        _drop(arguments.postgres_url, source)
    if database:
        _drop(arguments.postgres_url, database)
    times.sort()
    figures = {"storage": arguments.storage, "runs": len(times), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1), "max_ms": round(times[-1], 1)}  # fmt: skip
    if estimates:
        api_p50, page_p50 = statistics.median(estimates), statistics.median(page_estimates)
        figures.update(estimate_rows=arguments.estimate_rows, estimate_p50_ms=round(api_p50, 1),
                       estimate_max_ms=round(max(estimates), 1), page_estimate_p50_ms=round(page_p50, 1),
                       page_estimate_max_ms=round(max(page_estimates), 1),
                       page_to_api_ratio=round(page_p50 / api_p50, 2))  # fmt: skip
    return figures


def throwaway_deployment(storage: str, postgres_url: str, prefix: str, environ: dict | None = None):
    """(folder, application key, instance database or None): the project's dagster.yaml in a throw-away
    DAGSTER_HOME (its storage a throw-away PostgreSQL database for ``storage="postgres"``), an application key
    (ES256) whose public half is EXPORT_APP_JWT_PUBLIC_KEY, set in this process's environment with ``environ``."""
    import yaml
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / "home").mkdir()
    config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    database = _postgres(postgres_url) if storage == "postgres" else None
    if database:
        config["storage"] = {"postgres": {"postgres_url": database}}
    (root / "home" / "dagster.yaml").write_text(yaml.safe_dump(config))
    key = ec.generate_private_key(ec.SECP256R1())
    (root / "app.pem").write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    os.environ.update({"DAGSTER_HOME": str(root / "home"), "EXPORT_DATA_DIR": str(root / "var"),
                       "EXPORT_SOURCE_DB_URL": f"sqlite:///{root / 'source.sqlite'}",
                       "EXPORT_APP_JWT_PUBLIC_KEY": str(root / "app.pem"), **(environ or {})})  # fmt: skip
    return root, key, database


def _estimates(api, page, runs: int) -> tuple[list[float], list[float]]:
    """The API's estimate and the New export form's (its script's JSON to /exports/new/estimate), in turn."""
    body = {"dataset": "orders", "format": "csv", "where": "status in (paid, shipped) and amount > 10"}
    fields = {"dataset": ["orders"], "format": ["csv"], "filters[0].column": ["status"], "filters[0].op": ["in"],
              "filters[0].value": ["paid, shipped"], "filters[1].column": ["amount"], "filters[1].op": ["gt"],
              "filters[1].value": ["10"]}  # fmt: skip
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for client, path, sent, kept in ((api, "/exports/estimate", body, times[0]),
                                         (page, "/exports/new/estimate", fields, times[1])):  # fmt: skip
            started = time.perf_counter()
            answer = client.post(path, json=sent)
            kept.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text}")
    return times


def _signed_in_page(url: str):
    """A client of the pages, signed in as analyst by the development sign-in (the project's dagster.yaml trusts
    unsigned submissions), sending the form's CSRF secret as the page's script does. The session cookie is Secure,
    which httpx keeps for https only: it is sent by hand, as a browser sends it to loopback."""
    import re

    import httpx

    client = httpx.Client(base_url=url, timeout=60)
    secret = client.get("/signin").cookies["export_csrf"]
    signed = client.post("/signin/dev", data={"user": "analyst", "csrf_token": secret},
                         headers={"Cookie": f"export_csrf={secret}"})  # fmt: skip
    if signed.status_code != 303:
        raise RuntimeError(f"the development sign-in answered {signed.status_code}: {signed.text[:300]}")
    client.cookies.clear()
    client.headers["Cookie"] = f"export_session={signed.cookies['export_session']}"
    form = client.get("/exports/new").text
    client.headers["X-CSRF-Token"] = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
    return client


def _postgres(server_url: str) -> str:
    import uuid

    import sqlalchemy as sa

    url = sa.make_url(server_url)
    name = f"export_bench_{uuid.uuid4().hex[:10]}"
    with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    # dagster-postgres speaks psycopg2: its URL is a plain postgresql:// one.
    return url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)


def _drop(server_url: str, database: str) -> None:
    import sqlalchemy as sa

    name = sa.make_url(database).database
    with sa.create_engine(server_url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _serve():
    import socket
    import threading

    import uvicorn

    from export_pipelines.service.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--estimate-rows", type=int, default=0, help="also time estimates over this many orders")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    return parser.parse_args()


if __name__ == "__main__":
    import json

    figures = main(_arguments())
    print(f"API submission to queued ({figures['storage']}), {figures['runs']} runs: p50 {figures['p50_ms']} ms, "
          f"p95 {figures['p95_ms']} ms, max {figures['max_ms']} ms")  # fmt: skip
    if "estimate_rows" in figures:
        print(f"Estimate over {figures['estimate_rows']:,} orders, {figures['runs']} pairs: API p50 "
              f"{figures['estimate_p50_ms']} ms, New export form p50 {figures['page_estimate_p50_ms']} ms "
              f"(ratio {figures['page_to_api_ratio']})")  # fmt: skip
    print(json.dumps(figures))

"""How fast does the S3 backend upload a large file, and does its memory stay flat?

A ``moto_server`` on a free loopback port stands in for S3 (started here, stopped at the end). Each
measurement is a fresh process that builds the storage from ``s3://bucket`` and the environment, as
a deployment does, then streams a file generated on the fly (a random 1 MiB block, rotated by one
byte per MiB: never held whole) through ``open_write``, which hands it to s3transfer's multipart
upload. Another fresh process only imports the backend and builds its client: the idle figure.

    .venv/bin/python benchmarks/s3_bench.py                      # 1 GiB, 3 runs
    .venv/bin/python benchmarks/s3_bench.py --mib 256 --repeat 1  # a quick look

Figures: ``MB/s`` is file MiB over the time from the first byte written to the completed upload
(the object is visible at its key), median of the runs; ``cpu s`` the child's user + system time over
that span (writer, pipe, sha256, botocore, 2 cores shared with moto). ``peak MB`` is the child's
VmHWM; ``over idle MB`` that minus the idle process's VmHWM, ``over start MB`` minus the same
child's VmHWM just before the first byte. moto keeps everything in its own process: its memory is
not counted, and on a loopback it is also what bounds the speed, so read MB/s as a floor for the
backend's own cost, not as what S3 would give. Nothing is asserted.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from bench_support import peak_rss_mb, run_self, script_main  # noqa: E402

MIB = 1 << 20
DUMMY_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="uploads; the median is reported")
    parser.add_argument("--part-size-mb", type=int, help="EXPORT_S3_PART_SIZE_MB (the backend's default if unset)")
    parser.add_argument("--concurrency", type=int, help="EXPORT_S3_CONCURRENCY (the backend's default if unset)")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_moto() -> tuple[subprocess.Popen, str]:
    beside = Path(sys.executable).parent / "moto_server"
    binary = str(beside) if beside.exists() else shutil.which("moto_server")
    if binary is None:
        sys.exit("s3_bench: no moto_server next to Python or on PATH (pip install 'moto[server]')")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                sys.exit(f"s3_bench: moto_server did not start on port {port}")
            time.sleep(0.1)


def main(args: argparse.Namespace) -> dict:
    import boto3

    process, endpoint = start_moto()
    try:
        os.environ.update(DUMMY_ENV, EXPORT_S3_ENDPOINT_URL=endpoint)  # the children inherit it
        for name, value in (("EXPORT_S3_PART_SIZE_MB", args.part_size_mb), ("EXPORT_S3_CONCURRENCY", args.concurrency)):
            if value:
                os.environ[name] = str(value)
        client = boto3.session.Session().client("s3", endpoint_url=endpoint)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        results = {"mib": args.mib, "python": sys.version.split()[0], "idle": [], "runs": []}
        for attempt in range(args.repeat):
            results["idle"].append(run_self(__file__, "idle", f"s3://{bucket}"))
            run = run_self(__file__, "upload", f"s3://{bucket}", "bench/data.bin", str(args.mib))
            head = client.head_object(Bucket=bucket, Key="bench/data.bin")
            run["etag_parts"] = head["ETag"].strip('"').rpartition("-")[2]
            client.delete_object(Bucket=bucket, Key="bench/data.bin")  # moto keeps objects in memory
            results["runs"].append(run)
            idle_mb = results["idle"][-1]["peak_rss_mb"]
            log(f"run {attempt + 1}: {run['mib'] / run['seconds']:.0f} MiB/s, {run['seconds']:.1f} s, "
                f"peak {run['peak_rss_mb']:.0f} MB (start {run['rss_before_mb']:.0f}, idle {idle_mb:.0f}), "
                f"{run['etag_parts']} parts, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        results["settings"] = run["settings"]
        return results
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(results: dict) -> None:
    runs, idle = results["runs"], statistics.median(r["peak_rss_mb"] for r in results["idle"])
    seconds = [r["seconds"] for r in runs]
    median = statistics.median(seconds)
    settings = results["settings"]
    print(f"\nS3 backend upload to a loopback moto_server, {results['mib']:,} MiB generated on the fly, "
          f"{settings['part_mib']} MiB parts, {settings['concurrency']} in flight, median of {len(runs)}, "
          f"Python {results['python']}, {os.cpu_count()} CPUs\n")  # fmt: skip
    print(f"{'MiB':>6}{'median s':>10}{'min-max s':>14}{'MiB/s':>8}{'cpu s':>8}{'parts':>7}"
          f"{'peak MB':>9}{'idle MB':>9}{'over idle MB':>14}{'over start MB':>15}")  # fmt: skip
    print(f"{results['mib']:>6,}{median:>10.2f}{min(seconds):>7.2f}-{max(seconds):<6.2f}"
          f"{results['mib'] / median:>8.0f}{statistics.median(r['cpu_seconds'] for r in runs):>8.2f}"
          f"{runs[-1]['etag_parts']:>7}{max(r['peak_rss_mb'] for r in runs):>9.0f}{idle:>9.0f}"
          f"{max(r['peak_rss_mb'] for r in runs) - idle:>14.0f}"
          f"{max(r['peak_rss_mb'] - r['rss_before_mb'] for r in runs):>15.0f}")  # fmt: skip


# ---- children ----------------------------------------------------------------------------------


def idle(url: str) -> dict:
    """Imports and client only: what a process that never uploads holds."""
    from export_pipelines.storage import storage_from_url

    storage_from_url(url).client  # noqa: B018 - builds the client
    return {"peak_rss_mb": peak_rss_mb()}


def upload(url: str, key: str, mib: str) -> dict:
    import hashlib

    from export_pipelines.storage import storage_from_url

    storage = storage_from_url(url)
    storage.client  # noqa: B018 - the client is built before the baseline
    block = os.urandom(MIB)
    rss_before = peak_rss_mb()
    cpu_before, started = os.times(), time.perf_counter()
    with storage.open_write(key) as target:
        for index in range(int(mib)):
            target.write(block[index % MIB :] + block[: index % MIB])
    seconds = time.perf_counter() - started
    cpu_after = os.times()
    assert target.result.bytes == int(mib) * MIB and len(target.result.sha256) == len(hashlib.sha256().hexdigest())
    return {
        "mib": int(mib),
        "seconds": seconds,
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "startup_seconds": started - STARTED,
        "settings": {"part_mib": storage.settings.part_size // MIB, "concurrency": storage.settings.concurrency},
    }


if __name__ == "__main__":
    script_main({"idle": idle, "upload": upload}, parse_args, main, report)

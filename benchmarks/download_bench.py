"""How fast does the download service stream a large encrypted export to a plain HTTP client?

A fresh data folder and Dagster home; a real export run (200 seeded orders), whose published file is
then replaced by 1 GiB written through EncryptedStorage at the same key (a random 1 MiB block, rotated
by one byte per MiB: never held whole). ``export-pipelines serve`` runs it on a free loopback port as
its own process, exactly as deployed; this process fetches the run's link with ``requests``
(``stream=True``, 4 MiB chunks), once untimed with a sha256 check, then ``--repeat`` timed runs.

    .venv/bin/python benchmarks/download_bench.py                      # 1 GiB, 3 runs
    .venv/bin/python benchmarks/download_bench.py --mib 256 --repeat 1  # a quick look

Figures: ``MB/s`` is file MB (10^6 bytes) over the time from sending the request to the last byte,
median of the runs; ``MiB/s`` the same in MiB. ``server cpu s`` is the service process's user + system
time over the timed runs (decryption, the ASGI send path), ``client cpu s`` this process's. Both
processes share the machine's cores. Nothing is asserted.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bench_support import script_main  # noqa: E402

MIB = 1 << 20
CLI = str(Path(sys.executable).with_name("export-pipelines"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="timed downloads; the median is reported")
    parser.add_argument("--chunk-mib", type=int, default=4, help="the client's iter_content chunk size")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(root: Path, mib: int) -> tuple[dict, str, str]:
    """A real export whose file is then replaced by ``mib`` MiB; return (env, run id, sha256)."""
    env = {**os.environ, "EXPORT_DATA_DIR": str(root / "var"), "DAGSTER_HOME": str(root / "home")}
    for name in ("EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_DOWNLOAD_REQUIRE_LOGIN"):
        env.pop(name, None)
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for command in (["seed-demo", "--rows", "200"], ["export", "--user", "admin", "--dataset", "orders", "--json"]):
        done = subprocess.run([CLI, *command], env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"download_bench: {' '.join(command)} failed: {done.stderr[-2000:]}")
    import json

    run_id = json.loads(done.stdout)["run_id"]
    os.environ.update(env)
    from export_pipelines.automation.launch import local_instance
    from export_pipelines.observability.audit import audit_record_for_run
    from export_pipelines.run.resources import ExportStorageResource

    file_key = audit_record_for_run(local_instance(), run_id).file_key
    block = os.urandom(MIB)
    started = time.perf_counter()
    with ExportStorageResource().get().open_write(file_key) as target:
        for index in range(mib):
            target.write(block[index % MIB :] + block[: index % MIB])
    log(f"wrote {mib:,} MiB through EncryptedStorage at {file_key} in {time.perf_counter() - started:.1f} s")
    return env, run_id, target.result.sha256


def start_service(env: dict) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                sys.exit(f"download_bench: the service did not start on port {port}")
            time.sleep(0.1)


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def download(url: str, chunk: int, check: bool) -> dict:
    import requests

    digest = hashlib.sha256() if check else None
    received = 0
    started = time.perf_counter()
    with requests.get(url, stream=True, timeout=120) as response:
        response.raise_for_status()
        for block in response.iter_content(chunk):
            received += len(block)
            if digest:
                digest.update(block)
    seconds = time.perf_counter() - started
    return {"bytes": received, "seconds": seconds, "sha256": digest.hexdigest() if digest else None,
            "etag": response.headers["etag"]}  # fmt: skip


def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="download-bench-") as folder:
        env, run_id, sha256 = prepare(Path(folder), args.mib)
        link = subprocess.run([CLI, "link", run_id], env=env, capture_output=True, text=True, check=True).stdout
        process, base = start_service(env)
        try:
            url = base + "/d/" + link.split()[0].rsplit("/", 1)[1] + "/file"
            check = download(url, args.chunk_mib * MIB, check=True)
            if check["sha256"] != sha256 or check["bytes"] != args.mib * MIB:
                sys.exit(f"download_bench: downloaded {check['bytes']:,} bytes, sha256 {check['sha256']}: not the file")
            log(f"verified: {check['bytes']:,} bytes, sha256 matches ({check['seconds']:.1f} s with hashing)")
            runs = []
            for attempt in range(args.repeat):
                server_before, client_before = process_cpu(process.pid), os.times()
                run = download(url, args.chunk_mib * MIB, check=False)
                client_after = os.times()
                run["server_cpu_seconds"] = process_cpu(process.pid) - server_before
                run["client_cpu_seconds"] = (client_after.user - client_before.user) + (
                    client_after.system - client_before.system
                )
                runs.append(run)
                log(f"run {attempt + 1}: {run['bytes'] / run['seconds'] / 1e6:.0f} MB/s, {run['seconds']:.2f} s, "
                    f"server cpu {run['server_cpu_seconds']:.2f} s, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"mib": args.mib, "chunk_mib": args.chunk_mib, "python": sys.version.split()[0], "runs": runs}


def report(results: dict) -> None:
    runs = results["runs"]
    seconds = [r["seconds"] for r in runs]
    median = statistics.median(seconds)
    size = results["mib"] * MIB
    print(f"\nDownload service (export-pipelines serve, uvicorn) to requests on loopback, {results['mib']:,} MiB "
          f"encrypted file, {results['chunk_mib']} MiB client chunks, median of {len(runs)}, "
          f"Python {results['python']}, {os.cpu_count()} CPUs\n")  # fmt: skip
    print(f"{'MiB':>6}{'median s':>10}{'min-max s':>14}{'MB/s':>8}{'MiB/s':>8}{'server cpu s':>14}{'client cpu s':>14}")
    print(f"{results['mib']:>6,}{median:>10.2f}{min(seconds):>7.2f}-{max(seconds):<6.2f}"
          f"{size / median / 1e6:>8.0f}{size / median / MIB:>8.0f}"
          f"{statistics.median(r['server_cpu_seconds'] for r in runs):>14.2f}"
          f"{statistics.median(r['client_cpu_seconds'] for r in runs):>14.2f}")  # fmt: skip


if __name__ == "__main__":
    script_main({}, parse_args, main, report)

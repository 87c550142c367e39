"""How long does a small export take through GraphQL, from submission to file ready and to a link?

A demo SQLite database of ``--rows`` orders is seeded in a temporary folder; the project's
``dagster.yaml`` is copied into a temporary ``DAGSTER_HOME``; then, for each ``--modes`` entry,
the services are started on a free loopback port: ``dev`` is ``dagster dev`` (one shared code
server), ``deploy`` is ``dagster-webserver`` and ``dagster-daemon run`` started separately, each with
its own code server, as a deployment runs them. Once the code location is loaded and ``--warmup``
untimed exports have gone through, ``--runs`` exports of every order (user ``admin``, CSV) are
submitted one at a time with ``DagsterGraphQLClient.submit_job_execution``, each after the last one
ended and a random pause of up to ``--pause`` seconds: without it each submission would come a run's
length after the previous launch, at the same point of the daemon's dequeue cycle every time. Each
is polled over GraphQL every ``--poll`` seconds until it ends, then its audit record is read with a
fresh download link, as ``examples/submit_export.py`` does.

Each run is split with the timestamps of its own event log (the submission time is the client's;
every process runs on this machine, so the clocks agree):

    submit    submission -> RUN_ENQUEUED      the GraphQL call: the gate admits it, the run is created
    queued    RUN_ENQUEUED -> RUN_STARTING    waiting for the daemon to dequeue and launch it
    starting  RUN_STARTING -> RUN_START       the run's own process starting, in two parts:
      process up     -> "Started process for run"   a spawned interpreter, import dagster, the instance
      code loaded    -> RUN_START                   import the code location, build the job and its plan
    running   RUN_START -> RUN_SUCCESS        the steps and Dagster's work around them
    noticed   RUN_SUCCESS -> link in hand     the client's poll seeing it, reading the record, the link

``file`` is submission -> ``upload_file``'s STEP_SUCCESS (the file is in storage); ``link`` is
submission -> link in hand, the sum of the five shares. p50 and p95 over the timed runs are printed.

    .venv/bin/python benchmarks/graphql_latency_bench.py                        # dev and deploy, 20 runs each
    .venv/bin/python benchmarks/graphql_latency_bench.py --modes dev --runs 5    # a quick look
    .venv/bin/python benchmarks/graphql_latency_bench.py --coordinator dequeue_interval_seconds=1
    .venv/bin/python benchmarks/graphql_latency_bench.py --modes dev --launcher spawn shipped --batches 2

See benchmarks/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "export_pipelines"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
# The engine event the run's process writes once it is up, before it loads the code location.
PROCESS_UP = "Started process for run"
SHARES = ("submit", "queued", "starting", "running", "noticed")
FIGURES = ("file", "link", *SHARES, "process_up", "code_loaded", "steps")
LABELS = {
    "file": "submission -> file ready", "link": "submission -> link",
    "submit": "  submit (GraphQL call, gate)", "queued": "  queued", "starting": "  starting the run process",
    "process_up": "    process up: python, dagster", "code_loaded": "    code location loaded, plan",
    "running": "  running", "steps": "    of which in steps", "noticed": "  noticed, record and link read",
}  # fmt: skip
# Settings from a developer's shell that would change what is measured: every one of these families.
CLEARED_PREFIXES = ("EXPORT_", "DAGSTER_", "SMTP_", "SENTRY_")
# How runs are launched, as changes to the copied dagster.yaml: its run_launcher and run_coordinator keys.
# shipped: as dagster.yaml is (warm launcher, launched at submission); spawn: a fresh process per run started
# by the code server, launched at the daemon's look (the shipped setting until 2026-12-07); warm: forked
# warm, at the daemon's look.
SPAWN = {"module": "export_pipelines.automation.running_limit", "class": "SlotCheckingRunLauncher"}
WARM = {"module": "export_pipelines.automation.warm_launcher", "class": "WarmRunLauncher"}
LAUNCHERS = {"shipped": (None, {}), "spawn": (SPAWN, {"launch_on_submission": False}),
             "warm": (WARM, {"launch_on_submission": False})}  # fmt: skip
READY_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus " \
              "locationOrLoadError { __typename ... on PythonError { message } } } } } }"  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed submissions per mode (default 20)")
    parser.add_argument("--rows", type=int, default=1_000, help="orders seeded, and exported by each run (1,000)")
    parser.add_argument("--modes", nargs="+", choices=("dev", "deploy"), default=["dev", "deploy"],
                        help="dev: dagster dev; deploy: dagster-webserver and dagster-daemon started separately")
    parser.add_argument("--warmup", type=int, default=1, help="untimed submissions first, per mode (default 1)")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between status polls (default 0.2)")
    parser.add_argument("--pause", type=float, default=5.0,
                        help="longest random pause before each submission, in seconds (default 5: Dagster's default "
                        "dequeue interval, so that submissions fall anywhere in the daemon's cycle)")
    parser.add_argument("--coordinator", action="append", default=[], metavar="KEY=VALUE",
                        help="override a run_coordinator config key of dagster.yaml for this run (repeatable), "
                        "e.g. dequeue_interval_seconds=1")
    parser.add_argument("--launcher", nargs="+", choices=sorted(LAUNCHERS), default=["shipped"],
                        help="shipped: as dagster.yaml says (warm launcher, launched at submission); spawn: a fresh "
                        "process per run from the code server, at the daemon's look; warm: forked warm, at the "
                        "daemon's look. Several: measured in turn, in --batches alternating batches")
    parser.add_argument("--batches", type=int, default=1,
                        help="split each launcher's --runs into this many batches, taken in turn with the other "
                        "launchers' (each batch on fresh services), so that both see the same machine")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one run may take before giving up")
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object instead")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (service logs, instance)")
    args = parser.parse_args(argv)
    if args.runs < 1 or not 1 <= args.batches <= args.runs:
        parser.error("--runs must be 1 or more, and --batches between 1 and --runs")
    try:
        args.overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.coordinator)}
    except yaml.YAMLError as error:
        parser.error(f"--coordinator: {error}")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, interpolated between the two nearest ranks (as numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the services ----------------------------------------------------------------------------

class Services:
    """The webserver and daemon of one mode, on a fresh instance in ``folder``; stopped by ``stop``."""

    def __init__(self, mode: str, folder: Path, source_url: str, overrides: dict, launcher: dict | None = None):
        self.mode, self.folder, self.port = mode, folder, free_port()
        home = folder / "dagster_home"
        home.mkdir(parents=True)
        config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
        config["run_coordinator"].setdefault("config", {}).update(overrides)
        if launcher:
            config["run_launcher"] = launcher
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        workspace = {"load_from": [{"python_module": {"module_name": "export_pipelines.definitions",
                                                      "location_name": LOCATION}}]}  # fmt: skip
        (folder / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
        self.env.update(DAGSTER_HOME=str(home), EXPORT_SOURCE_DB_URL=source_url, EXPORT_DATA_DIR=str(folder / "var"),
                        DAGSTER_DISABLE_TELEMETRY="1")  # fmt: skip
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        from dagster import DagsterInstance

        # The instance's storage is created first, as a deployment migrates it before starting anything:
        # a webserver and a daemon creating the same fresh SQLite storage at once can both stamp its schema.
        with DagsterInstance.from_config(self.env["DAGSTER_HOME"]):
            pass
        workspace, address = ["-w", str(self.folder / "workspace.yaml")], ["-h", "127.0.0.1", "-p", str(self.port)]
        if self.mode == "dev":
            commands = {"dev": [str(BIN / "dagster"), "dev", *workspace, *address]}
        else:
            commands = {"webserver": [str(BIN / "dagster-webserver"), *workspace, *address],
                        "daemon": [str(BIN / "dagster-daemon"), "run", *workspace]}  # fmt: skip
        for name, command in commands.items():
            with open(self.folder / f"{name}.log", "wb") as output:
                self.processes.append(subprocess.Popen(command, cwd=self.folder, env=self.env, stdout=output,
                                                       stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip

    def wait_until_loaded(self, seconds: float = 240) -> float:
        """Seconds until the webserver answers with the code location loaded."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if any(process.poll() is not None for process in self.processes):
                raise RuntimeError(f"a {self.mode} service exited during start-up; see the logs in {self.folder}")
            try:
                entries = self.graphql(READY_QUERY)["workspaceOrError"]["locationEntries"]
            except OSError:
                entries = []
            for entry in entries:
                error = entry.get("locationOrLoadError") or {}
                if error.get("__typename") == "PythonError":
                    raise RuntimeError(f"the code location failed to load: {error.get('message')}")
                if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED" and error:
                    return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"{self.mode}: the code location was not loaded within {seconds:.0f} s")

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql", json.dumps({"query": query}).encode(),
                                         {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# ---- one submission --------------------------------------------------------------------------

def submit_and_time(client, instance, request, poll: float, timeout: float) -> dict:
    """Submit ``request``, wait for its run to end, read its link; the figures of ``FIGURES`` and more."""
    from dagster import DagsterEventType as Event

    from export_pipelines.delivery.links import record_with_link
    from export_pipelines.observability.audit import audit_record_for_run

    submitted = time.time()
    run_id = client.submit_job_execution("export_job", repository_location_name=LOCATION,
                                         repository_name="__repository__", run_config=request.run_config())  # fmt: skip
    returned = time.time()
    while (status := client.get_run_status(run_id).value) not in FINISHED:
        if time.time() - submitted > timeout:
            raise TimeoutError(f"run {run_id} is still {status} after {timeout:.0f} s")
        time.sleep(poll)
    # What the requester is given: rows, file, a fresh link.
    record = record_with_link(instance, audit_record_for_run(instance, run_id))
    linked = time.time()
    if status != "SUCCESS" or not record.link:
        raise RuntimeError(f"run {run_id} ended {status}: {record.error or 'no link'}")
    at, steps = {}, 0.0
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == Event.STEP_SUCCESS:
            steps += event.event_specific_data.duration_ms / 1000
            at.setdefault(f"step:{event.step_key}", entry.timestamp)
        elif event.event_type == Event.ENGINE_EVENT and (event.message or "").startswith(PROCESS_UP):
            at.setdefault(PROCESS_UP, entry.timestamp)
        else:
            at.setdefault(event.event_type.value, entry.timestamp)
    enqueued, starting = at[Event.RUN_ENQUEUED.value], at[Event.RUN_STARTING.value]
    start, success = at[Event.RUN_START.value], at[Event.RUN_SUCCESS.value]
    process_up = at.get(PROCESS_UP, starting)
    return {
        "run_id": run_id, "rows": record.rows, "call": returned - submitted,
        "file": at["step:upload_file"] - submitted, "link": linked - submitted,
        "submit": enqueued - submitted, "queued": starting - enqueued, "starting": start - starting,
        "process_up": process_up - starting, "code_loaded": start - process_up,
        "running": success - start, "noticed": linked - success, "steps": steps,
    }  # fmt: skip


def measure_batch(mode: str, launcher_name: str, batch: int, runs_wanted: int, work: Path, source_url: str,
                  args) -> tuple[float, list[dict]]:
    """(seconds until the code location loaded, each timed run's figures) of one batch on fresh services."""
    from dagster import DagsterInstance
    from dagster_graphql import DagsterGraphQLClient

    from export_pipelines.request.model import ExportRequest

    launcher, coordinator = LAUNCHERS[launcher_name]
    services = Services(mode, work / f"{mode}-{launcher_name}-{batch}", source_url,
                        {**coordinator, **args.overrides}, launcher)  # fmt: skip
    # This process reads the same instance and data folder back (event log, audit record, link keys).
    saved = {name: os.environ.get(name) for name in ("DAGSTER_HOME", "EXPORT_DATA_DIR", "EXPORT_SOURCE_DB_URL")}
    os.environ.update({name: services.env[name] for name in saved})
    services.start()
    try:
        loaded = services.wait_until_loaded()
        log(f"{mode} {launcher_name}: code location loaded {loaded:.1f} s after start (port {services.port})")
        client = DagsterGraphQLClient("127.0.0.1", port_number=services.port)
        pause = random.Random(42)
        runs = []
        with DagsterInstance.get() as instance:
            for n in range(args.warmup + runs_wanted):
                time.sleep(pause.uniform(0, args.pause))
                load = os.getloadavg()[0]
                # A distinct title per run: the gate would cancel a repeat of the same export as a duplicate.
                title = f"latency {mode} {launcher_name} {batch} {n}"
                request = ExportRequest(user="admin", dataset="orders", format="csv", title=title)
                figures = submit_and_time(client, instance, request, args.poll, args.timeout)
                figures["load_before"] = load
                warm = n < args.warmup
                log(f"{mode} {launcher_name} {'warm-up' if warm else f'run {n - args.warmup + 1}/{runs_wanted}'}: "
                    + " ".join(f"{k} {figures[k]:.2f}" for k in FIGURES) + f" (load {load:.2f})")
                if figures["rows"] != args.rows:
                    raise RuntimeError(f"run {figures['run_id']} exported {figures['rows']} rows, not {args.rows}")
                if not warm:
                    runs.append(figures)
    finally:
        services.stop()
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    return loaded, runs


def measure_mode(mode: str, work: Path, source_url: str, args) -> list[dict]:
    """Every launcher of ``--launcher`` in ``--batches`` batches taken in turn (every other batch in reverse)."""
    runs = {name: [] for name in args.launcher}
    loaded = {name: [] for name in args.launcher}
    sizes = [args.runs // args.batches + (b < args.runs % args.batches) for b in range(args.batches)]
    for batch, size in enumerate(sizes):
        for name in args.launcher if batch % 2 == 0 else args.launcher[::-1]:
            seconds, batch_runs = measure_batch(mode, name, batch, size, work, source_url, args)
            loaded[name].append(seconds)
            runs[name] += batch_runs
    return [{"mode": mode, "launcher": name, "location_load_seconds": loaded[name], "runs": runs[name],
             "summary": {k: {"p50": percentile([r[k] for r in runs[name]], 50),
                             "p95": percentile([r[k] for r in runs[name]], 95),
                             "min": min(r[k] for r in runs[name]), "max": max(r[k] for r in runs[name])}
                         for k in FIGURES}}
            for name in args.launcher]  # fmt: skip


# ---- report ----------------------------------------------------------------------------------

def print_table(result: dict, args) -> None:
    runs = result["runs"]
    loads = [r["load_before"] for r in runs]
    print(f"\n{result['mode']} ({result['launcher']} launcher): {len(runs)} submissions of {args.rows:,} rows "
          f"(csv, one at a time), polled every "
          f"{args.poll} s; 1-min load {min(loads):.2f} to {max(loads):.2f} on {os.cpu_count()} CPUs\n")
    header = f"{'seconds':<32} {'p50':>6} {'p95':>6} {'min':>6} {'max':>6}"
    print(header)
    print("-" * len(header))
    for key in ("file", "link", "submit", "queued", "starting", "process_up", "code_loaded", "running", "steps",
                "noticed"):
        s = result["summary"][key]
        print(f"{LABELS[key]:<32} {s['p50']:>6.2f} {s['p95']:>6.2f} {s['min']:>6.2f} {s['max']:>6.2f}")


def environment(args) -> dict:
    import dagster

    import export_pipelines

    with open(PROJECT / "dagster.yaml") as source:
        coordinator = yaml.safe_load(source)["run_coordinator"].get("config", {})
    return {"export_pipelines": str(Path(export_pipelines.__file__).parent), "python": platform.python_version(),
            "dagster": dagster.__version__, "cpus": os.cpu_count(), "machine": platform.platform(),
            "run_coordinator": {**coordinator, **args.overrides}, "run_launcher": args.launcher,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the services and remove the folder
    from export_pipelines.demo.seed import seed_demo

    work = Path(tempfile.mkdtemp(prefix="graphql_latency_"))
    try:
        source_url = f"sqlite:///{work / 'source.sqlite'}"
        seed_demo(source_url, rows=args.rows)
        info = environment(args)
        log(f"work folder {work}; {args.rows:,} orders seeded; modes {', '.join(args.modes)}")
        results = [result for mode in args.modes for result in measure_mode(mode, work, source_url, args)]
        if args.json:
            settings = {k: v for k, v in vars(args).items() if k not in ("json", "coordinator")}
            print(json.dumps({"environment": info, "settings": settings, "modes": results}, indent=2))
        else:
            print(f"graphql_latency_bench: {json.dumps(info)}")
            for result in results:
                print_table(result, args)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

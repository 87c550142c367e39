"""deploy/keda-scaledobject.yaml watches the Redis lists where Celery really puts the export steps.

Tasks go through a Celery app built as the launcher and the workers build it (dagster-celery's app
with the project's settings), with the priorities dagster-celery's executor computes, to each queue,
and no worker takes them: the lists they wait in must be exactly the ScaledObjects' lists, the ones
``celery_list_names`` names and ``export-pipelines status`` counts.
"""

from __future__ import annotations

from collections import Counter
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import yaml
from dagster_celery.core_execution_loop import _get_step_priority
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tags import DAGSTER_CELERY_RUN_PRIORITY_TAG, DAGSTER_CELERY_STEP_PRIORITY_TAG
from dagster_celery.tasks import create_task

from export_pipelines.scaleout.celery_settings import DEFAULT_BROKER, QUEUES, celery_app_config
from export_pipelines.scaleout.status import celery_list_names, celery_queue_lengths

KEDA_FILE = Path(__file__).resolve().parents[1] / "deploy" / "keda-scaledobject.yaml"
BROKER_DB = 11  # a database of the test Redis that nothing else writes to
# Run priority tags (None: untagged) and step priority tags, as operators may set them.
RUN_PRIORITIES = (None, "-20", "-4", "-2", "0", "1", "2", "4", "10")
STEP_PRIORITIES = (None, "0", "9")


def _documents() -> list[dict]:
    return list(yaml.safe_load_all(KEDA_FILE.read_text(encoding="utf-8")))


def _scaled_objects() -> list[dict]:
    return [document for document in _documents() if document["kind"] == "ScaledObject"]


def _yaml_lists() -> list[str]:
    return [trigger["metadata"]["listName"] for so in _scaled_objects() for trigger in so["spec"]["triggers"]]


def _priority(app, run_priority: str | None, step_priority: str | None) -> int:
    """The priority dagster-celery's executor gives a step with these tags."""
    run_tags = {DAGSTER_CELERY_RUN_PRIORITY_TAG: run_priority} if run_priority is not None else {}
    context = SimpleNamespace(has_tag=run_tags.__contains__, get_tag=run_tags.get)
    step_tags = {DAGSTER_CELERY_STEP_PRIORITY_TAG: step_priority} if step_priority is not None else {}
    return _get_step_priority(context, SimpleNamespace(tags=step_tags), app.conf.task_default_priority)


@pytest.fixture
def broker(redis_server):
    url = redis_server.url(BROKER_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url, client
    finally:
        client.flushdb()
        client.close()


def test_every_list_celery_fills_is_a_trigger_of_the_scaled_objects(broker):
    url, client = broker
    app = make_app(CeleryExecutor.for_cli(broker=url, backend=url, config_source=celery_app_config()).app_args())
    task = create_task(app)
    sent: Counter = Counter()
    priorities = set()
    try:
        for queue, (run_priority, step_priority) in product(QUEUES, product(RUN_PRIORITIES, STEP_PRIORITIES)):
            priority = _priority(app, run_priority, step_priority)
            priorities.add(priority)
            # As dagster-celery's executor sends a step (executor._submit_task); no worker will run it.
            task.si(execute_step_args_packed={}, executable_dict={}).apply_async(
                priority=priority, queue=queue, routing_key=f"{queue}.execute_plan"
            )
            sent[queue] += 1
    finally:
        app.close()
    assert min(priorities) < 0 and max(priorities) > 9 and 5 in priorities  # clamped at both ends; 5 is untagged

    filled = {key.decode(): client.llen(key) for key in client.scan_iter() if client.type(key) == b"list"}

    names = celery_list_names()
    assert set(filled) == {name for lists in names.values() for name in lists}, "every priority list was used"
    assert set(filled) == set(_yaml_lists()), f"lists holding tasks: {sorted(filled)}; in the yaml: {_yaml_lists()}"
    assert filled["dagster\x06\x163"] >= 1 and "dagster\x06\x163" in names["dagster"]  # where an untagged step waits
    assert sum(filled.values()) == sum(sent.values())
    per_queue = len(RUN_PRIORITIES) * len(STEP_PRIORITIES)
    assert celery_queue_lengths(url) == dict(sent) == {queue: per_queue for queue in QUEUES}


def test_each_scaled_object_watches_all_lists_of_one_queue_and_adds_them_up():
    names = celery_list_names()
    watched = {}
    for so in _scaled_objects():
        triggers = so["spec"]["triggers"]
        lists = [trigger["metadata"]["listName"] for trigger in triggers]
        matching = [queue for queue, expected in names.items() if sorted(expected) == sorted(lists)]
        assert len(matching) == 1, f"{so['metadata']['name']} watches {lists}; the lists of each queue: {names}"
        queue = matching[0]
        watched[queue] = so["spec"]["scaleTargetRef"]["name"]
        terms = so["spec"]["advanced"]["scalingModifiers"]["formula"].split(" + ")
        assert sorted(terms) == sorted(trigger["name"] for trigger in triggers), "the formula adds every list once"
        assert int(so["spec"]["advanced"]["scalingModifiers"]["target"]) >= 1
        # With no worker a run never sends a step (it waits for one on every queue), so never scale to zero.
        assert so["spec"]["minReplicaCount"] >= 1
    assert sorted(watched) == sorted(QUEUES) and len(set(watched.values())) == len(QUEUES)


def test_triggers_reach_the_broker_with_the_password_from_a_secret():
    documents = _documents()
    authentications = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "TriggerAuthentication"}
    default_db = DEFAULT_BROKER.rsplit("/", 1)[1]
    for so in _scaled_objects():
        for trigger in so["spec"]["triggers"]:
            metadata = trigger["metadata"]
            assert trigger["type"] == "redis" and metadata["addressFromEnv"] and metadata["databaseIndex"] == default_db
            assert int(metadata["listLength"]) >= 1
            assert not {"password", "passwordFromEnv", "address"} & set(metadata)
            secret = authentications[trigger["authenticationRef"]["name"]]
            assert {ref["parameter"] for ref in secret["secretTargetRef"]} == {"password"}
    # Every value KEDA reads is a string, as Kubernetes requires of the metadata map.
    triggers = [trigger for so in _scaled_objects() for trigger in so["spec"]["triggers"]]
    assert all(isinstance(value, str) for trigger in triggers for value in trigger["metadata"].values())

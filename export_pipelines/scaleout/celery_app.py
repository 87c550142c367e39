"""The Celery app workers run: ``celery -A export_pipelines.scaleout.celery_app worker -Q dagster,render``.

It registers dagster-celery's step task on an app configured by ``celery_settings``, so a worker
needs no config file: broker, backend and delivery settings come from its environment.
"""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from export_pipelines.observability.monitoring import init_error_tracking
from export_pipelines.scaleout.celery_settings import backend_url, broker_url, celery_app_config

init_error_tracking("celery-worker")  # this module is what a worker loads first; its pool processes inherit it

app = make_app(
    CeleryExecutor.for_cli(broker=broker_url(), backend=backend_url(), config_source=celery_app_config()).app_args()
)
execute_plan = create_task(app)

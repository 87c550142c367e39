"""The code location: what ``dagster dev`` and the webserver load. Assembly only."""

from dagster import Definitions

from export_pipelines.automation.alerts import export_failure_alert_sensor
from export_pipelines.automation.request_sensor import export_request_sensor
from export_pipelines.automation.request_status import request_status_sensors
from export_pipelines.automation.retention import daily_retention_cleanup_schedule, retention_cleanup_job
from export_pipelines.automation.subscription_schedules import subscription_schedules
from export_pipelines.automation.subscription_sensor import export_subscription_sensor
from export_pipelines.run.jobs import export_job

defs = Definitions(
    jobs=[export_job, retention_cleanup_job],
    schedules=[daily_retention_cleanup_schedule, *subscription_schedules()],  # $EXPORT_SUBSCRIPTIONS_PATH
    sensors=[export_request_sensor, *request_status_sensors, export_failure_alert_sensor, export_subscription_sensor],
)

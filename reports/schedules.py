"""Each source's beat schedules (a daily fetch, a backfill) run while DEACT_SOURCES names the source (issue 18).

The schedules are rows a data migration made, editable in the admin (times, arguments); whether they are
enabled follows DEACT_SOURCES each time `migrate` runs and each time beat starts, so changing the variable and
restarting is all it takes.
"""

import json
import logging

from django_celery_beat.models import PeriodicTask

from reports import sources

log = logging.getLogger(__name__)

SOURCE_TASKS = ("reports.tasks.ingest_latest_report", "reports.tasks.backfill_reports")


def source_of(kwargs: str) -> str:
    """The source a scheduled task's JSON kwargs name; none is the tasks' own default, aws."""
    try:
        return json.loads(kwargs or "{}").get("source", "aws")
    except (ValueError, AttributeError):
        return "aws"


def sync_source_schedules() -> int:
    """Enable the schedules of the enabled sources and disable the rest; how many changed."""
    wanted = set(sources.enabled())
    changed = 0
    for task in PeriodicTask.objects.filter(task__in=SOURCE_TASKS):
        enabled = source_of(task.kwargs) in wanted
        if task.enabled != enabled:
            task.enabled = enabled
            task.save(update_fields=["enabled"])  # save(), not update(): beat hears of the change
            changed += 1
            log.info("source schedule %s task=%s name=%r", "enabled" if enabled else "disabled", task.task, task.name)
    return changed


def sync_after_migrate(**kwargs) -> None:
    sync_source_schedules()

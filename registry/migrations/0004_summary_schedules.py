"""Beat schedules of the follow-up summaries (django-celery-beat, editable in the admin).

* hourly at :05 (UTC): ``dispatch_daily_digests`` — each centre's digest once its local time has passed 06:00;
* Mondays 07:00 (registry time zone): the weekly registry summary (the last complete week);
* the 1st of the month 07:00: the monthly registry summary (the last complete month).

Data only; reversible (removes the three tasks). Existing tasks with the same names (edited in the admin) are
left as they are.
"""

import json

from django.conf import settings
from django.db import migrations
from django.utils import timezone

DISPATCH = "registry.summaries.dispatch_daily_digests"
GENERATE = "registry.summaries.generate_summary"


def cron(minute, hour, day_of_week="*", day_of_month="*"):
    return {
        "minute": minute,
        "hour": hour,
        "day_of_week": day_of_week,
        "day_of_month": day_of_month,
        "month_of_year": "*",
    }


SCHEDULES = [
    {
        "name": "Follow-up summaries: daily centre digests (hourly check)",
        "task": DISPATCH,
        "kwargs": {},
        "crontab": cron("5", "*"),
        "timezone": "UTC",
        "description": "Every hour: queue the daily digest of each centre whose local time has passed 06:00 "
        "and that has none for its local date yet.",
    },
    {
        "name": "Follow-up summaries: weekly registry summary",
        "task": GENERATE,
        "kwargs": {"centre_id": None, "kind": "weekly"},
        "crontab": cron("0", "7", day_of_week="1"),
        "timezone": None,
        "description": "Mondays: the registry summary of the last complete week, to registry-wide "
        "coordinators.",
    },
    {
        "name": "Follow-up summaries: monthly registry summary",
        "task": GENERATE,
        "kwargs": {"centre_id": None, "kind": "monthly"},
        "crontab": cron("0", "7", day_of_month="1"),
        "timezone": None,
        "description": "The 1st of each month: the registry summary of the last month, to registry-wide "
        "coordinators.",
    },
]


def add_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for spec in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **spec["crontab"], timezone=spec["timezone"] or settings.TIME_ZONE
        )
        PeriodicTask.objects.get_or_create(
            name=spec["name"],
            defaults={
                "task": spec["task"],
                "crontab": crontab,
                "kwargs": json.dumps(spec["kwargs"]),
                "description": spec["description"],
                "enabled": True,
            },
        )
    # Tell a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTask.objects.filter(name__in=[spec["name"] for spec in SCHEDULES]).delete()
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_exports_api_summaries"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(add_schedules, remove_schedules)]

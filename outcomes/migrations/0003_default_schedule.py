from django.db import migrations


def load(apps, schema_editor):
    from outcomes.schedule import default_timepoints

    timepoint = apps.get_model("outcomes", "ScheduleTimepoint")
    for spec in default_timepoints():
        timepoint.objects.update_or_create(protocol="default", code=spec["code"], defaults=spec)


def unload(apps, schema_editor):
    apps.get_model("outcomes", "ScheduleTimepoint").objects.filter(protocol="default").delete()


class Migration(migrations.Migration):
    dependencies = [("outcomes", "0002_visits_instruments_medications")]
    operations = [migrations.RunPython(load, unload)]

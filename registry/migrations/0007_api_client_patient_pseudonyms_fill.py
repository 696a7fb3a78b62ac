"""Fill the per-client patient pseudonyms and order keys for the API clients that exist already (data only;
the schema is 0006). Revoked clients never call again and get none; new clients and new patients get theirs
from :mod:`registry.api_clients`."""

from django.db import migrations

BATCH = 5000


def fill(apps, schema_editor):
    from registry.api.pseudonyms import order_key, patient_pseudonym, permutation

    ApiClient = apps.get_model("registry", "ApiClient")
    ApiClientPatient = apps.get_model("registry", "ApiClientPatient")
    Patient = apps.get_model("patients", "Patient")
    patient_ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    for client in ApiClient.objects.filter(revoked_at__isnull=True).only("pk", "pseudonym_key"):
        key, coefficients = client.pseudonym_key, permutation(client.pseudonym_key)
        rows = [
            ApiClientPatient(
                client_id=client.pk,
                patient_id=pk,
                sort_key=order_key(key, pk, coefficients=coefficients),
                pseudonym=patient_pseudonym(key, pk),
            )
            for pk in patient_ids
        ]
        ApiClientPatient.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)


def empty(apps, schema_editor):
    apps.get_model("registry", "ApiClientPatient").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_api_client_patient_pseudonyms")]

    operations = [migrations.RunPython(fill, empty)]

"""The registry's URLs plus the baseline view of the API benchmark (bench settings only, never deployed)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from patients.models import Patient
from registry import urls as registry_urls

PAGE_SIZE = 100
#: The columns the API's patient resource reads (``patients.api.PatientViewSet.base_queryset``).
BASELINE_FIELDS = (
    "pk",
    "centre_id",
    "diagnosis",
    "sex",
    "classification_criteria",
    "treatment_pathway",
    "status",
    "day0",
    "diagnosis_date",
    "death_date",
    "death_related_to_car_t",
    "voided_at",
    "identity__date_of_birth",
    "baseline_summary__organs",
    "baseline_summary__nephritis_class",
    "baseline_summary__prior_therapy_lines",
    "baseline_summary__prior_therapy_classes",
    "baseline_summary__prior_b_cell_targeted",
)


def baseline_patients(request: HttpRequest) -> JsonResponse:
    """The minimal Django view: the same rows (100 patients) with ``.values()``, keyset by ``?after=<pk>``."""
    after = int(request.GET.get("after") or 0)
    rows = list(
        Patient.objects.filter(pk__gt=after, voided_at__isnull=True)
        .order_by("pk")
        .values(*BASELINE_FIELDS)[:PAGE_SIZE]
    )
    return JsonResponse({"next": rows[-1]["pk"] if len(rows) == PAGE_SIZE else None, "results": rows})


urlpatterns = [path("bench/baseline/patients/", baseline_patients), *registry_urls.urlpatterns]
for _name in ("handler400", "handler403", "handler404", "handler500"):
    if hasattr(registry_urls, _name):
        globals()[_name] = getattr(registry_urls, _name)

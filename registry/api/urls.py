"""``/api/v1/``: the resources of every app, the data dictionary, the OpenAPI schema and its documentation."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from adverse_events.api import (
    AdverseEventViewSet,
    CrsAssessmentViewSet,
    IcansAssessmentViewSet,
    InfectionViewSet,
    ToxicitySummaryViewSet,
)
from dosing.api import InfusionViewSet
from outcomes.api import CourseViewSet, LabViewSet, MedicationViewSet, VisitViewSet
from patients.api import PatientViewSet
from registry.api import schema  # noqa: F401  (registers the token security scheme)
from registry.api.dictionary import DictionaryView
from registry.api.exceptions import api_not_found

app_name = "api"

RESOURCES = [
    PatientViewSet,
    InfusionViewSet,
    CrsAssessmentViewSet,
    IcansAssessmentViewSet,
    ToxicitySummaryViewSet,
    InfectionViewSet,
    AdverseEventViewSet,
    VisitViewSet,
    LabViewSet,
    MedicationViewSet,
    CourseViewSet,
]

router = SimpleRouter()
for viewset in RESOURCES:
    router.register(viewset.resource, viewset, basename=viewset.resource)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("dictionary/", DictionaryView.as_view(), name="dictionary"),
    *router.urls,
    re_path(r"^.*$", api_not_found),
]

"""Toxicity forms, under each patient's URL (``/patients/<id>/...``)."""

from django.urls import path

from adverse_events import views

app_name = "adverse_events"

urlpatterns = [
    path("<int:patient_id>/crs/new/", views.crs_add, name="crs_add"),
    path("<int:patient_id>/crs/<int:pk>/edit/", views.crs_edit, name="crs_edit"),
    path("<int:patient_id>/icans/new/", views.icans_add, name="icans_add"),
    path("<int:patient_id>/icans/<int:pk>/edit/", views.icans_edit, name="icans_edit"),
    path("<int:patient_id>/blood-counts/new/", views.blood_counts_add, name="blood_counts_add"),
    path("<int:patient_id>/supportive-care/new/", views.supportive_care_add, name="supportive_care_add"),
    path("<int:patient_id>/infections/new/", views.infection_add, name="infection_add"),
    path("<int:patient_id>/adverse-events/new/", views.adverse_event_add, name="adverse_event_add"),
    path("<int:patient_id>/toxicity/<str:kind>/<int:pk>/void/", views.record_void, name="void"),
]

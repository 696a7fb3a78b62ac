from django.urls import path

from patients import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("enrol/", views.patient_enrol, name="enrol"),
    path("<int:patient_id>/", views.patient_detail, name="detail"),
    path("<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<int:patient_id>/identity/", views.identity_edit, name="identity"),
    path("<int:patient_id>/status/", views.status_change, name="status"),
    path("<int:patient_id>/void/", views.patient_void, name="void"),
    path(
        "<int:patient_id>/void/<str:app_label>/<str:model_name>/<int:pk>/",
        views.record_void,
        name="record_void",
    ),
    path("<int:patient_id>/organ-involvement/new/", views.organ_involvement_add, name="organ_add"),
    path("<int:patient_id>/prior-therapies/new/", views.prior_therapy_add, name="therapy_add"),
    path("<int:patient_id>/growth/new/", views.growth_add, name="growth_add"),
]

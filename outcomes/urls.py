"""Follow-up pages, under each patient's URL (``/patients/<id>/...``)."""

from django.urls import path

from outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("<int:patient_id>/visits/new/", views.visit_add, name="visit_add"),
    path("<int:patient_id>/visits/<int:pk>/", views.visit_detail, name="visit_detail"),
    path("<int:patient_id>/visits/<int:pk>/edit/", views.visit_edit, name="visit_edit"),
    path("<int:patient_id>/labs/new/", views.lab_grid, name="lab_grid"),
    path("<int:patient_id>/labs/paste/", views.lab_paste, name="lab_paste"),
    path("<int:patient_id>/medications/new/", views.medication_add, name="medication_add"),
    path("<int:patient_id>/medications/<int:pk>/stop/", views.medication_stop, name="medication_stop"),
]

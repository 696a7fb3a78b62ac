"""Dosing forms, under each patient's URL (``/patients/<id>/...``)."""

from django.urls import path

from dosing import views

app_name = "dosing"

urlpatterns = [
    path("<int:patient_id>/apheresis/new/", views.apheresis_add, name="apheresis_add"),
    path("<int:patient_id>/admissions/new/", views.admission_add, name="admission_add"),
    path(
        "<int:patient_id>/admissions/<int:pk>/discharge/",
        views.admission_discharge,
        name="admission_discharge",
    ),
    path("<int:patient_id>/manufacturing/new/", views.manufacturing_run_add, name="run_add"),
    path("<int:patient_id>/manufacturing/<int:run_id>/bags/new/", views.product_bag_add, name="bag_add"),
    path(
        "<int:patient_id>/manufacturing/<int:run_id>/release-tests/new/",
        views.release_test_add,
        name="release_test_add",
    ),
    path("<int:patient_id>/lymphodepletion/new/", views.lymphodepletion_add, name="lymphodepletion_add"),
    path("<int:patient_id>/infusion/new/", views.infusion_add, name="infusion_add"),
]

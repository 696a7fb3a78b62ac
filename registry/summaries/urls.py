from django.urls import path

from registry.summaries import views

app_name = "summaries"

urlpatterns = [
    path("", views.summary_list, name="list"),
    path("<int:summary_id>/", views.summary_detail, name="detail"),
]

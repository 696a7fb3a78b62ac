from django.urls import path

from registry import api_client_views as views

app_name = "api_clients"

urlpatterns = [
    path("", views.api_client_list, name="list"),
    path("new/", views.api_client_create, name="create"),
    path("<int:client_id>/", views.api_client_detail, name="detail"),
    path("<int:client_id>/rotate/", views.api_client_rotate, name="rotate"),
    path("<int:client_id>/revoke/", views.api_client_revoke, name="revoke"),
]

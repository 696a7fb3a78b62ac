from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from registry import access_log_views, two_factor, views

# A database outage met outside a view (session, user) is a 503 page, anything else the 500 page.
handler500 = "registry.resilience.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("no-centre/", views.no_centre, name="no_centre"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "audit/<str:app_label>/<str:model_name>/<int:pk>/", views.record_history_view, name="record_history"
    ),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/two-factor/", two_factor.otp_verify, name="otp_verify"),
    path("accounts/two-factor/setup/", two_factor.otp_setup, name="otp_setup"),
    path("audit/access/", access_log_views.access_log, name="access_log"),
    path("admin/", admin.site.urls),
    path("summaries/", include("registry.summaries.urls")),
    path("api/v1/", include("registry.api.urls")),
    path("api-clients/", include("registry.api_client_urls")),
    path("exports/", include("registry.exports.urls")),
    path("patients/", include("patients.urls")),
    path("patients/", include("dosing.urls")),
    path("patients/", include("outcomes.urls")),
    path("patients/", include("adverse_events.urls")),
]

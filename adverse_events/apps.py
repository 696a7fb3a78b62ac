from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdverseEventsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "adverse_events"
    verbose_name = _("Adverse events")

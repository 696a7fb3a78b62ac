from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DosingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dosing"
    verbose_name = _("Dosing")

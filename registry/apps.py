from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from registry.access_events import connect_signals
        from registry.signals import install_append_only_guards

        post_migrate.connect(install_append_only_guards, dispatch_uid="registry_append_only_guards")
        connect_signals()  # log-ins, failed log-ins and log-outs into the access log

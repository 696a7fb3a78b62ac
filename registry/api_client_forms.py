"""The coordinator's form for a new API client (scopes, expiry, purpose). The write is
:func:`registry.api_clients.api_client_create`; its field errors are put back on the fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from registry import access
from registry.api_clients import DEFAULT_EXPIRY_DAYS, MAX_EXPIRY_DAYS, RESOURCE_GROUPS, manageable_centre_ids
from registry.models import Centre


class ApiClientForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, help_text=_("e.g. EBMT pooled analysis 2027"))
    purpose = forms.CharField(
        label=_("Purpose"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Which analysis or collaboration; who will hold the token."),
    )
    all_centres = forms.BooleanField(
        label=_("All centres (registry-wide)"),
        required=False,
        help_text=_("Registry-wide coordinators only."),
    )
    centres = forms.ModelMultipleChoiceField(
        label=_("Centres"),
        queryset=Centre.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    may_see_centres = forms.BooleanField(
        label=_("May see centre codes"),
        required=False,
        help_text=_("Otherwise centres appear as C1, C2 …"),
    )
    resource_groups = forms.MultipleChoiceField(
        label=_("Resource groups"),
        choices=list(RESOURCE_GROUPS.items()),
        initial=list(RESOURCE_GROUPS),
        widget=forms.CheckboxSelectMultiple,
    )
    expires_days = forms.IntegerField(
        label=_("Expires after (days)"), min_value=1, max_value=MAX_EXPIRY_DAYS, initial=DEFAULT_EXPIRY_DAYS
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = manageable_centre_ids(user)
        self.registry_wide = allowed is access.ALL
        centres = Centre.objects.order_by("code")
        self.fields["centres"].queryset = (
            centres if self.registry_wide else centres.filter(pk__in=allowed or [])
        )
        if not self.registry_wide:
            del self.fields["all_centres"]

    def add_service_errors(self, error: Any) -> None:
        if hasattr(error, "message_dict"):
            for field, messages in error.message_dict.items():
                target = field if field in self.fields else None
                for message in messages:
                    self.add_error(target, message)
        else:
            for message in error.messages:
                self.add_error(None, message)


class RotateForm(forms.Form):
    expires_days = forms.IntegerField(
        label=_("New expiry (days from now)"),
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        required=False,
        help_text=_("Leave empty to keep the current expiry."),
    )


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=500, help_text=_("e.g. analysis finished, token exposed")
    )

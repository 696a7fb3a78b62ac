"""Admin for staff: centres, memberships, and an audited base for clinical models.

Editing an existing record in the admin asks for a reason, which lands in the audit trail. History rows are
shown read-only (django-simple-history's history view); they can never be edited or deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from registry.models import AccessEvent, Centre, FollowUpSummary, Membership


class ReasonForm(forms.ModelForm):
    change_reason = forms.CharField(
        label=_("Reason for change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when changing an existing record; stored in the audit trail."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        needs_reason = getattr(self._meta.model, "audit_reason_required", False)
        if (
            self.instance.pk
            and needs_reason
            and self.has_changed()
            and not (cleaned.get("change_reason") or "").strip()
        ):
            self.add_error("change_reason", _("Give a reason for changing this record."))
        return cleaned


class AuditedAdmin(SimpleHistoryAdmin):
    """ModelAdmin whose saves carry the reason for change into the audit trail."""

    form = ReasonForm

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        obj._history_user = request.user
        reason = (form.cleaned_data.get("change_reason") or "").strip()
        if reason:
            obj._change_reason = reason
        super().save_model(request, obj, form, change)

    def delete_model(self, request: Any, obj: Any) -> None:
        obj._history_user = request.user
        super().delete_model(request, obj)


@admin.register(Centre)
class CentreAdmin(AuditedAdmin):
    list_display = ("code", "name", "country", "time_zone")
    search_fields = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ("user", "centre", "role")
    list_filter = ("role", "centre")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)


@admin.register(FollowUpSummary)
class FollowUpSummaryAdmin(admin.ModelAdmin):
    """Summaries are produced by the scheduled tasks; staff can read them, not write them."""

    list_display = ("kind", "centre", "period_start", "period_end", "generated_at", "emailed_at")
    list_filter = ("kind", "centre")
    readonly_fields = (
        "centre",
        "kind",
        "period_start",
        "period_end",
        "generated_at",
        "content",
        "html",
        "text",
        "emailed_at",
        "recipients",
    )

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """The access log, read-only (the database refuses changes too). Identity values never appear in it."""

    list_display = ("at", "kind", "username", "object_ref", "ip_address")
    list_filter = ("kind", "at")
    search_fields = ("username", "object_ref")
    date_hierarchy = "at"
    list_select_related = ("user", "patient")
    readonly_fields = (
        "at",
        "kind",
        "user",
        "username",
        "patient",
        "object_ref",
        "ip_address",
        "user_agent",
        "details",
    )

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

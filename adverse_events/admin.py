"""Toxicity rows, read-only for support staff.

CRS, ICANS and laboratory grades are computed by :mod:`adverse_events.services` from the stored
observations, and every write is audited there; the admin can look but not add, change or delete.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection, SupportiveCare


class ReadOnlyClinicalAdmin(admin.ModelAdmin):
    """Clinical rows for support staff to look at; every write goes through the services."""

    list_select_related = ("patient",)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(CrsAssessment)
class CrsAssessmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "assessed_at", "grade", "after_anticytokine_or_antipyretic", "voided_at")
    list_filter = ("grade",)


@admin.register(IcansAssessment)
class IcansAssessmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "assessed_at", "tool", "ice_score", "capd_score", "grade", "voided_at")
    list_filter = ("tool", "grade")


@admin.register(SupportiveCare)
class SupportiveCareAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "kind", "started_on", "ended_on", "units", "voided_at")


@admin.register(Infection)
class InfectionAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "onset_on", "site", "organism_type", "proposed_grade", "grade", "voided_at")


@admin.register(AdverseEvent)
class AdverseEventAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "term", "grade", "serious", "attribution", "started_on", "voided_at")
    list_filter = ("serious", "grade")

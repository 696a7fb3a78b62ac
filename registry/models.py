"""Centres, memberships and the base of every clinical record."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.audit import AuditHistory


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("'%(value)s' is not a known time zone; use an IANA name such as Europe/Rome."),
            params={"value": value},
        )


class Centre(models.Model):
    """A treating centre. Its short code prefixes its patients' registry codes (ROM-001)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    code = models.CharField(
        _("short code"),
        max_length=5,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{2,5}$", _("2 to 5 capital letters, e.g. ROM."))],
        help_text=_("2 to 5 capital letters used in patient codes, e.g. ROM → ROM-001."),
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        validators=[RegexValidator(r"^[A-Z]{2}$", _("ISO 3166 two-letter country code, e.g. IT."))],
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Rome", validators=[validate_time_zone]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditHistory()

    class Meta:
        ordering = ["code"]
        verbose_name = _("centre")
        verbose_name_plural = _("centres")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Role(models.TextChoices):
    CLINICIAN = "clinician", _("Clinician")
    COORDINATOR = "coordinator", _("Coordinator")
    MONITOR = "monitor", _("Monitor")


class Membership(models.Model):
    """A user's role at a centre; without a centre the membership is registry-wide."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    centre = models.ForeignKey(
        Centre,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("centre"),
        help_text=_("Leave empty for a registry-wide membership (every centre)."),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditHistory()

    class Meta:
        ordering = ["user__username", "centre__code"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "centre"],
                condition=models.Q(centre__isnull=False),
                name="membership_one_role_per_user_and_centre",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(centre__isnull=True),
                name="membership_one_registry_wide_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="membership_role_known"
            ),
        ]

    def __str__(self) -> str:
        where = self.centre.code if self.centre_id else _("all centres")
        return f"{self.user} — {self.get_role_display()} ({where})"

    @property
    def is_registry_wide(self) -> bool:
        return self.centre_id is None


class ClinicalRecord(models.Model):
    """Base of every clinical row: audited, never hard-deleted, voided with a reason when entered in error.

    Subclasses set ``centre_lookup`` (the ORM path from the row to its centre) so the access layer and the
    audit views can scope them.
    """

    audit_reason_required = True
    centre_lookup = "patient__centre"

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True, editable=False)
    void_reason = models.TextField(_("reason voided"), blank=True, editable=False)

    history = AuditHistory(inherit=True)

    class Meta:
        abstract = True

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class CaseSeries(models.Model):
    """A named set of patients (e.g. the Rome–Erlangen paediatric series) that coordinators export."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_illustrative = models.BooleanField(
        _("illustrative reconstruction"),
        default=False,
        help_text=_("Invented per-patient values that reproduce published aggregates (demo)."),
    )
    patients = models.ManyToManyField(
        "patients.Patient", related_name="case_series", blank=True, verbose_name=_("patients")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = AuditHistory(m2m_fields=[patients])

    class Meta:
        ordering = ["name"]
        verbose_name = _("case series")
        verbose_name_plural = _("case series")

    def __str__(self) -> str:
        return self.name

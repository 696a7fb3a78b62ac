"""Centres, memberships and the base of every clinical record."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
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


class ExportMode(models.TextChoices):
    INTERNAL = "internal", _("Internal (registry codes, study days)")
    EXTERNAL = "external", _("External (pseudonyms, small cells suppressed)")
    IDENTIFIED = "identified", _("Identified (own centre, stated purpose)")


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class ExportLog(models.Model):
    """Every export: who, when, mode, filters, format, row counts — and, for background exports, the file."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports", verbose_name=_("user")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    case_series = models.ForeignKey(
        CaseSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exports",
        verbose_name=_("case series"),
    )
    mode = models.CharField(_("mode"), max_length=12, choices=ExportMode.choices, default=ExportMode.INTERNAL)
    purpose = models.TextField(_("purpose"), blank=True, help_text=_("Required for identified exports."))
    recipient = models.CharField(
        _("recipient"),
        max_length=200,
        blank=True,
        help_text=_("External exports: whom the pseudonyms are keyed for."),
    )
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    tables = models.JSONField(_("tables"), default=list, blank=True)
    format = models.CharField(_("format"), max_length=10)
    row_counts = models.JSONField(_("row counts"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.DONE
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=100)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("export")
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_progress_percent"),
            models.CheckConstraint(
                condition=~models.Q(mode="identified") | ~models.Q(purpose=""),
                name="export_identified_has_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.format} export by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ApiClient(models.Model):
    """An external client of the de-identified API: scopes, expiry, hashed token, its own pseudonym key."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    purpose = models.TextField(_("purpose"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_clients",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    all_centres = models.BooleanField(_("all centres"), default=False)
    centres = models.ManyToManyField(
        Centre, blank=True, related_name="api_clients", verbose_name=_("centres")
    )
    may_see_centres = models.BooleanField(
        _("may see centre identities"),
        default=False,
        help_text=_("Otherwise centres appear as C1, C2, … pseudonyms."),
    )
    resource_groups = models.JSONField(_("resource groups"), default=list, blank=True)
    token_prefix = models.CharField(_("token prefix"), max_length=12, unique=True)
    token_hash = models.CharField(_("token hash"), max_length=128)
    pseudonym_key = models.CharField(_("pseudonym key"), max_length=128, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    history = AuditHistory(excluded_fields=["token_hash", "pseudonym_key", "last_used_at"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("API client")

    def __str__(self) -> str:
        return self.name


class ApiRequestLog(models.Model):
    """Every API request: client, endpoint, filters, rows returned, status."""

    client = models.ForeignKey(
        ApiClient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
        verbose_name=_("client"),
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)
    endpoint = models.CharField(_("endpoint"), max_length=200)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    rows = models.PositiveIntegerField(_("rows returned"), default=0)
    status_code = models.PositiveSmallIntegerField(_("status"))

    class Meta:
        ordering = ["-at"]
        verbose_name = _("API request")
        indexes = [models.Index(fields=["client", "at"], name="api_request_client_time_idx")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status_code}"


class ApiClientPatient(models.Model):
    """A patient as one API client sees it: its pseudonym and its place in the client's keyed order.

    Derived data (:mod:`registry.api.pseudonyms`: pure functions of the client's key and the patient id),
    stored so that a page of a patient-level API list is an index range, not a sort of every patient, and a
    pseudonym is found by index. Written for every patient when a client is created and for every client
    when a patient is enrolled (:mod:`registry.api_clients`); never edited, never shown.
    """

    client = models.ForeignKey(
        ApiClient,
        on_delete=models.CASCADE,
        related_name="patient_pseudonyms",
        verbose_name=_("client"),
        db_index=False,  # the unique (client, sort_key) and (client, patient) indexes start with it
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,  # derived from the id alone; patients are never hard-deleted anyway
        related_name="api_pseudonyms",
        verbose_name=_("patient"),
    )
    sort_key = models.BigIntegerField(_("sort key"))
    pseudonym = models.CharField(_("pseudonym"), max_length=14)

    class Meta:
        verbose_name = _("API client's patient pseudonym")
        constraints = [
            models.UniqueConstraint(fields=["client", "patient"], name="api_client_patient_unique"),
            # The order is a permutation of the ids: one patient per place (and the index pages follow).
            models.UniqueConstraint(fields=["client", "sort_key"], name="api_client_patient_order_unique"),
        ]
        indexes = [models.Index(fields=["client", "pseudonym"], name="api_client_pseudonym_idx")]

    def __str__(self) -> str:
        return self.pseudonym


class SummaryKind(models.TextChoices):
    DAILY = "daily", _("Daily centre digest")
    WEEKLY = "weekly", _("Weekly registry summary")
    MONTHLY = "monthly", _("Monthly registry summary")


class FollowUpSummary(models.Model):
    """A stored follow-up summary: one per (scope, kind, period); a rerun replaces it."""

    centre = models.ForeignKey(
        Centre,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="summaries",
        verbose_name=_("centre"),
        help_text=_("Empty for a registry-wide summary."),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=SummaryKind.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    generated_at = models.DateTimeField(_("generated at"))
    content = models.JSONField(_("content"), default=dict)
    html = models.TextField(_("rendered HTML"))
    text = models.TextField(_("plain text"), blank=True)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)
    recipients = models.JSONField(_("recipients"), default=list, blank=True)

    class Meta:
        ordering = ["-period_start", "kind"]
        verbose_name = _("follow-up summary")
        verbose_name_plural = _("follow-up summaries")
        constraints = [
            models.UniqueConstraint(
                fields=["centre", "kind", "period_start"],
                condition=models.Q(centre__isnull=False),
                name="summary_one_per_centre_kind_period",
            ),
            models.UniqueConstraint(
                fields=["kind", "period_start"],
                condition=models.Q(centre__isnull=True),
                name="summary_one_registry_wide_per_kind_period",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="summary_period_ordered"
            ),
        ]

    def __str__(self) -> str:
        scope = self.centre.code if self.centre_id else "registry"
        return f"{self.get_kind_display()} {self.period_start} ({scope})"


class AccessEventKind(models.TextChoices):
    LOGIN = "login", _("Log-in")
    LOGIN_FAILED = "login_failed", _("Failed log-in")
    LOGOUT = "logout", _("Log-out")
    OTP_VERIFIED = "otp_verified", _("Two-factor code accepted")
    OTP_FAILED = "otp_failed", _("Two-factor code refused")
    OTP_ENROLLED = "otp_enrolled", _("Two-factor device set up")
    IDENTITY_VIEW = "identity_view", _("Identity viewed")
    API_TOKEN = "api_token", _("API token issued or revoked")


class AccessEvent(models.Model):
    """Who logged in, failed to, logged out, saw a patient's identity or handled an API token — append-only.

    Exports are not repeated here: every export already has its :class:`ExportLog` row (user, time, mode,
    filters, row counts) and the access-event page lists both. Written only by
    :func:`registry.access_events.access_event_record`; the database refuses UPDATE and DELETE
    (:mod:`registry.signals`).
    """

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=20, choices=AccessEventKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_events",
        verbose_name=_("user"),
    )
    username = models.CharField(
        _("username"), max_length=150, blank=True, help_text=_("As typed, for failed log-ins.")
    )
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_events",
        verbose_name=_("patient"),
    )
    object_ref = models.CharField(_("object"), max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("access event")
        verbose_name_plural = _("access events")
        indexes = [
            models.Index(fields=["kind", "at"], name="access_event_kind_time_idx"),
            models.Index(fields=["user", "at"], name="access_event_user_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in AccessEventKind]),
                name="access_event_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.username} {self.at:%Y-%m-%d %H:%M:%S}"

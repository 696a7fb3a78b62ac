"""Pseudonymous patients. Identity (names, date of birth, hospital number) is kept apart."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.models import Centre, ClinicalRecord


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class Diagnosis(models.TextChoices):
    SLE = "sle", _("Systemic lupus erythematosus")
    JDM = "jdm", _("Juvenile dermatomyositis")
    SSC = "ssc", _("Systemic sclerosis")


class PatientStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    LOST = "lost_to_follow_up", _("Lost to follow-up")
    WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    DECEASED = "deceased", _("Deceased")


class Patient(ClinicalRecord):
    """A child in the registry, known inside the registry by a centre code such as ``ROM-003``."""

    centre_lookup = "centre"

    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="patients", verbose_name=_("centre")
    )
    sequence = models.PositiveIntegerField(_("sequence within centre"), editable=False)
    code = models.CharField(_("registry code"), max_length=12, unique=True, editable=False)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices)
    diagnosis = models.CharField(_("diagnosis"), max_length=10, choices=Diagnosis.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=PatientStatus.choices, default=PatientStatus.ACTIVE
    )
    is_synthetic = models.BooleanField(
        _("synthetic"),
        default=False,
        editable=False,
        help_text=_("Generated for benchmarks; never a real child."),
    )

    class Meta:
        ordering = ["centre__code", "sequence"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(fields=["centre", "sequence"], name="patient_sequence_unique_per_centre"),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="patient_sequence_positive"),
            models.CheckConstraint(
                condition=models.Q(sex__in=[s.value for s in Sex]), name="patient_sex_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in PatientStatus]), name="patient_status_known"
            ),
        ]

    def __str__(self) -> str:
        return self.code

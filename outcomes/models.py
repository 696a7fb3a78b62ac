"""Follow-up data. The shared laboratory model lives here: one table of results for every analyte."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from outcomes.labs import ANALYTES
from patients.models import Patient
from registry.models import ClinicalRecord


class LabSource(models.TextChoices):
    LOCAL = "local_lab", _("Local laboratory")
    CENTRAL = "central_lab", _("Central laboratory")
    POINT_OF_CARE = "point_of_care", _("Point of care")
    FLOW = "flow_cytometry", _("Flow cytometry")
    QPCR = "qpcr", _("qPCR")


ANALYTE_CHOICES = [(code, a.label) for code, a in ANALYTES.items()]


class LabResult(ClinicalRecord):
    """One laboratory value: as reported, converted to the analyte's canonical unit, with its reference range.

    The study day is derived (``patient.study_day(sampled_on)``, the sample date in the centre's time zone),
    so it is right as soon as day 0 is recorded, also for samples taken before. Laboratory CTCAE grades are
    computed by the service for neutrophils, lymphocytes, WBC, platelets and haemoglobin and stored with their
    version.
    """

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="lab_results", verbose_name=_("patient")
    )
    sampled_at = models.DateTimeField(_("sample time"))
    sampled_on = models.DateField(_("sample date (centre's time zone)"), editable=False)
    analyte = models.CharField(_("analyte"), max_length=20, choices=ANALYTE_CHOICES)
    value_reported = models.CharField(_("value as reported"), max_length=30)
    unit_reported = models.CharField(_("unit as reported"), max_length=20)
    value = models.FloatField(_("value (canonical unit)"), editable=False)
    lln = models.FloatField(_("lower limit of normal (canonical unit)"), null=True, blank=True)
    uln = models.FloatField(_("upper limit of normal (canonical unit)"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=LabSource.choices, default=LabSource.LOCAL)
    ctcae_term = models.CharField(_("CTCAE term"), max_length=40, blank=True, editable=False)
    ctcae_grade = models.PositiveSmallIntegerField(_("CTCAE grade"), null=True, blank=True, editable=False)
    ctcae_version = models.CharField(_("CTCAE version"), max_length=10, blank=True, editable=False)

    class Meta:
        ordering = ["patient", "sampled_at", "analyte"]
        verbose_name = _("laboratory result")
        constraints = [
            models.CheckConstraint(condition=models.Q(value__gte=0), name="lab_value_not_negative"),
            models.CheckConstraint(
                condition=models.Q(lln__isnull=True)
                | models.Q(uln__isnull=True)
                | models.Q(uln__gte=models.F("lln")),
                name="lab_uln_not_below_lln",
            ),
            models.CheckConstraint(
                condition=models.Q(ctcae_grade__isnull=True) | models.Q(ctcae_grade__lte=4),
                name="lab_ctcae_grade_range",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "analyte", "sampled_on"], name="lab_patient_analyte_day_idx")
        ]

    def __str__(self) -> str:
        return f"{self.analyte} {self.value_reported} {self.unit_reported}"

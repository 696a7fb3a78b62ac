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
            models.Index(fields=["patient", "analyte", "sampled_on"], name="lab_patient_analyte_day_idx"),
            # A patient's labs since a day, whatever the analyte (the daily digest's completeness check, last
            # data per patient): without it PostgreSQL reads every value of the patient and filters them.
            models.Index(fields=["patient", "sampled_on"], name="lab_patient_day_idx"),
            # The course's CAR T/CD19/IgG figures and the ICAHT ANC series of many patients at once
            # (case-series exports, outcomes.selectors and adverse_events.selectors): on PostgreSQL an
            # index-only scan of these four analytes' values instead of reading every laboratory row (10,000
            # patients: 0.57 → 0.34 s and 0.56 → 0.30 s, bench/RESULTS.md). SQLite ignores ``include``.
            models.Index(
                fields=["patient", "analyte", "sampled_on"],
                include=["value", "sampled_at"],
                condition=models.Q(voided_at__isnull=True, analyte__in=["anc", "car_t", "igg", "cd19"]),
                name="lab_course_safety_cover_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.analyte} {self.value_reported} {self.unit_reported}"


class TimepointKind(models.TextChoices):
    PRE_INFUSION = "pre_infusion", _("Before infusion")
    DAY0 = "day0", _("Day 0")
    INPATIENT = "inpatient", _("Inpatient daily")
    FOLLOW_UP = "follow_up", _("Follow-up")


class ScheduleTimepoint(models.Model):
    """A nominal timepoint relative to day 0 with its window (visit schedule as data, DESIGN §4).

    ``expected`` lists, per diagnosis code, the instruments and lab groups expected at this timepoint, e.g.
    ``{"sle": ["sledai", "cbc", "serology"], "jdm": ["jdm", "cbc", "muscle"], "*": ["cbc", "car_t"]}``.
    """

    protocol = models.CharField(_("protocol"), max_length=50, default="default")
    code = models.SlugField(_("code"), max_length=20)
    label = models.CharField(_("label"), max_length=50)
    kind = models.CharField(_("kind"), max_length=20, choices=TimepointKind.choices)
    nominal_day = models.IntegerField(_("nominal study day"))
    window_before_days = models.PositiveIntegerField(_("window before (days)"), default=0)
    window_after_days = models.PositiveIntegerField(_("window after (days)"), default=0)
    expected = models.JSONField(_("expected instruments and labs"), default=dict, blank=True)

    class Meta:
        ordering = ["protocol", "nominal_day"]
        verbose_name = _("schedule timepoint")
        constraints = [
            models.UniqueConstraint(fields=["protocol", "code"], name="timepoint_code_unique_per_protocol"),
        ]

    def __str__(self) -> str:
        return self.label

    def window(self) -> tuple[int, int]:
        return self.nominal_day - self.window_before_days, self.nominal_day + self.window_after_days

    def expected_for(self, diagnosis: str) -> list[str]:
        return list(dict.fromkeys([*self.expected.get("*", []), *self.expected.get(diagnosis, [])]))


class Visit(ClinicalRecord):
    """A visit at a nominal timepoint (or unscheduled), with the instruments of the patient's diagnosis.

    ``row_version`` implements optimistic locking: an edit must name the version it started from.
    """

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="visits", verbose_name=_("patient")
    )
    timepoint = models.ForeignKey(
        ScheduleTimepoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visits",
        verbose_name=_("timepoint"),
        help_text=_("Empty for an unscheduled visit."),
    )
    visit_date = models.DateField(_("visit date"))
    assessed_by = models.CharField(_("assessed by"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    row_version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        ordering = ["patient", "visit_date", "pk"]
        verbose_name = _("visit")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "timepoint"],
                condition=models.Q(timepoint__isnull=False, voided_at__isnull=True),
                name="visit_one_per_timepoint",
            ),
        ]
        indexes = [models.Index(fields=["patient", "visit_date"], name="visit_patient_date_idx")]

    def __str__(self) -> str:
        return f"{self.timepoint or _('unscheduled')} {self.visit_date}"


class SledaiAssessment(ClinicalRecord):
    """SLE instruments of a visit: SLEDAI-2K descriptors (10-day window), PGA, DORIS, LLDAS, renal."""

    centre_lookup = "visit__patient__centre"

    visit = models.OneToOneField(
        Visit, on_delete=models.PROTECT, related_name="sledai", verbose_name=_("visit")
    )
    descriptors = models.JSONField(_("SLEDAI-2K descriptors present"), default=list, blank=True)
    physician_global = models.DecimalField(
        _("physician global assessment (0–3)"), max_digits=3, decimal_places=1
    )
    new_activity = models.BooleanField(_("new disease activity since last visit"), default=False)
    non_standard_immunosuppression = models.BooleanField(_("non-standard immunosuppression"), default=False)
    haemolytic_anaemia_or_gi_activity = models.BooleanField(
        _("haemolytic anaemia or GI activity"), default=False
    )
    prednisone_mg_per_day = models.DecimalField(
        _("prednisone-equivalent (mg/day)"), max_digits=6, decimal_places=2, editable=False, default=0
    )
    upcr_g_g = models.DecimalField(_("UPCR (g/g)"), max_digits=6, decimal_places=2, null=True, blank=True)
    egfr = models.DecimalField(
        _("eGFR (mL/min/1.73 m²)"), max_digits=6, decimal_places=1, null=True, blank=True, editable=False
    )
    sledai_2k = models.PositiveSmallIntegerField(_("SLEDAI-2K"), editable=False)
    clinical_sledai_2k = models.PositiveSmallIntegerField(_("clinical SLEDAI-2K"), editable=False)
    doris_remission = models.BooleanField(_("DORIS remission"), editable=False)
    lldas = models.BooleanField(_("LLDAS"), editable=False)
    scores_version = models.CharField(_("scores version"), max_length=20, editable=False)

    class Meta:
        verbose_name = _("SLE assessment")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(physician_global__gte=0, physician_global__lte=3), name="sledai_pga_range"
            ),
            models.CheckConstraint(condition=models.Q(sledai_2k__lte=105), name="sledai_total_range"),
        ]


class JdmAssessment(ClinicalRecord):
    """JDM instruments of a visit: CMAS, MMT8, CDASI and CHAQ subtotals, globals, ACR/EULAR response."""

    centre_lookup = "visit__patient__centre"

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="jdm", verbose_name=_("visit"))
    cmas_items = models.JSONField(_("CMAS items"), default=dict, blank=True)
    cmas_timed_seconds = models.JSONField(_("CMAS timed items (seconds)"), default=dict, blank=True)
    mmt8_items = models.JSONField(_("MMT8 items"), default=dict, blank=True)
    cdasi_activity = models.DecimalField(
        _("CDASI activity"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    cdasi_damage = models.DecimalField(
        _("CDASI damage"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    chaq = models.DecimalField(
        _("CHAQ disability index (0–3)"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    physician_global = models.DecimalField(
        _("physician global activity (0–10)"), max_digits=3, decimal_places=1
    )
    patient_global = models.DecimalField(
        _("patient/parent global activity (0–10)"), max_digits=3, decimal_places=1, null=True, blank=True
    )
    extramuscular = models.DecimalField(
        _("extramuscular activity (0–10)"), max_digits=3, decimal_places=1, null=True, blank=True
    )
    cmas = models.PositiveSmallIntegerField(_("CMAS (0–52)"), null=True, blank=True, editable=False)
    mmt8 = models.PositiveSmallIntegerField(_("MMT8 (0–80)"), null=True, blank=True, editable=False)
    total_improvement_score = models.DecimalField(
        _("total improvement score"), max_digits=5, decimal_places=1, null=True, blank=True, editable=False
    )
    response = models.CharField(_("ACR/EULAR response"), max_length=10, blank=True, editable=False)
    printo_inactive = models.BooleanField(_("PRINTO clinically inactive"), null=True, editable=False)
    scores_version = models.CharField(_("scores version"), max_length=20, editable=False)

    class Meta:
        verbose_name = _("JDM assessment")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(physician_global__gte=0, physician_global__lte=10), name="jdm_pga_range"
            ),
            models.CheckConstraint(
                condition=models.Q(cmas__isnull=True) | models.Q(cmas__lte=52), name="jdm_cmas_range"
            ),
            models.CheckConstraint(
                condition=models.Q(mmt8__isnull=True) | models.Q(mmt8__lte=80), name="jdm_mmt8_range"
            ),
        ]


class SscAssessment(ClinicalRecord):
    """SSc instruments at a visit: mRSS (17 sites), lung function, the revised EUSTAR activity index."""

    centre_lookup = "visit__patient__centre"

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="ssc", verbose_name=_("visit"))
    mrss_sites = models.JSONField(_("mRSS sites"), default=dict)
    fvc_percent_predicted = models.DecimalField(
        _("FVC (% predicted)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    dlco_percent_predicted = models.DecimalField(
        _("DLCO (% predicted)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    skin_worsening = models.BooleanField(_("patient-reported skin worsening (last month)"), default=False)
    digital_ulcers = models.BooleanField(_("active digital ulcers"), default=False)
    tendon_friction_rubs = models.BooleanField(_("tendon friction rubs"), default=False)
    raynaud = models.BooleanField(_("Raynaud's phenomenon"), default=False)
    crp_mg_dl = models.DecimalField(_("CRP (mg/dL)"), max_digits=6, decimal_places=2, null=True, blank=True)
    mrss = models.PositiveSmallIntegerField(_("mRSS (0–51)"), editable=False)
    eustar_activity_index = models.DecimalField(
        _("revised EUSTAR activity index"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        editable=False,
    )
    eustar_active = models.BooleanField(_("active (EUSTAR-AI ≥ 2.5)"), null=True, editable=False)
    scores_version = models.CharField(_("scores version"), max_length=20, editable=False)

    class Meta:
        verbose_name = _("SSc assessment")
        constraints = [models.CheckConstraint(condition=models.Q(mrss__lte=51), name="ssc_mrss_range")]


class MedicationClass(models.TextChoices):
    GLUCOCORTICOID = "glucocorticoid", _("Glucocorticoid")
    IMMUNOMODULATOR = "immunomodulator", _("Immunomodulator / immunosuppressant")
    IVIG = "ivig", _("Intravenous immunoglobulin")
    OTHER = "other", _("Other")


class DoseUnit(models.TextChoices):
    MG = "mg", "mg"
    MG_KG = "mg/kg", "mg/kg"
    G = "g", "g"
    G_KG = "g/kg", "g/kg"
    MG_M2 = "mg/m2", "mg/m²"


class Frequency(models.TextChoices):
    ONCE = "once", _("Once")
    DAILY = "daily", _("Once daily")
    BID = "bid", _("Twice daily")
    TID = "tid", _("Three times daily")
    ALTERNATE = "alternate_days", _("Alternate days")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


# Doses per day for each frequency (for the daily prednisone-equivalent).
DOSES_PER_DAY = {
    "once": 0.0,
    "daily": 1.0,
    "bid": 2.0,
    "tid": 3.0,
    "alternate_days": 0.5,
    "weekly": 1 / 7,
    "monthly": 1 / 30.4375,
}


class StopReasonMed(models.TextChoices):
    TAPER_COMPLETED = "taper_completed", _("Taper completed")
    NOT_NEEDED = "not_needed", _("No longer needed (remission)")
    CAR_T = "car_t", _("Stopped for CAR T")
    TOXICITY = "toxicity", _("Toxicity")
    OTHER = "other", _("Other")


class Medication(ClinicalRecord):
    """An immunomodulator, glucocorticoid or IVIG course; glucocorticoids get a prednisone-equivalent."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="medications", verbose_name=_("patient")
    )
    drug = models.CharField(_("drug"), max_length=100)
    medication_class = models.CharField(_("class"), max_length=20, choices=MedicationClass.choices)
    dose = models.DecimalField(_("dose"), max_digits=8, decimal_places=3)
    dose_unit = models.CharField(_("unit"), max_length=10, choices=DoseUnit.choices)
    route = models.CharField(_("route"), max_length=20, default="oral")
    frequency = models.CharField(_("frequency"), max_length=20, choices=Frequency.choices)
    started_on = models.DateField(_("start"))
    stopped_on = models.DateField(_("stop"), null=True, blank=True)
    stop_reason = models.CharField(
        _("reason stopped"), max_length=20, choices=StopReasonMed.choices, blank=True
    )
    restarted_for_disease_activity = models.BooleanField(
        _("started for disease activity (flare)"),
        default=False,
        help_text=_("An immunomodulator (re)started after CAR T because the disease became active again."),
    )
    prednisone_equivalent_mg_per_day = models.DecimalField(
        _("prednisone-equivalent (mg/day)"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        editable=False,
    )

    class Meta:
        ordering = ["patient", "started_on", "pk"]
        verbose_name = _("medication")
        constraints = [
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="medication_dose_positive"),
            models.CheckConstraint(
                condition=models.Q(stopped_on__isnull=True)
                | models.Q(stopped_on__gte=models.F("started_on")),
                name="medication_stop_after_start",
            ),
        ]

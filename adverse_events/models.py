"""Toxicity after CAR T: CRS and ICANS assessments (graded from raw observations), supportive care for
haematotoxicity, infections and other adverse events.

CRS, ICANS and laboratory grades are computed by :mod:`adverse_events.grading` in the services and stored with
their inputs, the published rule and the registry's algorithm version; they are never typed. Infection grades
are proposed by the registry and confirmed by the clinician; other AEs are graded by the clinician
(CTCAE 5.0).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from adverse_events import grading
from patients.models import Patient
from registry.models import ClinicalRecord


def _choices(codes, labels=None):
    labels = labels or {}
    return [(c, labels.get(c, c.replace("_", " ").capitalize())) for c in codes]


OXYGEN_DEVICE_CHOICES = _choices(
    grading.OXYGEN_DEVICES,
    {
        "none": _("None (room air)"),
        "blow_by": _("Blow-by"),
        "nasal_cannula": _("Nasal cannula (low or high flow: give flow)"),
        "high_flow_nasal_cannula": _("High-flow nasal cannula"),
        "cpap": "CPAP",
        "bipap": "BiPAP",
        "mechanical_ventilation": _("Mechanical ventilation"),
    },
)
VASOPRESSOR_CHOICES = _choices(grading.VASOPRESSORS)


class CrsAssessment(ClinicalRecord):
    """A time-stamped CRS assessment; the ASTCT 2019 grade is computed from the observations."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="crs_assessments", verbose_name=_("patient")
    )
    assessed_at = models.DateTimeField(_("assessed at"))
    max_temperature_c = models.DecimalField(
        _("maximum temperature (°C)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(30), MaxValueValidator(45)],
    )
    fever_other_cause = models.BooleanField(_("fever attributed to another cause"), default=False)
    antipyretic_given = models.BooleanField(_("antipyretic given"), default=False)
    hypotension = models.BooleanField(_("hypotension (fluids needed)"), default=False)
    fluid_bolus_ml_per_kg = models.DecimalField(
        _("fluid bolus (mL/kg)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(200)],
    )
    vasopressors = models.JSONField(
        _("vasopressors"),
        default=list,
        blank=True,
        help_text=_('List of {"agent": code, "dose_mcg_kg_min": number}.'),
    )
    oxygen_device = models.CharField(
        _("oxygen device"), max_length=30, choices=OXYGEN_DEVICE_CHOICES, default="none"
    )
    oxygen_flow_l_min = models.DecimalField(
        _("oxygen flow (L/min)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(80)],
    )
    tocilizumab_mg_per_kg = models.DecimalField(
        _("tocilizumab (mg/kg)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(12)],
    )
    corticosteroid_given = models.BooleanField(_("corticosteroid given for CRS"), default=False)
    anakinra_given = models.BooleanField(_("anakinra given"), default=False)
    died_of_crs = models.BooleanField(_("died of CRS"), default=False)
    after_anticytokine_or_antipyretic = models.BooleanField(
        _("CRS already treated (fever no longer required)"), default=False, editable=False
    )
    grade = models.PositiveSmallIntegerField(_("CRS grade"), editable=False)
    rule = models.CharField(_("grading rule"), max_length=30, editable=False, default=grading.CRS_RULE)
    algorithm_version = models.CharField(
        _("algorithm version"), max_length=20, editable=False, default=grading.ALGORITHM_VERSION
    )

    class Meta:
        ordering = ["patient", "assessed_at"]
        verbose_name = _("CRS assessment")
        constraints = [
            models.CheckConstraint(condition=models.Q(grade__gte=0, grade__lte=5), name="crs_grade_range"),
            models.CheckConstraint(
                condition=models.Q(max_temperature_c__isnull=True)
                | models.Q(max_temperature_c__gte=30, max_temperature_c__lte=45),
                name="crs_temperature_plausible",
            ),
        ]
        indexes = [models.Index(fields=["patient", "assessed_at"], name="crs_patient_time_idx")]

    @property
    def anticytokine_or_antipyretic_given(self) -> bool:
        return (
            bool(self.tocilizumab_mg_per_kg)
            or self.corticosteroid_given
            or self.anakinra_given
            or self.antipyretic_given
        )


class IcansTool(models.TextChoices):
    ICE = "ice", _("ICE (age ≥ 12)")
    CAPD = "capd", _("CAPD (age < 12 or developmental delay)")


class IcansAssessment(ClinicalRecord):
    """A time-stamped ICANS assessment with ICE (≥ 12 years) or CAPD (< 12 or developmental delay)."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="icans_assessments", verbose_name=_("patient")
    )
    assessed_at = models.DateTimeField(_("assessed at"))
    age_years = models.DecimalField(
        _("age at assessment (years)"), max_digits=5, decimal_places=2, editable=False
    )
    developmental_delay = models.BooleanField(_("developmental delay"), default=False)
    tool = models.CharField(_("tool"), max_length=5, choices=IcansTool.choices, editable=False)
    ice_items = models.JSONField(
        _("ICE items"),
        null=True,
        blank=True,
        help_text=_("orientation 0–4, naming 0–3, following_commands, writing, attention 0–1"),
    )
    capd_answers = models.JSONField(
        _("CAPD answers"),
        null=True,
        blank=True,
        help_text=_("items 1–8: never / rarely / sometimes / often / always"),
    )
    ice_score = models.PositiveSmallIntegerField(_("ICE score"), null=True, blank=True, editable=False)
    capd_score = models.PositiveSmallIntegerField(_("CAPD score"), null=True, blank=True, editable=False)
    unable_to_perform = models.BooleanField(_("unable to perform the assessment"), default=False)
    awake_with_global_aphasia = models.BooleanField(_("awake with global aphasia"), default=False)
    consciousness = models.CharField(
        _("level of consciousness"),
        max_length=30,
        choices=_choices(grading.CONSCIOUSNESS_LEVELS),
        default="alert",
    )
    seizure = models.CharField(
        _("seizure"), max_length=30, choices=_choices(grading.SEIZURE_CODES), default="none"
    )
    motor = models.CharField(
        _("motor findings"), max_length=30, choices=_choices(grading.MOTOR_CODES), default="none"
    )
    cerebral_edema = models.CharField(
        _("raised ICP / cerebral oedema"),
        max_length=30,
        choices=_choices(grading.CEREBRAL_EDEMA_CODES),
        default="none",
    )
    findings_other_cause = models.TextField(
        _("findings attributed to another cause"),
        blank=True,
        help_text=_("Recorded but not graded (e.g. sedation, infection, haemorrhage)."),
    )
    died_of_icans = models.BooleanField(_("died of ICANS"), default=False)
    grade = models.PositiveSmallIntegerField(_("ICANS grade"), editable=False)
    rule = models.CharField(_("grading rule"), max_length=30, editable=False, default=grading.ICANS_RULE)
    algorithm_version = models.CharField(
        _("algorithm version"), max_length=20, editable=False, default=grading.ALGORITHM_VERSION
    )

    class Meta:
        ordering = ["patient", "assessed_at"]
        verbose_name = _("ICANS assessment")
        constraints = [
            models.CheckConstraint(condition=models.Q(grade__gte=0, grade__lte=5), name="icans_grade_range"),
            models.CheckConstraint(
                condition=models.Q(ice_score__isnull=True) | models.Q(ice_score__lte=10),
                name="icans_ice_score_range",
            ),
            models.CheckConstraint(
                condition=models.Q(capd_score__isnull=True) | models.Q(capd_score__lte=32),
                name="icans_capd_score_range",
            ),
        ]
        indexes = [models.Index(fields=["patient", "assessed_at"], name="icans_patient_time_idx")]


class SupportiveCareKind(models.TextChoices):
    RBC = "rbc_transfusion", _("Red-cell transfusion")
    PLATELETS = "platelet_transfusion", _("Platelet transfusion")
    GCSF = "gcsf", _("G-CSF")
    TPO = "tpo_agonist", _("Thrombopoietin agonist")
    STEM_CELL_BOOST = "stem_cell_boost", _("Stem-cell boost")


class SupportiveCare(ClinicalRecord):
    """Transfusions and growth factors given for haematotoxicity."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="supportive_care", verbose_name=_("patient")
    )
    kind = models.CharField(_("kind"), max_length=30, choices=SupportiveCareKind.choices)
    started_on = models.DateField(_("start"))
    ended_on = models.DateField(_("end"), null=True, blank=True)
    units = models.PositiveSmallIntegerField(
        _("units / doses"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )

    class Meta:
        ordering = ["patient", "started_on"]
        verbose_name = _("supportive care")
        verbose_name_plural = _("supportive care")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_on__isnull=True) | models.Q(ended_on__gte=models.F("started_on")),
                name="supportive_care_end_after_start",
            ),
        ]


class OrganismType(models.TextChoices):
    BACTERIAL = "bacterial", _("Bacterial")
    VIRAL = "viral", _("Viral")
    FUNGAL = "fungal", _("Fungal")
    PARASITIC = "parasitic", _("Parasitic")
    UNKNOWN = "unknown", _("Not identified")


class TreatmentRoute(models.TextChoices):
    NONE = "none", _("None")
    TOPICAL = "topical", _("Topical")
    ORAL = "oral", _("Oral")
    IV = "iv", _("Intravenous")


class AeOutcome(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    RESOLVED_SEQUELAE = "resolved_with_sequelae", _("Resolved with sequelae")
    ONGOING = "ongoing", _("Ongoing")
    FATAL = "fatal", _("Fatal")
    UNKNOWN = "unknown", _("Unknown")


class Infection(ClinicalRecord):
    """An infection; the registry proposes a CTCAE grade from the facts and the clinician confirms it."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="infections", verbose_name=_("patient")
    )
    onset_on = models.DateField(_("onset"))
    site = models.CharField(
        _("site"), max_length=100, help_text=_("e.g. upper respiratory tract, urinary tract")
    )
    organism_type = models.CharField(_("organism type"), max_length=20, choices=OrganismType.choices)
    organism = models.CharField(_("organism"), max_length=100, blank=True)
    treatment_route = models.CharField(_("treatment"), max_length=10, choices=TreatmentRoute.choices)
    invasive_intervention = models.BooleanField(_("invasive intervention"), default=False)
    hospitalised = models.BooleanField(_("hospitalised"), default=False)
    icu = models.BooleanField(_("intensive care"), default=False)
    life_threatening = models.BooleanField(_("life-threatening"), default=False)
    outcome = models.CharField(_("outcome"), max_length=30, choices=AeOutcome.choices)
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    proposed_grade = models.PositiveSmallIntegerField(_("proposed CTCAE grade"), editable=False)
    grade = models.PositiveSmallIntegerField(
        _("CTCAE grade (confirmed)"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    ctcae_version = models.CharField(
        _("CTCAE version"), max_length=10, default=grading.CTCAE_VERSION, editable=False
    )

    SEVERE_GRADE = 3

    class Meta:
        ordering = ["patient", "onset_on"]
        verbose_name = _("infection")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(grade__gte=1, grade__lte=5), name="infection_grade_range"
            ),
            models.CheckConstraint(
                condition=models.Q(resolved_on__isnull=True)
                | models.Q(resolved_on__gte=models.F("onset_on")),
                name="infection_resolved_after_onset",
            ),
        ]

    @property
    def is_severe(self) -> bool:
        return self.grade >= self.SEVERE_GRADE


class Attribution(models.TextChoices):
    CAR_T = "car_t", _("CAR T cells")
    LYMPHODEPLETION = "lymphodepletion", _("Lymphodepletion")
    DISEASE = "disease", _("Underlying disease")
    OTHER = "other", _("Other")


class AdverseEvent(ClinicalRecord):
    """Any other adverse event, graded by the clinician with CTCAE 5.0."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="adverse_events", verbose_name=_("patient")
    )
    term = models.CharField(_("CTCAE term"), max_length=200)
    grade = models.PositiveSmallIntegerField(
        _("CTCAE grade"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    serious = models.BooleanField(_("serious"), default=False)
    serious_criteria = models.JSONField(_("seriousness criteria"), default=list, blank=True)
    attribution = models.CharField(_("attribution"), max_length=20, choices=Attribution.choices)
    started_on = models.DateField(_("start"))
    ended_on = models.DateField(_("end"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=30, choices=AeOutcome.choices)
    action_taken = models.CharField(_("action taken"), max_length=200, blank=True)
    ctcae_version = models.CharField(
        _("CTCAE version"), max_length=10, default=grading.CTCAE_VERSION, editable=False
    )

    class Meta:
        ordering = ["patient", "started_on"]
        verbose_name = _("adverse event")
        constraints = [
            models.CheckConstraint(condition=models.Q(grade__gte=1, grade__lte=5), name="ae_grade_range"),
            models.CheckConstraint(
                condition=models.Q(ended_on__isnull=True) | models.Q(ended_on__gte=models.F("started_on")),
                name="ae_end_after_start",
            ),
        ]


SERIOUS_CRITERIA = {
    "death": _("Results in death"),
    "life_threatening": _("Life-threatening"),
    "hospitalisation": _("Requires or prolongs hospitalisation"),
    "disability": _("Persistent or significant disability"),
    "congenital_anomaly": _("Congenital anomaly"),
    "medically_important": _("Other medically important event"),
}

"""Pseudonymous patients, their identity (kept apart), baseline disease, prior therapy and growth."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
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


class ClassificationCriteria(models.TextChoices):
    SLE_2019 = "eular_acr_2019_sle", _("2019 EULAR/ACR SLE")
    IIM_2017 = "eular_acr_2017_iim", _("2017 EULAR/ACR idiopathic inflammatory myopathies")
    SSC_2013 = "acr_eular_2013_ssc", _("2013 ACR/EULAR systemic sclerosis")


# The criteria set that belongs to each diagnosis.
CRITERIA_FOR_DIAGNOSIS = {
    Diagnosis.SLE: ClassificationCriteria.SLE_2019,
    Diagnosis.JDM: ClassificationCriteria.IIM_2017,
    Diagnosis.SSC: ClassificationCriteria.SSC_2013,
}


class TreatmentPathway(models.TextChoices):
    HOSPITAL_EXEMPTION = "hospital_exemption", _("Hospital exemption")
    CLINICAL_TRIAL = "clinical_trial", _("Clinical trial")
    COMPASSIONATE_USE = "compassionate_use", _("Compassionate use")


class PatientStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    LOST = "lost_to_follow_up", _("Lost to follow-up")
    WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    DECEASED = "deceased", _("Deceased")


class DeathRelation(models.TextChoices):
    RELATED = "related", _("Related to CAR T")
    NOT_RELATED = "not_related", _("Not related to CAR T")
    UNKNOWN = "unknown", _("Unknown")


class Patient(ClinicalRecord):
    """A child in the registry, known inside the registry by a centre code such as ``ROM-003``.

    ``day0`` is the date of the (first) CAR T infusion; it is set only by the infusion service and gives every
    clinical date its study day.
    """

    centre_lookup = "centre"

    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="patients", verbose_name=_("centre")
    )
    sequence = models.PositiveIntegerField(_("sequence within centre"), editable=False)
    code = models.CharField(_("registry code"), max_length=12, unique=True, editable=False)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices)
    diagnosis = models.CharField(_("diagnosis"), max_length=10, choices=Diagnosis.choices)
    classification_criteria = models.CharField(
        _("classification criteria met"), max_length=30, choices=ClassificationCriteria.choices, blank=True
    )
    diagnosis_date = models.DateField(_("date of diagnosis"), null=True, blank=True)
    treatment_pathway = models.CharField(
        _("treatment pathway"),
        max_length=30,
        choices=TreatmentPathway.choices,
        default=TreatmentPathway.HOSPITAL_EXEMPTION,
    )
    approval_reference = models.CharField(
        _("approval reference"),
        max_length=100,
        blank=True,
        help_text=_(
            "Hospital-exemption authorisation, trial registration or compassionate-use approval number."
        ),
    )
    guardian_consent_date = models.DateField(_("guardian consent"), null=True, blank=True)
    child_assent_date = models.DateField(_("child assent"), null=True, blank=True)
    reconsent_at_majority_date = models.DateField(_("re-consent at majority"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=PatientStatus.choices, default=PatientStatus.ACTIVE
    )
    status_date = models.DateField(_("status since"), null=True, blank=True)
    death_date = models.DateField(_("date of death"), null=True, blank=True)
    death_cause = models.CharField(_("cause of death"), max_length=200, blank=True)
    death_related_to_car_t = models.CharField(
        _("death related to CAR T"), max_length=20, choices=DeathRelation.choices, blank=True
    )
    day0 = models.DateField(_("day 0 (infusion)"), null=True, blank=True, editable=False)
    is_synthetic = models.BooleanField(
        _("synthetic"),
        default=False,
        editable=False,
        help_text=_("Generated for benchmarks; never a real child."),
    )
    is_illustrative = models.BooleanField(
        _("illustrative demo"),
        default=False,
        editable=False,
        help_text=_("Part of the illustrative reconstruction of the seed case series (invented values)."),
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
            models.CheckConstraint(
                condition=~models.Q(status=PatientStatus.DECEASED) | models.Q(death_date__isnull=False),
                name="patient_deceased_has_death_date",
            ),
        ]
        indexes = [models.Index(fields=["centre", "status"], name="patient_centre_status_idx")]

    def __str__(self) -> str:
        return self.code

    def study_day(self, on) -> int | None:
        """Days from day 0 (the infusion) to ``on``; ``None`` before day 0 is known."""
        if self.day0 is None or on is None:
            return None
        return (on - self.day0).days

    @property
    def accepts_new_data(self) -> bool:
        return self.status != PatientStatus.WITHDRAWN and self.voided_at is None


class PatientIdentity(ClinicalRecord):
    """Who the child is. Only clinicians of the patient's centre see it (DESIGN §5)."""

    patient = models.OneToOneField(
        Patient, on_delete=models.PROTECT, related_name="identity", verbose_name=_("patient")
    )
    given_name = models.CharField(_("given name"), max_length=100)
    family_name = models.CharField(_("family name"), max_length=100)
    date_of_birth = models.DateField(_("date of birth"))
    hospital_number = models.CharField(_("hospital number"), max_length=50, blank=True)
    contact = models.TextField(_("contact"), blank=True, help_text=_("Guardian name, telephone, address."))

    class Meta:
        verbose_name = _("patient identity")
        verbose_name_plural = _("patient identities")

    def __str__(self) -> str:
        return f"identity of {self.patient_id}"


IDENTITY_FIELDS = frozenset({"given_name", "family_name", "date_of_birth", "hospital_number", "contact"})


class Organ(models.TextChoices):
    LUPUS_NEPHRITIS = "lupus_nephritis", _("Lupus nephritis")
    CNS_LUPUS = "cns_lupus", _("Neuropsychiatric (CNS) lupus")
    HAEMATOLOGICAL = "haematological", _("Haematological (cytopenias)")
    SEROSITIS = "serositis", _("Serositis")
    ARTHRITIS = "arthritis", _("Arthritis")
    ILD = "interstitial_lung_disease", _("Interstitial lung disease")
    PULMONARY_HYPERTENSION = "pulmonary_hypertension", _("Pulmonary hypertension")
    CARDIAC = "cardiac", _("Cardiac")
    SKIN = "skin", _("Skin")
    MUSCLE = "muscle", _("Muscle")
    CALCINOSIS = "calcinosis", _("Calcinosis")
    DIGITAL_ULCERS = "digital_ulcers", _("Digital ulcers")
    RAYNAUD = "raynaud", _("Raynaud's phenomenon")
    GASTROINTESTINAL = "gastrointestinal", _("Gastrointestinal")
    DYSPHAGIA = "dysphagia", _("Dysphagia")
    OTHER = "other", _("Other")


class NephritisClass(models.TextChoices):
    I = "I", "ISN/RPS I"  # noqa: E741
    II = "II", "ISN/RPS II"
    III = "III", "ISN/RPS III"
    IV = "IV", "ISN/RPS IV"
    V = "V", "ISN/RPS V"
    III_V = "III+V", "ISN/RPS III+V"
    IV_V = "IV+V", "ISN/RPS IV+V"
    VI = "VI", "ISN/RPS VI"


class OrganInvolvement(ClinicalRecord):
    """Organ involvement at baseline (before the infusion)."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="organ_involvements", verbose_name=_("patient")
    )
    organ = models.CharField(_("organ"), max_length=40, choices=Organ.choices)
    nephritis_class = models.CharField(
        _("ISN/RPS class"),
        max_length=10,
        choices=NephritisClass.choices,
        blank=True,
        help_text=_("Lupus nephritis only."),
    )
    detail = models.CharField(_("detail"), max_length=200, blank=True)

    class Meta:
        ordering = ["patient", "organ"]
        verbose_name = _("organ involvement")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "organ"],
                condition=models.Q(voided_at__isnull=True),
                name="organ_involvement_once_per_patient",
            ),
            models.CheckConstraint(
                condition=models.Q(nephritis_class="") | models.Q(organ=Organ.LUPUS_NEPHRITIS),
                name="organ_nephritis_class_only_for_nephritis",
            ),
        ]


class TherapyClass(models.TextChoices):
    GLUCOCORTICOID = "glucocorticoid", _("Glucocorticoid")
    CONVENTIONAL = "conventional_immunosuppressant", _("Conventional immunosuppressant / DMARD")
    ANTIMALARIAL = "antimalarial", _("Antimalarial")
    BIOLOGIC = "biologic", _("Biologic (non-B-cell)")
    B_CELL = "b_cell_targeted", _("B-cell-targeted")
    JAK = "jak_inhibitor", _("JAK inhibitor")
    IVIG = "ivig", _("Intravenous immunoglobulin")
    PLASMA_EXCHANGE = "plasma_exchange", _("Plasma exchange")
    OTHER = "other", _("Other")


class StopReason(models.TextChoices):
    INEFFICACY = "inefficacy", _("Inefficacy")
    INTOLERANCE = "intolerance", _("Intolerance / toxicity")
    OTHER = "other", _("Other")
    CAR_T = "car_t", _("Stopped for CAR T (washout)")


class PriorTherapy(ClinicalRecord):
    """A line of therapy before CAR T. Glucocorticoids are recorded but not counted as a line."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="prior_therapies", verbose_name=_("patient")
    )
    drug = models.CharField(_("drug"), max_length=100)
    therapy_class = models.CharField(_("class"), max_length=40, choices=TherapyClass.choices)
    b_cell_targeted = models.BooleanField(_("B-cell-targeted"), default=False)
    start_date = models.DateField(_("start"), null=True, blank=True)
    stop_date = models.DateField(
        _("stop"),
        null=True,
        blank=True,
        help_text=_("For immunomodulators stopped before apheresis: the washout start."),
    )
    reason_stopped = models.CharField(
        _("reason stopped"), max_length=20, choices=StopReason.choices, blank=True
    )

    class Meta:
        ordering = ["patient", "start_date", "pk"]
        verbose_name = _("prior therapy")
        verbose_name_plural = _("prior therapies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stop_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(stop_date__gte=models.F("start_date")),
                name="prior_therapy_stop_after_start",
            ),
        ]


class GrowthMeasurement(ClinicalRecord):
    """A dated weight and height, with the body-surface area derived and its formula recorded."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="growth", verbose_name=_("patient")
    )
    measured_on = models.DateField(_("measured on"))
    weight_kg = models.DecimalField(
        _("weight (kg)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(2), MaxValueValidator(150)],
    )
    height_cm = models.DecimalField(
        _("height (cm)"),
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(40), MaxValueValidator(210)],
    )
    bsa_m2 = models.DecimalField(_("body-surface area (m²)"), max_digits=5, decimal_places=3, editable=False)
    bsa_formula = models.CharField(_("BSA formula"), max_length=20, editable=False)

    class Meta:
        ordering = ["patient", "-measured_on", "-pk"]
        verbose_name = _("growth measurement")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weight_kg__gte=2, weight_kg__lte=150), name="growth_weight_plausible"
            ),
            models.CheckConstraint(
                condition=models.Q(height_cm__gte=40, height_cm__lte=210), name="growth_height_plausible"
            ),
            models.CheckConstraint(condition=models.Q(bsa_m2__gt=0), name="growth_bsa_positive"),
        ]


class BaselineSummary(models.Model):
    """The baseline at a glance, one row per patient, derived from the current (not voided) organ involvement
    and prior therapies by :func:`patients.baseline.summarise`.

    Never entered: rewritten by ``patients.services`` in the transaction of every write to those rows (and by
    the synthetic generator, which writes them in bulk), so the API's patient list reads a page of patients
    and their baselines in one query. Not audited: its sources are. A patient without a row has no organ
    involvement and no prior therapy recorded.
    """

    patient = models.OneToOneField(
        Patient,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="baseline_summary",
        verbose_name=_("patient"),
    )
    organs = models.TextField(
        _("organ involvement"), blank=True, help_text=_("Organ codes, comma-separated, sorted.")
    )
    nephritis_class = models.CharField(_("ISN/RPS class"), max_length=10, blank=True)
    prior_therapy_lines = models.PositiveSmallIntegerField(
        _("prior lines of therapy"), default=0, help_text=_("Glucocorticoids are not a line.")
    )
    prior_therapy_classes = models.TextField(
        _("prior therapy classes"),
        blank=True,
        help_text=_("Class codes, comma-separated, sorted, each once."),
    )
    prior_b_cell_targeted = models.BooleanField(_("prior B-cell-targeted therapy"), default=False)

    class Meta:
        verbose_name = _("baseline summary")
        verbose_name_plural = _("baseline summaries")

    def __str__(self) -> str:
        return f"Baseline summary of patient {self.patient_id}"

"""From apheresis to day 0: products, manufacturing runs and bags, lymphodepletion, infusion, admissions.

Cell counts are absolute numbers of cells (e.g. ``car_t_cells`` = 3.0e7), doses per kg are cells/kg.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from patients.models import GrowthMeasurement, Patient
from registry.audit import AuditHistory
from registry.models import ClinicalRecord

MAX_CELLS = 1e12


class Product(models.Model):
    """A CAR T product with its target dose and acceptable dose window (data, not code)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    target_antigen = models.CharField(_("target"), max_length=50, default="CD19")
    costimulatory_domain = models.CharField(_("costimulatory domain"), max_length=50, blank=True)
    vector = models.CharField(_("vector"), max_length=100, blank=True)
    target_cells_per_kg = models.FloatField(_("target dose (CAR+ T cells/kg)"), default=1e6)
    min_cells_per_kg = models.FloatField(_("window minimum (cells/kg)"), null=True, blank=True)
    max_cells_per_kg = models.FloatField(_("window maximum (cells/kg)"), null=True, blank=True)
    min_cells_total = models.FloatField(_("window minimum (total cells)"), null=True, blank=True)
    max_cells_total = models.FloatField(_("window maximum (total cells)"), null=True, blank=True)
    weight_cutoff_kg = models.FloatField(
        _("weight cut-off (kg)"),
        null=True,
        blank=True,
        help_text=_("At or below it the per-kg window applies; above it the total window."),
    )

    history = AuditHistory()

    class Meta:
        ordering = ["name"]
        verbose_name = _("product")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(target_cells_per_kg__gt=0), name="product_target_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Apheresis(ClinicalRecord):
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="aphereses", verbose_name=_("patient")
    )
    performed_on = models.DateField(_("date"))
    cd3_cells_collected = models.FloatField(
        _("CD3+ cells collected"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1e6), MaxValueValidator(1e12)],
        help_text=_("absolute number, e.g. 2.1e9"),
    )
    volume_processed_ml = models.FloatField(
        _("volume processed (mL)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(20000)],
    )
    complications = models.TextField(_("complications"), blank=True)

    class Meta:
        ordering = ["patient", "performed_on"]
        verbose_name = _("apheresis")
        verbose_name_plural = _("aphereses")


class Ward(models.TextChoices):
    WARD = "ward", _("Ward")
    ICU = "icu", _("Intensive care")


class AdmissionReason(models.TextChoices):
    INFUSION = "infusion", _("CAR T infusion")
    TOXICITY = "toxicity", _("Readmission: toxicity")
    INFECTION = "infection", _("Readmission: infection")
    DISEASE = "disease", _("Readmission: disease activity")
    OTHER = "other", _("Other")


class Admission(ClinicalRecord):
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="admissions", verbose_name=_("patient")
    )
    admitted_on = models.DateField(_("admitted"))
    discharged_on = models.DateField(_("discharged"), null=True, blank=True)
    ward = models.CharField(_("ward or ICU"), max_length=10, choices=Ward.choices, default=Ward.WARD)
    reason = models.CharField(_("reason"), max_length=20, choices=AdmissionReason.choices)

    class Meta:
        ordering = ["patient", "admitted_on"]
        verbose_name = _("admission")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discharged_on__isnull=True)
                | models.Q(discharged_on__gte=models.F("admitted_on")),
                name="admission_discharge_after_admission",
            ),
        ]


class ProductState(models.TextChoices):
    FRESH = "fresh", _("Fresh")
    CRYOPRESERVED = "cryopreserved", _("Cryopreserved")


class RunOutcome(models.TextChoices):
    SUCCESS = "success", _("Successful")
    FAILED = "failed", _("Failed")


class ManufacturingRun(ClinicalRecord):
    """A point-of-care manufacturing run from one apheresis."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="manufacturing_runs", verbose_name=_("patient")
    )
    apheresis = models.ForeignKey(
        Apheresis, on_delete=models.PROTECT, related_name="manufacturing_runs", verbose_name=_("apheresis")
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="runs", verbose_name=_("product")
    )
    platform = models.CharField(_("platform"), max_length=100, default="CliniMACS Prodigy")
    site = models.CharField(_("manufacturing site"), max_length=200, blank=True)
    started_on = models.DateField(_("start"))
    finished_on = models.DateField(_("end"))
    product_state = models.CharField(_("fresh or cryopreserved"), max_length=20, choices=ProductState.choices)
    transduction_efficiency_pct = models.DecimalField(
        _("transduction efficiency (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    viability_pct = models.DecimalField(
        _("viability (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    cd4_cd8_ratio = models.DecimalField(
        _("CD4:CD8 ratio"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
    )
    vector_copy_number = models.DecimalField(
        _("vector copy number (copies/cell)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(20)],
    )
    total_viable_car_t_cells = models.FloatField(
        _("total viable CAR+ T cells"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1e5), MaxValueValidator(MAX_CELLS)],
    )
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=RunOutcome.choices, default=RunOutcome.SUCCESS
    )

    class Meta:
        ordering = ["patient", "started_on"]
        verbose_name = _("manufacturing run")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(finished_on__gte=models.F("started_on")),
                name="manufacturing_end_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(transduction_efficiency_pct__isnull=True)
                | models.Q(transduction_efficiency_pct__gte=0, transduction_efficiency_pct__lte=100),
                name="manufacturing_transduction_percent",
            ),
            models.CheckConstraint(
                condition=models.Q(viability_pct__isnull=True)
                | models.Q(viability_pct__gte=0, viability_pct__lte=100),
                name="manufacturing_viability_percent",
            ),
        ]

    @property
    def duration_days(self) -> int:
        return (self.finished_on - self.started_on).days


class ProductBag(ClinicalRecord):
    """One drug-product bag of a run; its concentration gives the infusion volume."""

    centre_lookup = "run__patient__centre"

    run = models.ForeignKey(
        ManufacturingRun, on_delete=models.PROTECT, related_name="bags", verbose_name=_("run")
    )
    identifier = models.CharField(_("bag identifier"), max_length=50)
    car_t_cells = models.FloatField(
        _("CAR+ T cells in bag"), validators=[MinValueValidator(1e4), MaxValueValidator(MAX_CELLS)]
    )
    volume_ml = models.DecimalField(
        _("volume (mL)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(500)],
    )

    class Meta:
        ordering = ["run", "identifier"]
        verbose_name = _("product bag")
        constraints = [
            models.UniqueConstraint(fields=["run", "identifier"], name="bag_identifier_unique_per_run"),
            models.CheckConstraint(condition=models.Q(car_t_cells__gt=0), name="bag_cells_positive"),
            models.CheckConstraint(condition=models.Q(volume_ml__gt=0), name="bag_volume_positive"),
        ]

    def __str__(self) -> str:
        return self.identifier

    @property
    def cells_per_ml(self) -> float:
        return self.car_t_cells / float(self.volume_ml)


class ReleaseTestKind(models.TextChoices):
    STERILITY = "sterility", _("Sterility")
    ENDOTOXIN = "endotoxin", _("Endotoxin (EU/mL)")
    MYCOPLASMA = "mycoplasma", _("Mycoplasma")
    VCN = "vcn", _("Vector copy number (copies/cell)")
    VIABILITY = "viability", _("Viability (%)")
    IDENTITY = "identity", _("Identity (CAR+ %)")


# Numeric tests are judged against [spec_min, spec_max]; categorical tests against the expected text.
NUMERIC_RELEASE_TESTS = {
    ReleaseTestKind.ENDOTOXIN,
    ReleaseTestKind.VCN,
    ReleaseTestKind.VIABILITY,
    ReleaseTestKind.IDENTITY,
}


class ReleaseTest(ClinicalRecord):
    centre_lookup = "run__patient__centre"

    run = models.ForeignKey(
        ManufacturingRun, on_delete=models.PROTECT, related_name="release_tests", verbose_name=_("run")
    )
    kind = models.CharField(_("test"), max_length=20, choices=ReleaseTestKind.choices)
    spec_min = models.FloatField(_("specification minimum"), null=True, blank=True)
    spec_max = models.FloatField(_("specification maximum"), null=True, blank=True)
    spec_expected = models.CharField(
        _("expected result"),
        max_length=50,
        blank=True,
        help_text=_("For sterility and mycoplasma, e.g. 'negative'."),
    )
    result_value = models.FloatField(_("result (numeric)"), null=True, blank=True)
    result_text = models.CharField(_("result (text)"), max_length=50, blank=True)
    passed = models.BooleanField(_("within specification"), editable=False)

    class Meta:
        ordering = ["run", "kind"]
        verbose_name = _("release test")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind"],
                condition=models.Q(voided_at__isnull=True),
                name="release_test_once_per_run",
            ),
        ]


class LymphodepletionAgent(models.TextChoices):
    FLUDARABINE = "fludarabine", _("Fludarabine")
    CYCLOPHOSPHAMIDE = "cyclophosphamide", _("Cyclophosphamide")
    BENDAMUSTINE = "bendamustine", _("Bendamustine")


class LymphodepletionDose(ClinicalRecord):
    """One day's dose of a lymphodepleting agent: planned from mg/m² × BSA, compared with what was given."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="lymphodepletion_doses", verbose_name=_("patient")
    )
    agent = models.CharField(_("agent"), max_length=30, choices=LymphodepletionAgent.choices)
    given_on = models.DateField(_("date given"))
    mg_per_m2 = models.DecimalField(
        _("dose (mg/m²)"),
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(3000)],
    )
    growth = models.ForeignKey(
        GrowthMeasurement,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("growth measurement used"),
    )
    bsa_m2 = models.DecimalField(_("BSA used (m²)"), max_digits=5, decimal_places=3, editable=False)
    bsa_formula = models.CharField(_("BSA formula"), max_length=20, editable=False)
    planned_mg = models.DecimalField(_("planned dose (mg)"), max_digits=8, decimal_places=2, editable=False)
    given_mg = models.DecimalField(
        _("dose given (mg)"),
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(10000)],
    )
    deviation_pct = models.DecimalField(_("deviation (%)"), max_digits=7, decimal_places=1, editable=False)

    DEVIATION_FLAG_PCT = 10

    class Meta:
        ordering = ["patient", "given_on", "agent"]
        verbose_name = _("lymphodepletion dose")
        constraints = [
            models.CheckConstraint(condition=models.Q(mg_per_m2__gt=0), name="ld_mg_per_m2_positive"),
            models.CheckConstraint(condition=models.Q(given_mg__gt=0), name="ld_given_positive"),
            models.UniqueConstraint(
                fields=["patient", "agent", "given_on"],
                condition=models.Q(voided_at__isnull=True),
                name="ld_one_dose_per_agent_per_day",
            ),
        ]

    @property
    def deviation_flagged(self) -> bool:
        return abs(self.deviation_pct) > self.DEVIATION_FLAG_PCT


class DoseWindow(models.TextChoices):
    BELOW = "below", _("Below window")
    WITHIN = "within", _("Within window")
    ABOVE = "above", _("Above window")


class Infusion(ClinicalRecord):
    """The CAR T infusion. The first (not a re-infusion) is day 0; only one per patient."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="infusions", verbose_name=_("patient")
    )
    run = models.ForeignKey(
        ManufacturingRun,
        on_delete=models.PROTECT,
        related_name="infusions",
        verbose_name=_("manufacturing run"),
    )
    infused_on = models.DateField(_("infusion date"))
    is_reinfusion = models.BooleanField(
        _("second infusion"),
        default=False,
        help_text=_("A further infusion after day 0; flagged in every output."),
    )
    growth = models.ForeignKey(
        GrowthMeasurement,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("weight measurement used"),
    )
    weight_kg = models.DecimalField(_("weight used (kg)"), max_digits=5, decimal_places=2, editable=False)
    target_cells_per_kg = models.FloatField(
        _("target dose (CAR+ T cells/kg)"), validators=[MinValueValidator(1e3), MaxValueValidator(1e9)]
    )
    cells_required = models.FloatField(_("cells required"), editable=False)
    car_t_cells_infused = models.FloatField(
        _("CAR+ T cells infused"), validators=[MinValueValidator(1e4), MaxValueValidator(MAX_CELLS)]
    )
    volume_infused_ml = models.DecimalField(
        _("volume infused (mL)"),
        max_digits=6,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(1000)],
    )
    dose_per_kg = models.FloatField(_("dose (CAR+ T cells/kg)"), editable=False)
    percent_of_target = models.FloatField(_("% of target"), editable=False)
    dose_window = models.CharField(
        _("dose window"), max_length=10, choices=DoseWindow.choices, editable=False
    )
    out_of_window_justification = models.TextField(_("justification (dose outside window)"), blank=True)
    premedication = models.CharField(
        _("premedication"),
        max_length=200,
        blank=True,
        help_text=_("e.g. paracetamol, antihistamine; no steroids"),
    )
    bags = models.ManyToManyField(
        ProductBag, through="InfusionBag", related_name="infusions", verbose_name=_("bags")
    )

    class Meta:
        ordering = ["patient", "infused_on"]
        verbose_name = _("infusion")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(is_reinfusion=False, voided_at__isnull=True),
                name="infusion_one_day0_per_patient",
            ),
            models.CheckConstraint(
                condition=models.Q(car_t_cells_infused__gt=0), name="infusion_cells_positive"
            ),
            models.CheckConstraint(condition=models.Q(dose_per_kg__gt=0), name="infusion_dose_positive"),
            models.CheckConstraint(
                condition=models.Q(dose_window=DoseWindow.WITHIN) | ~models.Q(out_of_window_justification=""),
                name="infusion_out_of_window_justified",
            ),
        ]


class InfusionBag(models.Model):
    """Which bag went into which infusion; a bag can be infused only once."""

    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, related_name="infusion_bags")
    bag = models.OneToOneField(ProductBag, on_delete=models.PROTECT, related_name="infusion_bag")

    history = AuditHistory()

    class Meta:
        verbose_name = _("infused bag")

    def __str__(self) -> str:
        return f"bag {self.bag_id} in infusion {self.infusion_id}"

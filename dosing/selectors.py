"""Tuned reads for the dosing sections of the patient page and the choices of the dosing forms.

:func:`dosing_page` runs a fixed number of queries whatever the number of rows (pinned in
``tests/patients/test_views.py``). Voided rows are left out; the audit trail keeps them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from dosing.models import (
    Admission,
    Apheresis,
    Infusion,
    InfusionBag,
    LymphodepletionDose,
    ManufacturingRun,
    ProductBag,
    ReleaseTest,
    RunOutcome,
)
from patients.models import Patient


@dataclass
class DosingPage:
    aphereses: list[Apheresis]
    admissions: list[Admission]
    runs: list[ManufacturingRun]
    lymphodepletion: list[LymphodepletionDose]
    infusions: list[Infusion]

    @property
    def first_apheresis_on(self) -> dt.date | None:
        return self.aphereses[0].performed_on if self.aphereses else None


def _study_days(rows: list, patient: Patient, date_field: str) -> None:
    for row in rows:
        row.study_day = patient.study_day(getattr(row, date_field))


def dosing_page(patient: Patient) -> DosingPage:
    """Eight queries: aphereses, admissions, runs (+ product, apheresis), their bags (+ infusion link),
    their release tests, lymphodepletion doses, infusions (+ run, product, apheresis, weight) and the bags of
    those infusions."""
    aphereses = list(
        Apheresis.objects.filter(patient=patient, voided_at__isnull=True).order_by("performed_on", "pk")
    )
    _study_days(aphereses, patient, "performed_on")
    admissions = list(
        Admission.objects.filter(patient=patient, voided_at__isnull=True).order_by("admitted_on", "pk")
    )
    for admission in admissions:
        admission.study_day = patient.study_day(admission.admitted_on)
        admission.discharge_study_day = patient.study_day(admission.discharged_on)
        admission.days = (
            (admission.discharged_on - admission.admitted_on).days if admission.discharged_on else None
        )
    runs = list(
        ManufacturingRun.objects.filter(patient=patient, voided_at__isnull=True)
        .select_related("product", "apheresis")
        .prefetch_related(
            Prefetch(
                "bags",
                queryset=ProductBag.objects.filter(voided_at__isnull=True)
                .select_related("infusion_bag__infusion")
                .order_by("identifier"),
                to_attr="valid_bags",
            ),
            Prefetch(
                "release_tests",
                queryset=ReleaseTest.objects.filter(voided_at__isnull=True).order_by("kind"),
                to_attr="valid_tests",
            ),
        )
        .order_by("started_on", "pk")
    )
    for run in runs:
        run.study_day = patient.study_day(run.started_on)
        run.end_study_day = patient.study_day(run.finished_on)
        run.all_tests_passed = bool(run.valid_tests) and all(t.passed for t in run.valid_tests)
        for bag in run.valid_bags:
            # Reverse one-to-one cached by select_related; missing raises an AttributeError subclass.
            link = getattr(bag, "infusion_bag", None)
            bag.infused_on = link.infusion.infused_on if link else None
        run.has_infused_bag = any(bag.infused_on for bag in run.valid_bags)
    doses = list(
        LymphodepletionDose.objects.filter(patient=patient, voided_at__isnull=True).order_by(
            "given_on", "agent", "pk"
        )
    )
    _study_days(doses, patient, "given_on")
    infusions = list(
        Infusion.objects.filter(patient=patient, voided_at__isnull=True)
        .select_related("run__product", "run__apheresis", "growth")
        .prefetch_related(
            Prefetch(
                "infusion_bags",
                queryset=InfusionBag.objects.select_related("bag").order_by("bag__identifier"),
                to_attr="bag_links",
            )
        )
        .order_by("infused_on", "pk")
    )
    for infusion in infusions:
        infusion.study_day = patient.study_day(infusion.infused_on)
        infusion.vein_to_vein_days = (infusion.infused_on - infusion.run.apheresis.performed_on).days
        infusion.weight_study_day = patient.study_day(infusion.growth.measured_on)
    return DosingPage(aphereses, admissions, runs, doses, infusions)


# --- choices for the forms --------------------------------------------------------------------------------


def apheresis_choices(patient: Patient) -> QuerySet[Apheresis]:
    return Apheresis.objects.filter(patient=patient, voided_at__isnull=True).order_by("-performed_on", "-pk")


def run_choices(patient: Patient, *, successful_only: bool = False) -> QuerySet[ManufacturingRun]:
    runs = ManufacturingRun.objects.filter(patient=patient, voided_at__isnull=True).select_related("product")
    if successful_only:
        runs = runs.filter(outcome=RunOutcome.SUCCESS)
    return runs.order_by("-started_on", "-pk")


def patient_run(patient: Patient, run_id: int) -> ManufacturingRun | None:
    """A valid run of this patient (``None`` when missing, voided or another patient's)."""
    return run_choices(patient).filter(pk=run_id).first()


def bag_choices(patient: Patient) -> QuerySet[ProductBag]:
    """Valid bags of the patient's valid runs; already infused bags come with their infusion link."""
    return (
        ProductBag.objects.filter(run__patient=patient, run__voided_at__isnull=True, voided_at__isnull=True)
        .select_related("run", "infusion_bag")
        .order_by("run__started_on", "identifier")
    )

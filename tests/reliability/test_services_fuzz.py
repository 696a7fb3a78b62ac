"""Absurd input to every write service: a result or a field-specific ValidationError, never half saved.

Every ``@transaction.atomic`` public function of the four clinical apps' ``services.py`` is a write service and
must have an argument strategy below (a new service without one fails
:func:`test_every_write_service_has_a_strategy`). Each hypothesis example runs in a savepoint that is rolled
back, so examples do not see each other's rows.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from adverse_events.models import AdverseEvent, CrsAssessment, IcansAssessment, Infection, SupportiveCare
from adverse_events.services import ICE_ITEMS
from dosing.models import (
    Admission,
    Apheresis,
    Infusion,
    LymphodepletionDose,
    ManufacturingRun,
    Product,
    ProductBag,
    ReleaseTest,
)
from outcomes.models import (
    JdmAssessment,
    LabResult,
    Medication,
    ScheduleTimepoint,
    SledaiAssessment,
    SscAssessment,
    Visit,
)
from outcomes.services import LabInput
from patients.baseline import summarise
from patients.models import (
    BaselineSummary,
    GrowthMeasurement,
    OrganInvolvement,
    Patient,
    PatientIdentity,
    PriorTherapy,
)
from registry.models import CaseSeries
from tests.reliability.absurd import (
    FUZZ_SETTINGS,
    assert_field_specific,
    choice,
    dates,
    datetimes,
    floats,
    numbers,
    texts,
)
from tests.reliability.fuzz_world import DAY0, DOB_TEEN, row_counts, world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
FIXTURES = (world,)  # the module-scoped clinic of fuzz_world, requested by name below

SERVICE_MODULES = ("patients.services", "dosing.services", "outcomes.services", "adverse_events.services")

# Messages that are about the whole record, not one field (documented; anything else must name a field).
FORM_WIDE = (
    r"was voided \(entered in error\)",
    r"Consent was withdrawn",
    r"changed by someone else",
    r"already voided",
    r"^Unknown .* fields",
    r"cannot be changed here",
    r"At most \d+ values",
)


def write_services() -> dict[str, Callable]:
    """Public functions of the services modules wrapped in ``transaction.atomic`` (the write entry points)."""
    found = {}
    for name in SERVICE_MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if (
                inspect.isfunction(obj)
                and not attr.startswith("_")
                and obj.__module__ == name
                and hasattr(obj, "__wrapped__")
            ):
                found[f"{name.split('.')[0]}.{attr}"] = obj
    return found


@dataclass(frozen=True)
class Ref:
    """A record of the world, loaded fresh in each example."""

    model: type
    key: str


def choices_of(model: type, field: str) -> st.SearchStrategy[str]:
    return choice([value for value, _label in model._meta.get_field(field).flatchoices])


def fields_of(*models: type) -> set[str]:
    return {f.name for m in models for f in m._meta.get_fields()}


P = Ref(Patient, "sle")
PRE = Ref(Patient, "pre")
DATE = dates(DOB_TEEN, DAY0)
MOMENT = datetimes("Europe/Rome", DOB_TEEN, DAY0)
REASON = st.one_of(st.just("transcription error"), texts())
BOOL = st.booleans()


def _sub(mapping: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict[str, Any]]:
    """A random non-empty subset of ``mapping``'s keys with drawn values (for ``changes=``)."""
    return st.lists(st.sampled_from(sorted(mapping)), min_size=1, max_size=len(mapping), unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: mapping[k] for k in keys})
    )


PATIENT_FIELDS = {
    "sex": choices_of(Patient, "sex"),
    "diagnosis": choices_of(Patient, "diagnosis"),
    "classification_criteria": choices_of(Patient, "classification_criteria"),
    "diagnosis_date": st.one_of(st.none(), DATE),
    "treatment_pathway": choices_of(Patient, "treatment_pathway"),
    "approval_reference": texts(),
    "guardian_consent_date": st.one_of(st.none(), DATE),
    "child_assent_date": st.one_of(st.none(), DATE),
    "reconsent_at_majority_date": st.one_of(st.none(), DATE),
}
IDENTITY_FIELDS = {
    "given_name": texts(),
    "family_name": texts(),
    "date_of_birth": DATE,
    "hospital_number": texts(),
    "contact": texts(),
}
CRS_OBS = {
    "max_temperature_c": numbers(),
    "fever_other_cause": BOOL,
    "antipyretic_given": BOOL,
    "hypotension": BOOL,
    "fluid_bolus_ml_per_kg": numbers(),
    "vasopressors": st.one_of(
        st.none(),
        st.lists(choice(["norepinephrine", "adrenaline", "vasopressin", "dopamine"]), max_size=3),
        st.lists(
            st.fixed_dictionaries(
                {
                    "agent": choice(["norepinephrine", "vasopressin"]),
                    "dose_mcg_kg_min": st.one_of(st.none(), floats()),
                }
            ),
            max_size=2,
        ),
        texts(),
    ),
    "oxygen_device": choices_of(CrsAssessment, "oxygen_device"),
    "oxygen_flow_l_min": numbers(),
    "tocilizumab_mg_per_kg": numbers(),
    "corticosteroid_given": BOOL,
    "anakinra_given": BOOL,
    "died_of_crs": BOOL,
}
ICE = st.fixed_dictionaries(
    {k: st.integers(-5, 10) for k in ("orientation", "naming", "following_commands", "writing", "attention")}
)
ICANS_OBS = {
    "developmental_delay": BOOL,
    "ice_items": st.one_of(st.none(), st.just({}), ICE, st.dictionaries(texts(), st.integers(), max_size=3)),
    "capd_answers": st.one_of(
        st.none(),
        st.just({}),
        st.dictionaries(
            st.integers(-1, 10), choice(["never", "rarely", "sometimes", "often", "always"]), max_size=9
        ),
    ),
    "unable_to_perform": BOOL,
    "awake_with_global_aphasia": BOOL,
    "consciousness": choices_of(IcansAssessment, "consciousness"),
    "seizure": choices_of(IcansAssessment, "seizure"),
    "motor": choices_of(IcansAssessment, "motor"),
    "cerebral_edema": choices_of(IcansAssessment, "cerebral_edema"),
    "died_of_icans": BOOL,
}


def _lab_item() -> st.SearchStrategy:
    from outcomes.labs import ANALYTES
    from outcomes.services import LabInput

    return st.builds(
        LabInput,
        analyte=choice(list(ANALYTES)),
        value=numbers(),
        unit=choice(["cells/µL", "10^9/L", "g/L", "g/dL", "mg/L", "mg/dL", "µmol/L", "U/L", "G/L"]),
        sampled_at=MOMENT,
        lln=numbers(),
        uln=numbers(),
        source=choices_of(LabResult, "source"),
    )


def _instrument(diagnosis: str) -> st.SearchStrategy[dict[str, Any]]:
    number = st.one_of(numbers(), st.decimals(min_value=0, max_value=10, places=1))
    items = st.dictionaries(texts(), st.one_of(st.integers(-3, 200), floats()), max_size=4)
    if diagnosis == "sle":
        fields = {
            "descriptors": st.lists(
                choice(["arthritis", "rash", "fever", "proteinuria", "seizure"]), max_size=4
            ),
            "physician_global": number,
            "new_activity": BOOL,
            "upcr_g_g": number,
        }
    elif diagnosis == "jdm":
        fields = {
            "physician_global": number,
            "patient_global": number,
            "chaq": number,
            "cdasi_activity": number,
            "mmt8_items": items,
            "cmas_items": items,
            "cmas_timed_seconds": items,
        }
    else:
        fields = {
            "mrss_sites": items,
            "fvc_percent_predicted": number,
            "dlco_percent_predicted": number,
            "skin_worsening": BOOL,
            "crp_mg_dl": number,
        }
    return _sub(fields)


# service → (strategy of keyword arguments, models whose fields may key an error)
STRATEGIES: dict[str, tuple[st.SearchStrategy[dict[str, Any]], tuple[type, ...]]] = {
    "patients.patient_enrol": (
        st.fixed_dictionaries(
            {
                "sex": PATIENT_FIELDS["sex"],
                "diagnosis": PATIENT_FIELDS["diagnosis"],
                "identity": st.one_of(st.none(), st.fixed_dictionaries(IDENTITY_FIELDS)),
            },
            optional={k: v for k, v in PATIENT_FIELDS.items() if k not in ("sex", "diagnosis")},
        ),
        (Patient, PatientIdentity),
    ),
    "patients.patient_update": (
        st.fixed_dictionaries({"patient": st.just(P), "changes": _sub(PATIENT_FIELDS), "reason": REASON}),
        (Patient,),
    ),
    "patients.identity_update": (
        st.fixed_dictionaries({"patient": st.just(P), "changes": _sub(IDENTITY_FIELDS), "reason": REASON}),
        (PatientIdentity,),
    ),
    "patients.patient_set_status": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "status": choices_of(Patient, "status"),
                "reason": REASON,
                "status_date": st.one_of(st.none(), DATE),
                "death_date": st.one_of(st.none(), DATE),
                "death_cause": texts(),
                "death_related_to_car_t": choices_of(Patient, "death_related_to_car_t"),
            }
        ),
        (Patient,),
    ),
    "patients.patient_void": (st.fixed_dictionaries({"patient": st.just(P), "reason": REASON}), (Patient,)),
    "patients.organ_involvement_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "organ": choices_of(OrganInvolvement, "organ"),
                "nephritis_class": choices_of(OrganInvolvement, "nephritis_class"),
                "detail": texts(),
            }
        ),
        (OrganInvolvement,),
    ),
    "patients.prior_therapy_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "drug": texts(),
                "therapy_class": choices_of(PriorTherapy, "therapy_class"),
                "b_cell_targeted": st.one_of(st.none(), BOOL),
                "start_date": st.one_of(st.none(), DATE),
                "stop_date": st.one_of(st.none(), DATE),
                "reason_stopped": choices_of(PriorTherapy, "reason_stopped"),
            }
        ),
        (PriorTherapy,),
    ),
    "patients.prior_therapy_update": (
        st.fixed_dictionaries(
            {
                "therapy": st.just(Ref(PriorTherapy, "therapy")),
                "changes": _sub(
                    {
                        "drug": texts(),
                        "therapy_class": choices_of(PriorTherapy, "therapy_class"),
                        "start_date": st.one_of(st.none(), DATE),
                        "stop_date": st.one_of(st.none(), DATE),
                        "reason_stopped": choices_of(PriorTherapy, "reason_stopped"),
                    }
                ),
                "reason": REASON,
            }
        ),
        (PriorTherapy,),
    ),
    "patients.growth_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "measured_on": DATE,
                "weight_kg": numbers(),
                "height_cm": numbers(),
                "bsa_formula": choice(["mosteller", "haycock", "dubois"]),
            }
        ),
        (GrowthMeasurement,),
    ),
    "patients.record_void": (
        st.fixed_dictionaries(
            {
                "record": st.sampled_from(
                    [Ref(PriorTherapy, "therapy"), Ref(OrganInvolvement, "organ"), Ref(LabResult, "lab")]
                ),
                "reason": REASON,
            }
        ),
        (PriorTherapy,),
    ),
    "patients.case_series_create": (
        st.fixed_dictionaries({"name": texts(), "description": texts()}),
        (CaseSeries,),
    ),
    "patients.case_series_set_patients": (
        st.fixed_dictionaries(
            {"series": st.just("new-series"), "patients": st.lists(st.sampled_from([P, PRE]), max_size=2)}
        ),
        (CaseSeries,),
    ),
    "dosing.apheresis_record": (
        st.fixed_dictionaries(
            {
                "patient": st.sampled_from([P, PRE]),
                "performed_on": DATE,
                "cd3_cells_collected": floats(),
                "volume_processed_ml": numbers(),
                "complications": texts(),
            }
        ),
        (Apheresis,),
    ),
    "dosing.admission_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "admitted_on": DATE,
                "reason": choices_of(Admission, "reason"),
                "discharged_on": st.one_of(st.none(), DATE),
                "ward": choices_of(Admission, "ward"),
            }
        ),
        (Admission,),
    ),
    "dosing.admission_discharge": (
        st.fixed_dictionaries(
            {"admission": st.just(Ref(Admission, "admission")), "discharged_on": DATE, "reason": REASON}
        ),
        (Admission,),
    ),
    "dosing.manufacturing_run_record": (
        st.fixed_dictionaries(
            {
                "apheresis": st.just(Ref(Apheresis, "pre_apheresis")),
                "product": st.just("product"),
                "started_on": DATE,
                "finished_on": DATE,
                "product_state": choices_of(ManufacturingRun, "product_state"),
            },
            optional={
                "platform": texts(),
                "site": texts(),
                "transduction_efficiency_pct": numbers(),
                "viability_pct": numbers(),
                "cd4_cd8_ratio": numbers(),
                "vector_copy_number": numbers(),
                "total_viable_car_t_cells": floats(),
                "outcome": choices_of(ManufacturingRun, "outcome"),
            },
        ),
        (ManufacturingRun,),
    ),
    "dosing.product_bag_record": (
        st.fixed_dictionaries(
            {
                "run": st.just(Ref(ManufacturingRun, "pre_run")),
                "identifier": st.one_of(st.just("BAG-1"), texts()),
                "car_t_cells": st.floats(allow_nan=True, allow_infinity=True),
                "volume_ml": numbers(),
            }
        ),
        (ProductBag,),
    ),
    "dosing.release_test_record": (
        st.fixed_dictionaries(
            {
                "run": st.just(Ref(ManufacturingRun, "pre_run")),
                "kind": choices_of(ReleaseTest, "kind"),
                "spec_min": floats(),
                "spec_max": floats(),
                "spec_expected": texts(),
                "result_value": floats(),
                "result_text": texts(),
            }
        ),
        (ReleaseTest,),
    ),
    "dosing.lymphodepletion_dose_record": (
        st.fixed_dictionaries(
            {
                "patient": st.sampled_from([PRE, P]),
                "agent": choices_of(LymphodepletionDose, "agent"),
                "given_on": DATE,
                "mg_per_m2": numbers(),
                "given_mg": numbers(),
                "growth": st.sampled_from([None, Ref(GrowthMeasurement, "pre_growth")]),
            }
        ),
        (LymphodepletionDose,),
    ),
    "dosing.infusion_record": (
        st.fixed_dictionaries(
            {
                "patient": st.sampled_from([PRE, P]),
                "run": st.sampled_from([Ref(ManufacturingRun, "pre_run"), Ref(ManufacturingRun, "sle_run")]),
                "infused_on": DATE,
                "growth": st.sampled_from(
                    [Ref(GrowthMeasurement, "pre_growth"), Ref(GrowthMeasurement, "sle_growth")]
                ),
                "car_t_cells_infused": st.one_of(
                    st.floats(allow_nan=True, allow_infinity=True), st.just(3e7)
                ),
                "volume_infused_ml": numbers(),
                "bags": st.sampled_from(["pre_bags", "none", "sle_bag"]),
                "target_cells_per_kg": floats(),
                "premedication": texts(),
                "out_of_window_justification": texts(),
                "is_reinfusion": BOOL,
            }
        ),
        (Infusion,),
    ),
    "outcomes.lab_result_record": (
        st.fixed_dictionaries({"patient": st.just(P), "item": _lab_item()}),
        (LabResult,),
    ),
    "outcomes.lab_results_record_many": (
        st.fixed_dictionaries({"patient": st.just(P), "items": st.lists(_lab_item(), max_size=6)}),
        (LabResult,),
    ),
    "outcomes.lab_result_void": (
        st.fixed_dictionaries({"result": st.just(Ref(LabResult, "lab")), "reason": REASON}),
        (LabResult,),
    ),
    "outcomes.visit_record": (
        st.sampled_from(["sle", "jdm", "ssc"]).flatmap(
            lambda dx: st.fixed_dictionaries(
                {
                    "patient": st.just(Ref(Patient, dx)),
                    "visit_date": DATE,
                    "timepoint": st.sampled_from([None, "m3", "d28", "screening", "d7"]),
                    "assessed_by": texts(),
                    "notes": texts(),
                    "instrument": st.one_of(st.none(), _instrument(dx)),
                }
            )
        ),
        (Visit, SledaiAssessment, JdmAssessment, SscAssessment),
    ),
    "outcomes.visit_update": (
        st.sampled_from(["sle", "jdm", "ssc"]).flatmap(
            lambda dx: st.fixed_dictionaries(
                {
                    "visit": st.just(Ref(Visit, f"visit_{dx}")),
                    "expected_version": st.sampled_from([1, 0, 2, -1]),
                    "reason": REASON,
                    "changes": st.one_of(
                        st.none(),
                        _sub(
                            {
                                "visit_date": DATE,
                                "assessed_by": texts(),
                                "notes": texts(),
                                "timepoint": st.sampled_from([None, "m3", "d28"]),
                            }
                        ),
                    ),
                    "instrument": st.one_of(st.none(), _instrument(dx)),
                }
            )
        ),
        (Visit, SledaiAssessment, JdmAssessment, SscAssessment),
    ),
    "outcomes.medication_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "drug": st.one_of(
                    choice(["prednisone", "methylprednisolone", "dexamethasone", "mycophenolate"]), texts()
                ),
                "medication_class": choices_of(Medication, "medication_class"),
                "dose": numbers(),
                "dose_unit": choices_of(Medication, "dose_unit"),
                "frequency": choices_of(Medication, "frequency"),
                "started_on": DATE,
                "route": st.one_of(st.just("oral"), texts()),
                "stopped_on": st.one_of(st.none(), DATE),
                "stop_reason": choices_of(Medication, "stop_reason"),
                "restarted_for_disease_activity": BOOL,
            }
        ),
        (Medication,),
    ),
    "outcomes.medication_stop": (
        st.fixed_dictionaries(
            {
                "medication": st.just(Ref(Medication, "medication")),
                "stopped_on": DATE,
                "stop_reason": choices_of(Medication, "stop_reason"),
                "reason": REASON,
            }
        ),
        (Medication,),
    ),
    "adverse_events.crs_assessment_record": (
        st.fixed_dictionaries({"patient": st.just(P), "assessed_at": MOMENT}, optional=CRS_OBS),
        (CrsAssessment,),
    ),
    "adverse_events.crs_assessment_update": (
        st.fixed_dictionaries(
            {
                "assessment": st.just(Ref(CrsAssessment, "crs")),
                "changes": _sub({**CRS_OBS, "assessed_at": MOMENT}),
                "reason": REASON,
            }
        ),
        (CrsAssessment,),
    ),
    "adverse_events.crs_assessment_void": (
        st.fixed_dictionaries({"assessment": st.just(Ref(CrsAssessment, "crs")), "reason": REASON}),
        (CrsAssessment,),
    ),
    "adverse_events.icans_assessment_record": (
        st.fixed_dictionaries(
            {"patient": st.sampled_from([P, Ref(Patient, "jdm")]), "assessed_at": MOMENT}, optional=ICANS_OBS
        ),
        (IcansAssessment,),
    ),
    "adverse_events.icans_assessment_update": (
        st.fixed_dictionaries(
            {
                "assessment": st.just(Ref(IcansAssessment, "icans")),
                "changes": _sub({**ICANS_OBS, "assessed_at": MOMENT}),
                "reason": REASON,
            }
        ),
        (IcansAssessment,),
    ),
    "adverse_events.supportive_care_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "kind": choices_of(SupportiveCare, "kind"),
                "started_on": DATE,
                "ended_on": st.one_of(st.none(), DATE),
                "units": st.integers(min_value=-(10**12), max_value=10**12),
            }
        ),
        (SupportiveCare,),
    ),
    "adverse_events.infection_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "onset_on": DATE,
                "grade": st.one_of(st.none(), st.integers(-3, 9)),
            },
            optional={
                "site": texts(),
                "organism_type": choices_of(Infection, "organism_type"),
                "organism": texts(),
                "treatment_route": choices_of(Infection, "treatment_route"),
                "invasive_intervention": BOOL,
                "hospitalised": BOOL,
                "icu": BOOL,
                "life_threatening": BOOL,
                "outcome": choices_of(Infection, "outcome"),
                "resolved_on": st.one_of(st.none(), DATE),
            },
        ),
        (Infection,),
    ),
    "adverse_events.adverse_event_record": (
        st.fixed_dictionaries(
            {
                "patient": st.just(P),
                "term": texts(),
                "grade": st.integers(-3, 9),
                "attribution": choices_of(AdverseEvent, "attribution"),
                "started_on": DATE,
                "outcome": choices_of(AdverseEvent, "outcome"),
                "serious": BOOL,
                "serious_criteria": st.one_of(
                    st.none(), st.lists(choice(["death", "hospitalisation", "life_threatening"]), max_size=3)
                ),
                "ended_on": st.one_of(st.none(), DATE),
                "action_taken": texts(),
            }
        ),
        (AdverseEvent,),
    ),
}


def _resolve(value: Any, world) -> Any:
    if isinstance(value, Ref):
        return value.model.objects.get(pk=world.pks[value.key])
    if isinstance(value, list):
        return [_resolve(v, world) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, world) for k, v in value.items()}
    return value


def _special(name: str, kwargs: dict[str, Any], world) -> dict[str, Any]:
    """Arguments that are records chosen by code: the product, bags, timepoints, a fresh case series."""
    if name == "dosing.manufacturing_run_record":
        kwargs["product"] = Product.objects.get()
    if name == "dosing.infusion_record":
        choice_ = kwargs["bags"]
        if choice_ == "pre_bags":
            kwargs["bags"] = list(ProductBag.objects.filter(run_id=world.pks["pre_run"]))
        elif choice_ == "sle_bag":
            kwargs["bags"] = [ProductBag.objects.get(pk=world.pks["sle_bag"])]
        else:
            kwargs["bags"] = []
    for holder in (kwargs, kwargs.get("changes") or {}):
        if isinstance(holder.get("timepoint"), str):
            holder["timepoint"] = ScheduleTimepoint.objects.get(protocol="default", code=holder["timepoint"])
    if name == "patients.case_series_set_patients":
        from patients.services import case_series_create

        kwargs["series"] = case_series_create(name="Fuzz series", recorded_by=world.user)
    if name == "patients.patient_enrol":
        kwargs["centre"] = world.centre
    return kwargs


def _allowed_fields(name: str, func: Callable, models: tuple[type, ...], kwargs: dict[str, Any]) -> set[str]:
    allowed = set(inspect.signature(func).parameters) | fields_of(*models)
    for nested in ("changes", "identity", "instrument"):
        if isinstance(kwargs.get(nested), dict):
            allowed |= set(kwargs[nested])
    if name.startswith("outcomes.lab_result"):
        allowed |= {f.name for f in dataclasses.fields(LabInput)}
    if "icans" in name:
        allowed |= set(ICE_ITEMS)  # the ICE items are fields of the ICANS form
    if name.startswith("outcomes.visit"):
        allowed |= {"sledai", "jdm", "ssc"}
    return allowed


def test_every_write_service_has_a_strategy():
    services = write_services()
    assert len(services) >= 30  # the four apps' write services were found
    missing = sorted(set(services) - set(STRATEGIES))
    assert missing == [], f"write services without a fuzz strategy: {missing}"
    assert sorted(set(STRATEGIES) - set(services)) == []


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_absurd_input_gives_a_result_or_a_field_error_and_saves_nothing_on_rejection(name, world):
    func = write_services()[name]
    strategy, models = STRATEGIES[name]
    outcomes = {"saved": 0, "rejected": 0}

    @FUZZ_SETTINGS
    @given(raw=strategy)
    def run(raw: dict[str, Any]) -> None:
        with transaction.atomic():
            kwargs = _special(name, _resolve(dict(raw), world), world)
            before = row_counts()
            try:
                func(**kwargs, recorded_by=world.user)
            except ValidationError as exc:
                outcomes["rejected"] += 1
                assert row_counts() == before, "a rejected call left rows behind"
                assert_field_specific(exc, _allowed_fields(name, func, models, kwargs), form_wide=FORM_WIDE)
            else:
                outcomes["saved"] += 1
                if name in BASELINE_WRITERS:
                    assert_baseline_summaries_current()
            transaction.set_rollback(True)

    run()
    if name not in NOTHING_TO_REFUSE:
        assert outcomes["rejected"] > 0  # absurd input was generated and refused


# Services that write organ involvement or prior therapies: the stored summary must follow each of them.
BASELINE_WRITERS = {
    "patients.organ_involvement_record",
    "patients.prior_therapy_record",
    "patients.prior_therapy_update",
    "patients.record_void",
}


def assert_baseline_summaries_current() -> None:
    organs, therapies = defaultdict(list), defaultdict(list)
    for pk, *row in OrganInvolvement.objects.filter(voided_at__isnull=True).values_list(
        "patient_id", "organ", "nephritis_class"
    ):
        organs[pk].append(tuple(row))
    for pk, *row in PriorTherapy.objects.filter(voided_at__isnull=True).values_list(
        "patient_id", "therapy_class", "b_cell_targeted"
    ):
        therapies[pk].append(tuple(row))
    stored = {row.pop("patient_id"): row for row in BaselineSummary.objects.values()}
    empty = summarise([], [])
    for pk in Patient.objects.values_list("pk", flat=True):
        assert stored.get(pk, empty) == summarise(organs[pk], therapies[pk]), pk


# Services whose every argument is a record already validated (nothing a user types).
NOTHING_TO_REFUSE = {"patients.case_series_set_patients"}

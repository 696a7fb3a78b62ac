"""The demo loaders anchor every date on the day they are first run (no future dates, idempotent)."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

from adverse_events.models import CrsAssessment, IcansAssessment, Infection, SupportiveCare
from adverse_events.selectors import safety_summaries
from outcomes.models import LabResult
from outcomes.services import local_date
from patients.models import Patient
from registry.demo import load_base_demo
from registry.demo_series import (
    DAYS_PER_MONTH,
    RECENT_DAYS_SINCE_DAY0,
    SERIES_FOLLOW_UP_MONTHS,
    SERIES_NAME,
    load_demo_series,
)
from registry.demo_toxicity import load_demo_toxicity
from registry.models import CaseSeries


def _series() -> list[Patient]:
    return list(CaseSeries.objects.get(name=SERIES_NAME).patients.select_related("centre", "identity"))


def _recent() -> list[Patient]:
    return list(
        Patient.objects.filter(identity__hospital_number__in=list(RECENT_DAYS_SINCE_DAY0)).select_related(
            "centre", "identity"
        )
    )


def test_day0_is_anchored_to_the_load_date(db):
    load_base_demo()
    anchor = dt.date(2025, 3, 1)
    created = load_demo_series(today=anchor)
    assert created["patients"] == 10 and created["case_series"] == 1
    for p in _series():
        months = SERIES_FOLLOW_UP_MONTHS[p.identity.hospital_number]
        assert (anchor - p.day0).days == math.floor(months * DAYS_PER_MONTH + 0.5)
    assert {(anchor - p.day0).days for p in _recent()} == {70, 40}
    assert load_demo_series(today=dt.date(2025, 6, 1))["patients"] == 0


def test_dates_are_anchored_on_day0_and_never_after_the_load_date(db):
    anchor = dt.date(2025, 3, 1)
    load_base_demo()
    load_demo_series(today=anchor)
    created = load_demo_toxicity(today=anchor)
    assert created["crs_assessments"] == 152 and created["icans_assessments"] == 150
    assert created["lab_results"] > 1500
    moments = [
        *CrsAssessment.objects.values_list("assessed_at", flat=True),
        *IcansAssessment.objects.values_list("assessed_at", flat=True),
        *LabResult.objects.values_list("sampled_at", flat=True),
    ]
    assert all(local_date(m, "Europe/Rome") < anchor for m in moments)
    dates = [
        *LabResult.objects.values_list("sampled_on", flat=True),
        *Infection.objects.values_list("onset_on", flat=True),
        *Infection.objects.values_list("resolved_on", flat=True),
        *SupportiveCare.objects.values_list("ended_on", flat=True),
    ]
    assert all(d < anchor for d in dates)
    series = _series()
    summaries = safety_summaries(series)
    assert Counter(s.crs_max_grade for s in summaries.values()) == {1: 6, 0: 2}
    assert Counter(s.icaht_late for s in summaries.values()) == {1: 2, 0: 6}
    assert load_demo_toxicity(today=anchor) == dict.fromkeys(created, 0)

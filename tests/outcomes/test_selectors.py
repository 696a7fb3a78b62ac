"""The derived course of many patients at once, read with the patients' ids as a subquery."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from outcomes import services
from outcomes.selectors import course_summaries
from patients.models import Patient
from tests.outcomes.test_services import DAY0, infused, tp


def test_with_an_id_query_rows_of_other_patients_are_ignored(rome, rome_clinician):
    asked, other = infused(rome, rome_clinician), infused(rome, rome_clinician)
    for patient, day in ((asked, 28), (other, 21)):
        services.visit_record(
            patient=patient,
            timepoint=tp(f"d{day}"),
            visit_date=DAY0 + dt.timedelta(days=day),
            recorded_by=rome_clinician,
            instrument={"descriptors": ["rash"], "physician_global": Decimal("1")},
        )
    # The subquery also finds ``other`` (say, enrolled after the list was read): it must not break the read.
    courses = course_summaries([asked], id_query=Patient.objects.values("pk"))
    assert set(courses) == {asked.pk}
    assert courses[asked.pk].last_follow_up_day == 28
    assert courses[asked.pk].activity == [(28, "SLEDAI-2K", 2.0)]

"""The course's laboratory figures (CAR T peak, IgG nadir, B-cell aplasia and reconstitution), computed by the
database per patient: samples before day 0 do not count, a tie goes to the first sample, reconstitution is a
sample after the one that started aplasia."""

from __future__ import annotations

import datetime as dt

from outcomes import services
from outcomes.selectors import course_summaries
from tests.outcomes.test_services import DAY0, ROME, infused


def lab(patient, user, code, value, unit, day, hour=9):
    moment = dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=ROME)
    services.lab_result_record(
        patient=patient, recorded_by=user, item=services.LabInput(code, value, unit, moment)
    )


def test_samples_before_day_0_do_not_count_and_the_first_of_equal_values_wins(rome, rome_clinician):
    child = infused(rome, rome_clinician)
    lab(child, rome_clinician, "car_t", "90", "cells/µL", -2)  # before the infusion: not the peak
    lab(child, rome_clinician, "car_t", "40", "cells/µL", 5)
    lab(child, rome_clinician, "car_t", "40", "cells/µL", 9)
    lab(child, rome_clinician, "igg", "1.5", "g/L", -5)  # before the infusion: not the nadir
    lab(child, rome_clinician, "igg", "3.2", "g/L", 30)
    lab(child, rome_clinician, "igg", "3.2", "g/L", 60)
    lab(child, rome_clinician, "cd19", "0.2", "cells/µL", -1)  # aplasia before day 0 does not count
    course = course_summaries([child])[child.pk]
    assert (course.car_t_peak_per_ul, course.car_t_peak_day) == (40.0, 5)
    assert (course.igg_nadir_g_l, course.igg_nadir_day) == (3.2, 30)
    assert (course.b_cell_aplasia_day, course.b_cell_reconstitution_day) == (None, None)


def test_reconstitution_is_a_later_sample_than_the_start_of_aplasia(rome, rome_clinician):
    child, other = infused(rome, rome_clinician), infused(rome, rome_clinician)
    lab(child, rome_clinician, "cd19", "25", "cells/µL", 2)  # before aplasia: not a reconstitution
    lab(child, rome_clinician, "cd19", "0.5", "cells/µL", 10, hour=8)
    lab(child, rome_clinician, "cd19", "12", "cells/µL", 10, hour=18)  # same day, later sample
    lab(other, rome_clinician, "cd19", "0.5", "cells/µL", 4)
    lab(other, rome_clinician, "cd19", "6", "cells/µL", 40)  # below the reconstitution threshold
    courses = course_summaries([child, other])
    assert (courses[child.pk].b_cell_aplasia_day, courses[child.pk].b_cell_reconstitution_day) == (10, 10)
    assert (courses[other.pk].b_cell_aplasia_day, courses[other.pk].b_cell_reconstitution_day) == (4, None)
    assert courses[other.pk].car_t_peak_per_ul is None and courses[other.pk].igg_nadir_day is None

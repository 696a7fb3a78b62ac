"""Pages: server time and query count of the patient list and the patient page (Django test client).

Figure: the whole request in-process (middleware, view, template). Baseline: the minimal query behind it — the
list's 50 rows with ``.values()``, the patient's row with its centre. DESIGN §7 pins no time budget for pages,
only that queries per page are constant, independent of the number of rows: the list is measured on its first
and last page, the patient page for a child with years of follow-up and for a child without day 0.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection
from django.test import Client
from django.urls import reverse

from bench.common import Env, Result, timed, users

NAME = "pages"
LIST_FIELDS = (
    "pk",
    "code",
    "centre__code",
    "diagnosis",
    "sex",
    "day0",
    "status",
    "is_illustrative",
    "voided_at",
    "identity__date_of_birth",
)


def _measure(client: Client, url: str, repeat: int) -> tuple[float, int]:
    response = client.get(url)  # warm-up
    assert response.status_code == 200, (url, response.status_code)
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(url)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(times), len(queries)


def run(env: Env) -> None:
    from patients.models import Patient
    from patients.selectors import PATIENTS_PER_PAGE

    people = users()
    repeat = 2 if env.smoke else 15
    client = Client()
    client.force_login(people["clinician"])
    centre = people["centre"]
    visible = Patient.objects.filter(centre=centre)
    n_visible = visible.count()
    last_page = max(1, -(-n_visible // PATIENTS_PER_PAGE))
    ordered = visible.order_by("centre__code", "sequence")

    def list_rows(offset: int) -> None:
        list(ordered.values(*LIST_FIELDS)[offset : offset + PATIENTS_PER_PAGE])

    counts = {}
    for label, page, offset in (("first", 1, 0), ("last", last_page, (last_page - 1) * PATIENTS_PER_PAGE)):
        url = reverse("patients:list") + (f"?page={page}" if page > 1 else "")
        figure, queries = _measure(client, url, repeat)
        baseline = statistics.median(timed(lambda offset=offset: list_rows(offset)) for _ in range(repeat))
        counts[f"list {label}"] = queries
        env.report(
            Result(
                NAME,
                f"pages: patient list, {label} page of {last_page} ({n_visible:,} patients)",
                figure,
                baseline,
                "s",
                ratio=figure / baseline,
                note=f"{queries} queries",
            )
        )
    infused = visible.filter(day0__isnull=False, status="active", voided_at__isnull=True)
    cases = (
        ("years of follow-up", infused.order_by("day0", "pk").first()),
        ("first weeks", infused.order_by("-day0", "pk").first()),
        ("no day 0 yet", visible.filter(day0__isnull=True, voided_at__isnull=True).order_by("pk").first()),
    )
    for label, patient in cases:
        if patient is None:
            continue
        url = reverse("patients:detail", args=[patient.pk])
        figure, queries = _measure(client, url, repeat)
        baseline = statistics.median(
            timed(lambda pk=patient.pk: Patient.objects.select_related("centre").get(pk=pk))
            for _ in range(repeat)
        )
        counts[f"page {label}"] = queries
        rows = sum(
            getattr(patient, rel).count()
            for rel in ("lab_results", "visits", "crs_assessments", "medications")
        )
        env.report(
            Result(
                NAME,
                f"pages: patient page, {label} ({rows:,} clinical rows)",
                figure,
                baseline,
                "s",
                ratio=figure / baseline,
                note=f"{queries} queries",
            )
        )
    list_constant = counts.get("list first") == counts.get("list last")
    page_constant = counts.get("page years of follow-up") == counts.get("page first weeks")
    env.report(
        Result(
            NAME,
            "pages: queries constant in the number of rows",
            max(counts.values()),
            None,
            "queries",
            budget="constant",
            met=list_constant and page_constant,
            note=", ".join(f"{k} {v}" for k, v in counts.items()),
        )
    )

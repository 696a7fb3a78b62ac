"""Daily follow-up digests of every centre vs their selector queries alone.

Figure: :func:`registry.summaries.services.summary_generate` (daily, no e-mail) for every centre — reads,
shaping, rendering and storing. Baseline: the SELECT statements those digests ran (captured once), executed
again and fetched, with no Python work on their rows. Budget (DESIGN §7): ≤ 3×, with a query count that does
not depend on the number of patients per centre (centres here differ in size).
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.common import Env, Result, alternate

NAME = "summaries"
BUDGET = 3.0


def _is_read(sql: str) -> bool:
    """A SELECT (also a UNION, which Django wraps in parentheses), not a write or a savepoint."""
    return sql.lstrip().lstrip("(").upper().startswith(("SELECT", "WITH"))


def run(env: Env) -> None:
    from django.db.models import Count

    from registry.models import Centre, FollowUpSummary
    from registry.summaries import services

    centres = list(Centre.objects.annotate(n=Count("patients")).filter(n__gt=0).order_by("code"))
    now = timezone.now()

    def day_of(centre: Centre) -> dt.date:
        return services.local_today(centre, now)

    def digests() -> None:
        FollowUpSummary.objects.filter(kind="daily").delete()
        for centre in centres:
            services.summary_generate(
                centre=centre, kind="daily", period_start=day_of(centre), email=False, now=now
            )

    selects: list[str] = []
    per_centre: dict[str, tuple[int, int]] = {}
    FollowUpSummary.objects.filter(kind="daily").delete()
    for centre in centres:
        with CaptureQueriesContext(connection) as captured:
            services.summary_generate(
                centre=centre, kind="daily", period_start=day_of(centre), email=False, now=now
            )
        reads = [q["sql"] for q in captured.captured_queries if _is_read(q["sql"])]
        selects += reads
        per_centre[centre.code] = (centre.n, len(reads))

    def replay() -> None:
        with connection.cursor() as cursor:
            for sql in selects:
                cursor.execute(sql)
                cursor.fetchall()

    figure, baseline = alternate(digests, replay, 1 if env.smoke else 3)
    counts = {q for _n, q in per_centre.values()}
    sizes = sorted(n for n, _q in per_centre.values())
    env.report(
        Result(
            NAME,
            f"summaries: daily digests of {len(centres)} centres ({sum(sizes):,} patients)",
            figure,
            baseline,
            "s",
            ratio=figure / baseline,
            budget=f"≤ {BUDGET:g}×",
            met=figure / baseline <= BUDGET,
            note=f"{len(selects)} SELECTs replayed",
        )
    )
    env.report(
        Result(
            NAME,
            "summaries: queries per centre independent of its size",
            max(counts),
            None,
            "queries",
            budget="constant",
            met=len(counts) == 1,
            note=f"{min(counts)}–{max(counts)} queries for centres of {sizes[0]:,}–{sizes[-1]:,} patients",
        )
    )

"""Faults on real, throwaway services (DESIGN §6): PostgreSQL restarted under load, Redis down.

Everything runs on 127.0.0.1 on ports of its own: a PostgreSQL cluster started for the session
(:mod:`tests.reliability.stack`), a Redis server started by the test, gunicorn with 2 workers and a Celery
worker as subprocesses; never the PostgreSQL and Redis that the rest of the tests use. Every wait is bounded
and every process is killed whatever happens (:mod:`tests.reliability.services`).

* **PostgreSQL restarted under load** — clinicians save laboratory values through the browser form (session
  cookie, CSRF) while an API client reads with its token and pages are read, from three threads, while the
  test stops PostgreSQL (``pg_ctl stop -m fast``) and starts it again. Every request during the outage gets a
  clean 503 (the HTML page for the browser, JSON for the API; ``Retry-After``; no stack trace, no identity),
  never a 500 or a hang; every request sent after the restart succeeds; every acknowledged save (the 302 back
  to the patient) is in the database exactly once with its audit row; a save that got a 503 is absent or
  complete (both values, once): nothing half saved, nothing duplicated.
* **Redis down** — the site keeps working (pages, saves); ``/healthz`` says the broker is down; a background
  export is recorded as queued and its requester told that background processing is unavailable (not a
  500); the daily-digest dispatcher and ``manage.py dispatch_exports`` (twin of the beat job) report the
  broker as unavailable instead of failing; once Redis is back, the beat jobs (sent as beat sends them)
  queue the export and the digests and a real worker builds and makes them.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from celery import Celery

from registry.summaries.tasks import DISPATCH
from registry.tasks import EXPORT_REDISPATCH
from tests.reliability import stack
from tests.reliability.services import (
    CeleryWorker,
    Gunicorn,
    ThrowawayPostgres,
    ThrowawayRedis,
    closing_all,
    manage,
    run_module,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TIMEOUT = (5, 20)  # connect, read (seconds): a hang fails the request instead of the test run
WAIT_S = 90  # any single wait in these tests
LOAD_THREADS = 3
WARM_UP_REQUESTS = 30
OUTAGE_REQUESTS = 15
AFTER_RESTART_SUCCESSES = 30
ROME = zoneinfo.ZoneInfo("Europe/Rome")
SAVE_DAY = dt.date.today() - dt.timedelta(days=100)  # after ROM-002's day 0 (today − 120), not in the future


# --- the registry under test ---------------------------------------------------------------------------


@dataclass
class Site:
    pg: ThrowawayPostgres
    dbname: str
    url: str
    seed: dict
    tmp: Path

    def sql(self, query: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.url.replace("postgres://", "postgresql://"), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def site(request, tmp_path_factory) -> Site:
    """A seeded copy of the migrated template on the session's throwaway cluster, dropped at the end."""
    pg = stack.cluster(request.config, tmp_path_factory)
    name, url = stack.fresh_database(pg, "faults")
    tmp = tmp_path_factory.mktemp("faults")
    try:
        seed = run_module(stack.env_for(url, tmp), "tests.reliability.fault_seed")
        yield Site(pg, name, url, seed, tmp)
    finally:
        if not pg.running():
            pg.start()
        pg.dropdb(name)


def login(base: str, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{base}/accounts/login/", timeout=TIMEOUT)
    response = browser.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    assert response.status_code == 302, f"login of {username} failed: {response.status_code}"
    return browser


def sample_time(n: int) -> dt.datetime:
    """Save number ``n`` has a sample time of its own (one minute apart): it identifies the save's rows."""
    day, minute = divmod(n, 24 * 60)
    return dt.datetime.combine(SAVE_DAY + dt.timedelta(days=day), dt.time(minute // 60, minute % 60), ROME)


def save_labs(browser: requests.Session, base: str, patient_id: int, n: int) -> requests.Response:
    """The laboratory grid as a clinician submits it: CRP and ANC of one sample."""
    at = sample_time(n)
    return browser.post(
        f"{base}/patients/{patient_id}/labs/new/",
        data={
            "sampled_on": at.date().isoformat(),
            "sampled_time": at.strftime("%H:%M"),
            "source": "local_lab",
            "crp-value": str(n % 1000),
            "crp-unit": "mg/L",
            "anc-value": str(1000 + n),
            "anc-unit": "cells/µL",
            "action": "save",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        timeout=TIMEOUT,
        allow_redirects=False,
    )


@dataclass
class Outcome:
    kind: str  # save | page | api | healthz
    started: float
    ended: float = 0.0
    save: int | None = None
    status: int | None = None
    content_type: str = ""
    body: str = ""
    location: str = ""
    retry_after: str | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        if self.kind == "save":
            return self.status == 302 and "/patients/" in self.location
        return self.status == 200


def record(kind: str, call, *, save: int | None = None) -> Outcome:
    outcome = Outcome(kind=kind, started=time.monotonic(), save=save)
    try:
        response = call()
    except requests.RequestException as exc:  # a hang (timeout) or a dropped connection
        outcome.error = f"{type(exc).__name__}: {exc}"
    else:
        outcome.status = response.status_code
        outcome.content_type = response.headers.get("Content-Type", "")
        outcome.body = response.text[:20000]
        outcome.location = response.headers.get("Location", "")
        outcome.retry_after = response.headers.get("Retry-After")
    outcome.ended = time.monotonic()
    return outcome


@dataclass
class Load:
    """Clinicians saving and reading, an API client reading — until stopped."""

    base: str
    seed: dict
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_save: int = 0
    failures: list[str] = field(default_factory=list)

    def take_save_number(self) -> int:
        with self.lock:
            self.next_save += 1
            return self.next_save

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def run(self, worker: int) -> None:
        try:
            browser = login(self.base, self.seed["clinician"], self.seed["password"])
            api = requests.Session()
            api.headers["Authorization"] = f"Token {self.seed['token']}"
            patient = self.seed["save_patient_id"]
            step = worker
            while not self.stop.is_set():
                kind = ("save", "api", "save", "page")[step % 4]
                step += 1
                if kind == "save":
                    n = self.take_save_number()
                    self.add(record("save", lambda n=n: save_labs(browser, self.base, patient, n), save=n))
                elif kind == "api":
                    self.add(record("api", lambda: api.get(f"{self.base}/api/v1/labs/", timeout=TIMEOUT)))
                else:
                    url = f"{self.base}/patients/{self.seed['patient_id']}/"
                    self.add(record("page", lambda url=url: browser.get(url, timeout=TIMEOUT)))
        except Exception as exc:  # reported by the test, not lost in a thread
            self.failures.append(f"load thread {worker}: {type(exc).__name__}: {exc}")

    def count(self, predicate) -> int:
        with self.lock:
            return sum(1 for o in self.outcomes if predicate(o))


def wait_for(what: str, check, *, seconds: float = WAIT_S, logs=lambda: "", load: Load | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if load is not None and load.failures:
            pytest.fail(f"the load failed while waiting for {what}: {load.failures}\n{logs()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}\n{logs()}")
        time.sleep(0.1)


def problems_of_503(outcome: Outcome, identity: list[str]) -> list[str]:
    """What is wrong with an outage answer (empty: a clean 503)."""
    where = f"{outcome.kind} {outcome.save or ''}".strip()
    if outcome.status != 503:
        return [f"{where}: {outcome.status or outcome.error} instead of 503"]
    problems = []
    if not outcome.retry_after and outcome.kind != "healthz":  # /healthz is a report for the orchestrator
        problems.append(f"{where}: 503 without Retry-After")
    if "Traceback" in outcome.body or 'File "' in outcome.body:
        problems.append(f"{where}: a stack trace in the 503")
    if any(value in outcome.body for value in identity):
        problems.append(f"{where}: identity in the 503")
    if outcome.kind in ("api", "healthz"):
        if not outcome.content_type.startswith("application/json"):
            problems.append(f"{where}: {outcome.content_type} instead of JSON")
        else:
            body = json.loads(outcome.body)
            wanted = "service_unavailable" if outcome.kind == "api" else "unavailable"
            if wanted not in (body.get("code"), body.get("status")):
                problems.append(f"{where}: JSON without '{wanted}': {outcome.body[:200]}")
    elif not (
        outcome.content_type.startswith("text/html")
        and "The registry is temporarily unavailable" in outcome.body
    ):
        problems.append(f"{where}: not the 503 page: {outcome.content_type} {outcome.body[:200]!r}")
    return problems


# --- PostgreSQL restarted under load --------------------------------------------------------------------


def test_postgres_restart_under_load_gives_clean_503s_recovers_and_loses_no_acknowledged_save(site):
    seed = site.seed
    with closing_all() as started:
        web = Gunicorn(stack.env_for(site.url, site.tmp), site.tmp)
        started.append(web)
        web.wait_ready()
        base = web.base_url
        load = Load(base, seed)
        threads = [threading.Thread(target=load.run, args=(i,), daemon=True) for i in range(LOAD_THREADS)]
        for thread in threads:
            thread.start()
        try:
            wait_for(
                "the warm-up requests",
                lambda: load.count(lambda o: o.ok) >= WARM_UP_REQUESTS,
                logs=web.log,
                load=load,
            )
            prober = login(base, seed["clinician"], seed["password"])  # logging in needs the database

            t_stop = time.monotonic()
            site.pg.stop("fast")
            t_stopped = time.monotonic()
            # Deterministic probes while the database is down, besides the load: each kind of request.
            n = load.take_save_number()
            probes = [
                record("save", lambda: save_labs(prober, base, seed["save_patient_id"], n), save=n),
                record("page", lambda: prober.get(f"{base}/patients/{seed['patient_id']}/", timeout=TIMEOUT)),
                record(
                    "api",
                    lambda: requests.get(
                        f"{base}/api/v1/patients/",
                        headers={"Authorization": f"Token {seed['token']}"},
                        timeout=TIMEOUT,
                    ),
                ),
                record("healthz", lambda: requests.get(f"{base}/healthz", timeout=TIMEOUT)),
            ]
            for probe in probes:
                load.add(probe)
            wait_for(
                "requests during the outage",
                lambda: load.count(lambda o: o.started >= t_stopped) >= OUTAGE_REQUESTS,
                seconds=30,
                logs=web.log,
                load=load,
            )
            t_start = time.monotonic()
            site.pg.start()
            t_started = time.monotonic()
            wait_for(
                "successes after the restart",
                lambda: load.count(lambda o: o.started >= t_started and o.ok) >= AFTER_RESTART_SUCCESSES,
                logs=web.log,
                load=load,
            )
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(timeout=30)
        gunicorn_log = web.log()

    assert not load.failures, load.failures
    outcomes = sorted(load.outcomes, key=lambda o: o.started)
    before = [o for o in outcomes if o.ended < t_stop]
    during = [o for o in outcomes if o.ended >= t_stop and o.started < t_started]
    after = [o for o in outcomes if o.started >= t_started]

    # No hang, no dropped connection, no 500: everything is a success or a clean 503.
    assert [o.error for o in outcomes if o.error] == []
    assert all(o.ok for o in before), [(o.kind, o.status) for o in before if not o.ok]
    unavailable = [o for o in during if not o.ok]
    problems = [p for o in unavailable for p in problems_of_503(o, seed["identity"])]
    assert problems == []
    assert all(probe in unavailable for probe in probes)  # each kind of request met the outage
    assert len(unavailable) > len(probes), (
        "the load itself met no 503: the fault was not exercised under load"
    )
    assert json.loads(probes[-1].body)["database"].startswith("error")
    # Recovered: every request sent after the restart succeeded.
    assert all(o.ok for o in after), [(o.kind, o.status, o.body[:200]) for o in after if not o.ok]
    assert "WORKER TIMEOUT" not in gunicorn_log

    # Every acknowledged save is stored exactly once, with its audit row; a refused one is absent or whole.
    saves = {o.save: o for o in outcomes if o.kind == "save"}
    acknowledged = {n for n, o in saves.items() if o.ok}
    refused = {n for n, o in saves.items() if not o.ok}
    rows = site.sql(
        "SELECT r.id, r.sampled_at, r.analyte, r.value_reported, "
        "(SELECT count(*) FROM outcomes_historicallabresult h WHERE h.id = r.id AND h.history_type = '+') "
        "FROM outcomes_labresult r WHERE r.patient_id = %s",
        seed["save_patient_id"],
    )
    by_time: dict[dt.datetime, list[tuple[str, str, int]]] = {}
    for _id, sampled_at, analyte, value, audit_rows in rows:
        by_time.setdefault(sampled_at, []).append((analyte, value, audit_rows))
    expected = {n: sorted([("anc", str(1000 + n), 1), ("crp", str(n % 1000), 1)]) for n in saves}
    stored = {n: sorted(by_time.pop(sample_time(n), [])) for n in saves}
    assert by_time == {}, f"rows that no save sent: {by_time}"
    lost = sorted(n for n in acknowledged if stored[n] != expected[n])
    assert lost == [], f"acknowledged saves missing or damaged: {[(n, stored[n]) for n in lost]}"
    broken = sorted(n for n in refused if stored[n] not in ([], expected[n]))
    assert broken == [], f"refused saves half stored or duplicated: {[(n, stored[n]) for n in broken]}"

    first_success = min(o.ended for o in outcomes if o.started >= t_started and o.ok)
    print(
        "\nFAULTS postgres-restart:",
        json.dumps(
            {
                "requests": len(outcomes),
                "before": len(before),
                "during_outage": len(during),
                "answered_503": len(unavailable),
                "after_restart": len(after),
                "saves": len(saves),
                "acknowledged_saves_checked": len(acknowledged),
                "refused_saves": len(refused),
                "refused_saves_stored_whole": sum(1 for n in refused if stored[n]),
                "values_lost": len(lost),
                "outage_s": round(t_started - t_stop, 2),
                "pg_stop_s": round(t_stopped - t_stop, 2),
                "pg_start_s": round(t_started - t_start, 2),
                "first_success_after_restart_s": round(first_success - t_started, 3),
            }
        ),
    )


# --- Redis down -----------------------------------------------------------------------------------------


def test_redis_down_keeps_the_site_working_queues_the_export_and_catches_up_when_it_returns(site):
    seed = site.seed
    media = site.tmp / "media-redis"
    media.mkdir()
    redis = ThrowawayRedis()
    with closing_all() as started:
        started.append(redis)
        redis.start()
        env = stack.env_for(site.url, media, broker_url=redis.url)
        web = Gunicorn(env, site.tmp)
        started.append(web)
        web.wait_ready()
        base = web.base_url
        clinician = login(base, seed["clinician"], seed["password"])
        coordinator = login(base, seed["coordinator"], seed["password"])
        assert requests.get(f"{base}/healthz", timeout=TIMEOUT).json()["broker"] == "ok"

        redis.stop()

        health = requests.get(f"{base}/healthz", timeout=TIMEOUT)
        assert health.status_code == 503
        assert health.json()["database"] == "ok" and health.json()["broker"].startswith("error")
        # The site keeps working: pages and saves.
        page = clinician.get(f"{base}/patients/{seed['patient_id']}/", timeout=TIMEOUT)
        assert page.status_code == 200 and seed["patient_code"] in page.text
        saved = save_labs(clinician, base, seed["save_patient_id"], 90_000)
        assert saved.status_code == 302 and "/patients/" in saved.headers["Location"]
        assert (
            len(site.sql("SELECT id FROM outcomes_labresult WHERE sampled_at = %s", sample_time(90_000))) == 2
        )
        # A background export: recorded as queued, the requester told why it does not start.
        requested = coordinator.post(
            f"{base}/exports/series/{seed['series_id']}/download/",
            data={
                "mode": "internal",
                "fmt": "csv",
                "table": "all",
                "spread": "range",
                "csrfmiddlewaretoken": coordinator.cookies["csrftoken"],
            },
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        assert requested.status_code == 302, requested.text[:500]
        status_page = coordinator.get(base + requested.headers["Location"], timeout=TIMEOUT)
        assert status_page.status_code == 200
        assert "Background processing is unavailable right now" in status_page.text
        [(export_id, status)] = site.sql("SELECT id, status FROM registry_exportlog")
        assert status == "pending"
        # The beat job's twin says the broker is still down (and exits with an error)...
        with pytest.raises(Exception, match="not queued: the broker is unavailable"):
            manage(env, "dispatch_exports", "--older-than-minutes", "0", timeout=120)
        # ... and so does the daily-digest dispatcher, without failing.
        seven_am = dt.datetime.combine(dt.date.today(), dt.time(7), ROME).isoformat()
        dispatched = run_module(env, "tests.reliability.fault_tasks", "dispatch_digests", seven_am)
        assert dispatched["queued"] == [] and "broker unavailable" in dispatched["log"]
        assert site.sql("SELECT status FROM registry_exportlog") == [("pending",)]

        t_back = time.monotonic()
        redis.start()
        assert requests.get(f"{base}/healthz", timeout=TIMEOUT).status_code == 200
        worker = CeleryWorker(env, site.tmp)
        started.append(worker)
        worker.wait_ready()
        # What beat sends every 5 minutes (registry.settings CELERY_BEAT_SCHEDULE) and every hour.
        producer = Celery("faults-producer", broker=redis.url, set_as_current=False)
        producer.conf.update(task_serializer="json", broker_connection_retry_on_startup=False)
        try:
            producer.send_task(EXPORT_REDISPATCH, kwargs={"older_than_minutes": 0})
            producer.send_task(DISPATCH, kwargs={"now": seven_am})
        finally:
            producer.close()
        wait_for(
            "the export to be built by the worker",
            lambda: (
                site.sql("SELECT status FROM registry_exportlog WHERE id = %s", export_id)[0][0] == "done"
            ),
            logs=worker.log,
        )
        t_done = time.monotonic()
        [(progress, file_name, row_counts)] = site.sql(
            "SELECT progress, file, row_counts FROM registry_exportlog WHERE id = %s", export_id
        )
        assert progress == 100 and (media / file_name).is_file()
        assert row_counts["baseline_patients"] == 4  # ROM-001, ROM-002, ERL-001, ROM-003 (not the voided one)
        wait_for(
            "the worker to make both centres' digests",
            lambda: site.sql("SELECT count(*) FROM registry_followupsummary WHERE kind = 'daily'")[0][0] == 2,
            logs=worker.log,
        )
    print(
        "\nFAULTS redis-down:",
        json.dumps({"export_built_after_redis_returned_s": round(t_done - t_back, 2)}),
    )

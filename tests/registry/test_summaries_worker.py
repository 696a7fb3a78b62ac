"""Follow-up summaries through a REAL Celery worker (DESIGN §6: ``redis`` marker; eager mode is no test of a task).

Each test starts ``celery -A registry worker`` as a subprocess against the local Redis (``TEST_REDIS_URL``, DB 15,
with a key prefix and a queue of its own so concurrent runs never meet), pointed at the database this test
process created, with a file e-mail backend in a temporary folder. The data are committed (transactional test
with serialized rollback, so the schedule loaded by migrations is back for later tests) so the worker sees them:

* PostgreSQL (CI): the worker connects to pytest-django's ``test_<name>`` database;
* SQLite: pytest-django's test database lives in this process's memory, invisible to a subprocess, so it is
  copied to a file for the worker (SQLite backup API) and the worker's writes are copied back before asserting.

Everything is bounded (``WAIT_SECONDS`` per wait) and confined to localhost; the workers are killed whatever
happens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from outcomes.selectors import schedule_statuses
from registry.models import FollowUpSummary
from registry.summaries.tasks import DISPATCH, GENERATE
from tests.conftest import REDIS_URL
from tests.registry.summaries_data import (
    ERLANGEN_COORDINATORS,
    ROME_COORDINATORS,
    TODAY,
    add_coordinators,
    build_clinic,
)

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

WAIT_SECONDS = 60
SECTIONS = {
    "overdue",
    "due",
    "incomplete_visits",
    "open_episodes",
    "new_severe_events",
    "late_cytopenias",
    "new_b_cell_reconstitutions",
    "silent_patients",
}


def wait_for(what: str, check: Callable[[], object], *, workers: list[Worker], seconds: float = WAIT_SECONDS):
    """Poll ``check`` until it returns something truthy; fail with the workers' logs after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        for worker in workers:
            if worker.process.poll() is not None and not worker.killed:
                pytest.fail(
                    f"worker {worker.name} exited ({worker.process.returncode}) while waiting for {what}:\n"
                    f"{worker.log()}"
                )
        time.sleep(0.2)
    logs = "\n".join(f"--- {w.name} ---\n{w.log()}" for w in workers)
    pytest.fail(f"timed out after {seconds} s waiting for {what}\n{logs}")


# --- the database the worker sees --------------------------------------------------------------------------


class SharedDatabase:
    """The test database as another process sees it (see the module docstring)."""

    def __init__(self, tmp_path: Path) -> None:
        self.vendor = connection.vendor
        self.file = tmp_path / "worker.sqlite3"

    @property
    def url(self) -> str:
        s = connection.settings_dict
        if self.vendor == "postgresql":
            auth = quote(s["USER"] or "", safe="")
            if s["PASSWORD"]:
                auth += ":" + quote(s["PASSWORD"], safe="")
            return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return f"sqlite:///{self.file}"

    def publish(self) -> None:
        """Make everything committed so far visible to the worker."""
        if self.vendor == "sqlite":
            connection.ensure_connection()
            target = sqlite3.connect(self.file)
            try:
                connection.connection.backup(target)
            finally:
                target.close()

    def collect(self) -> None:
        """Make the worker's writes visible to this process's ORM."""
        if self.vendor == "sqlite":
            source = sqlite3.connect(self.file)
            try:
                source.backup(connection.connection)
            finally:
                source.close()

    def summaries(self) -> list[tuple[int, int | None, str, str, bool]]:
        """(id, centre id, kind, period start, e-mailed) of the stored summaries, as the worker left them."""
        sql = (
            "SELECT id, centre_id, kind, period_start, emailed_at IS NOT NULL FROM registry_followupsummary "
            "ORDER BY id"
        )
        if self.vendor == "sqlite":
            with sqlite3.connect(self.file, timeout=20) as db:
                rows = db.execute(sql).fetchall()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall()
        return [(pk, centre, kind, str(start), bool(mailed)) for pk, centre, kind, start, mailed in rows]


# --- workers -----------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path, include: str | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            env["SUMMARIES_TEST_QUEUE"],
            "-n",
            f"{name}-{uuid.uuid4().hex[:8]}@localhost",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if include:
            command += ["-I", include]
        self.killed = False
        with open(self.log_path, "wb") as log:
            # Own session: the test can kill the worker and anything it started as one process group.
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self) -> None:
        wait_for(f"worker {self.name} to be ready", lambda: " ready." in self.log(), workers=[self])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


class Harness:
    """Everything one test needs: env for workers, a producer on the same broker, cleanup."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.run_id = uuid.uuid4().hex[:12]
        self.queue = f"summaries-test-{self.run_id}"
        self.prefix = f"summaries-test-{self.run_id}:"
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir()
        self.db = SharedDatabase(tmp_path)
        self.workers: list[Worker] = []
        self.producer = Celery(f"producer-{self.run_id}", broker=REDIS_URL, set_as_current=False)
        self.producer.conf.update(
            broker_transport_options={"global_keyprefix": self.prefix},
            task_serializer="json",
            accept_content=["json"],
            broker_connection_retry_on_startup=False,
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SUMMARIES_TEST_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="tests.registry.summaries_worker_settings",
            PYTHONPATH=str(settings.BASE_DIR),
            DATABASE_URL=self.db.url,
            SUMMARIES_TEST_BROKER_URL=REDIS_URL,
            SUMMARIES_TEST_QUEUE=self.queue,
            SUMMARIES_TEST_KEYPREFIX=self.prefix,
            SUMMARIES_TEST_MAIL_DIR=str(self.mail_dir),
            **extra,
        )
        return env

    def start_worker(self, name: str, *, include: str | None = None, **extra: str) -> Worker:
        worker = Worker(name, self.env(**extra), self.tmp, include)
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def send(self, task: str, *args: object, **kwargs: object) -> None:
        self.producer.send_task(task, args=args, kwargs=kwargs, queue=self.queue)

    def emails(self) -> list[str]:
        """Every message the workers' file backends wrote (one file per connection, messages separated)."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_text(errors="replace").split("-" * 79):
                if "Subject:" in chunk:
                    messages.append(chunk)
        return messages

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.producer.close()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def harness(tmp_path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def clinic(rome, erlangen, rome_coordinator, coordinator, rome_clinician, erlangen_clinician):
    add_coordinators(
        rome=rome,
        erlangen=erlangen,
        rome_coordinator=rome_coordinator,
        coordinator=coordinator,
        rome_clinician=rome_clinician,
    )
    return build_clinic(
        rome=rome, erlangen=erlangen, rome_clinician=rome_clinician, erlangen_clinician=erlangen_clinician
    )


def recipients(messages: list[str]) -> list[str]:
    return sorted(
        line.split(":", 1)[1].strip() for m in messages for line in m.splitlines() if line.startswith("To:")
    )


def assert_complete_rome_digest(summary: FollowUpSummary, clinic: dict) -> None:
    c = summary.content
    assert set(c["sections"]) == SECTIONS and c["counts"] == {k: len(v) for k, v in c["sections"].items()}
    anna, bruno = clinic["anna"], clinic["bruno"]
    statuses = schedule_statuses([anna, bruno], TODAY)
    expected_overdue = [
        (p.code, s.code) for p in (anna, bruno) for s in statuses[p.pk] if s.status == "overdue"
    ]
    assert (
        [(x["code"], x["timepoint"]) for x in c["sections"]["overdue"]]
        == expected_overdue
        == [(anna.code, "m2")]
    )
    assert [(x["code"], x["timepoint"]) for x in c["sections"]["due"]] == [(anna.code, "m3")]
    assert [x["code"] for x in c["sections"]["open_episodes"]] == [bruno.code]
    assert anna.code in summary.html and anna.code in summary.text


def test_real_worker_runs_the_hourly_dispatch_and_produces_each_centres_digest(harness, clinic):
    harness.db.publish()
    harness.start_worker("worker")
    seven_am_rome = dt.datetime.combine(TODAY, dt.time(7), tzinfo=zoneinfo.ZoneInfo("Europe/Rome"))
    harness.send(DISPATCH, now=seven_am_rome.isoformat())

    wait_for(
        "both centres' digests, stored and e-mailed",
        lambda: len([row for row in harness.db.summaries() if row[4]]) == 2 and len(harness.emails()) == 3,
        workers=harness.workers,
    )
    harness.workers[0].stop()
    harness.db.collect()

    rome = FollowUpSummary.objects.get(centre=clinic["rome"], kind="daily", period_start=TODAY)
    erlangen = FollowUpSummary.objects.get(centre=clinic["erlangen"], kind="daily", period_start=TODAY)
    assert FollowUpSummary.objects.count() == 2
    assert_complete_rome_digest(rome, clinic)
    assert [(x["code"], x["timepoint"]) for x in erlangen.content["sections"]["overdue"]] == [
        (clinic["carla"].code, "m2")
    ]
    assert rome.recipients == ROME_COORDINATORS and erlangen.recipients == ERLANGEN_COORDINATORS
    messages = harness.emails()
    assert recipients(messages) == sorted(ROME_COORDINATORS + ERLANGEN_COORDINATORS)
    rome_mail = [m for m in messages if "ROM daily digest" in m]
    assert len(rome_mail) == 2
    assert all("text/plain" in m and "text/html" in m and clinic["anna"].code in m for m in rome_mail)


@pytest.mark.parametrize("pause_at", ["before_email", "in_transaction"])
def test_task_killed_mid_run_is_redelivered_and_yields_one_complete_summary(harness, clinic, pause_at):
    marker = harness.tmp / "paused"
    harness.db.publish()
    first = harness.start_worker(
        "doomed",
        include="tests.registry.summaries_worker_fault",
        SUMMARIES_TEST_PAUSE_AT=pause_at,
        SUMMARIES_TEST_PAUSE_MARKER=str(marker),
    )
    harness.send(GENERATE, clinic["rome"].pk, "daily", TODAY.isoformat())
    wait_for(f"the task to stop {pause_at}", marker.exists, workers=harness.workers)
    first.kill()  # SIGKILL: no acknowledgement, no warm shutdown that would requeue the message

    stored = harness.db.summaries()
    if pause_at == "before_email":
        assert [(row[2], row[4]) for row in stored] == [("daily", False)]  # committed, not e-mailed
    else:
        assert stored == []  # the dead worker's transaction was rolled back
    assert harness.emails() == []

    # A new worker with a short visibility timeout takes the unacknowledged message back and runs it again.
    harness.start_worker("rescuer", SUMMARIES_TEST_VISIBILITY_TIMEOUT="2")
    wait_for(
        "the redelivered task to store and e-mail the digest",
        lambda: [row[4] for row in harness.db.summaries()] == [True] and len(harness.emails()) == 2,
        workers=harness.workers,
    )
    time.sleep(1)  # a duplicate run, if any, would show up now
    harness.workers[-1].stop()
    harness.db.collect()

    summary = FollowUpSummary.objects.get()
    if pause_at == "before_email":
        assert summary.pk == stored[0][0]  # replaced in place, not a second row
    assert_complete_rome_digest(summary, clinic)
    assert summary.recipients == ROME_COORDINATORS
    assert recipients(harness.emails()) == ROME_COORDINATORS  # once each
    assert "succeeded" in harness.workers[-1].log()

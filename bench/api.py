"""De-identified API list: latency (p50/p95/p99) and throughput of 100-patient pages under 1 and 4 concurrent
clients, against gunicorn with 2 workers on 127.0.0.1.

Figure: ``GET /api/v1/patients/?page_size=100`` with a token (pseudonyms, centre labels, ages, baseline
summary; every request authenticated and logged), each client following the ``next`` links. Baseline, served
by the same gunicorn: a minimal Django view returning the same 100 rows with ``.values()``
(:mod:`bench.urls`). Rounds alternate API and baseline; request loops are bounded. Budget (DESIGN §7, at 4
clients): throughput ≥ 0.5× the baseline's, p95 ≤ 2× the baseline's.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import Env, Result, database_name, percentile

NAME = "api"
HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
THROUGHPUT_BUDGET = 0.5
P95_BUDGET = 2.0
API_PAGE = "/api/v1/patients/?page_size=100"
BASELINE_PAGE = "/bench/baseline/patients/"
BASELINE_HEADERS = {"Accept": "application/json"}


@dataclass
class Target:
    first: str
    headers: dict[str, str]
    kind: str  # "api" follows the absolute next link; "baseline" the ?after= key
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    def next_path(self, body: dict) -> str:
        if body.get("next") is None:
            return self.first
        if self.kind == "api":
            parts = urlsplit(body["next"])
            return f"{parts.path}?{parts.query}"
        return f"{self.first}?after={body['next']}"


def _request(port: int, path: str, headers: dict[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
    return elapsed, json.loads(body)


def load(port: int, target: Target, clients: int, per_client: int) -> None:
    """``clients`` threads, each making ``per_client`` requests one after the other (bounded)."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        path = target.first
        try:
            for _ in range(per_client):
                elapsed, body = _request(port, path, target.headers)
                with lock:
                    target.latencies.append(elapsed)
                path = target.next_path(body)
        except BaseException as exc:  # noqa: BLE001 - reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target.seconds += time.perf_counter() - started
    target.requests += clients * per_client
    if errors:
        raise errors[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        BENCH_DATABASE_NAME=database_name(),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--bind",
        f"{HOST}:{port}",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "registry.wsgi:application",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_ready(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            conn.request("GET", "/healthz")
            conn.getresponse().read()  # any answer means the server is up (a broker is not our concern)
            conn.close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /healthz within a minute")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def run(env: Env) -> None:
    from registry.api_clients import api_client_create
    from registry.system import get_system_user

    issued = api_client_create(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        purpose="Benchmark (synthetic data)",
        created_by=get_system_user(),
        all_centres=True,
    )
    api_headers = {"Authorization": f"Token {issued.token}", "Accept": "application/json"}
    port = _free_port()
    proc = start_gunicorn(port)
    try:
        wait_ready(port, proc)
        rounds = 1 if env.smoke else 3
        # Every worker's first requests import and build what Django loads lazily (≈ 1 s): warm both workers
        # on both targets first, with more clients than workers, so that no measured round pays for it.
        for first, headers, kind in (
            (API_PAGE, api_headers, "api"),
            (BASELINE_PAGE, BASELINE_HEADERS, "baseline"),
        ):
            load(port, Target(first, headers, kind), 4, 3)
        for clients, per_client in ((1, 5 if env.smoke else 40), (4, 3 if env.smoke else 20)):
            api = Target(API_PAGE, api_headers, "api")
            base = Target(BASELINE_PAGE, BASELINE_HEADERS, "baseline")
            load(port, api, clients, 2)  # warm-up (connections, caches)
            load(port, base, clients, 2)
            api, base = (Target(t.first, t.headers, t.kind) for t in (api, base))
            for _ in range(rounds):
                load(port, api, clients, per_client)
                load(port, base, clients, per_client)
            report(env, clients, api, base)
    finally:
        stop(proc)


def report(env: Env, clients: int, api: Target, base: Target) -> None:
    at_budget = clients == 4
    throughput, base_throughput = api.requests / api.seconds, base.requests / base.seconds
    ratio = throughput / base_throughput
    env.report(
        Result(
            NAME,
            f"api: throughput, 100-patient pages, {clients} client(s)",
            throughput,
            base_throughput,
            "req/s",
            ratio=ratio,
            budget=f"≥ {THROUGHPUT_BUDGET:g}×" if at_budget else "",
            met=ratio >= THROUGHPUT_BUDGET if at_budget else None,
            note=f"{api.requests} requests",
        )
    )
    for p in (50, 95, 99):
        figure, baseline = percentile(api.latencies, p), percentile(base.latencies, p)
        gated = at_budget and p == 95
        env.report(
            Result(
                NAME,
                f"api: p{p} latency, {clients} client(s)",
                figure,
                baseline,
                "s",
                ratio=figure / baseline,
                budget=f"≤ {P95_BUDGET:g}×" if gated else "",
                met=figure / baseline <= P95_BUDGET if gated else None,
            )
        )

"""Throwaway services for the fault and backup tests: PostgreSQL, Redis, gunicorn and Celery workers.

Everything here runs on 127.0.0.1, on ports of its own (never 5432 or 6379, which the rest of the tests use),
in temporary folders, and is torn down whatever happens: each class has ``close()`` that stops the process
(gracefully, then SIGKILL), waits until its port is free and deletes its files. Every wait is bounded.

PostgreSQL (DESIGN §6): ``initdb``/``pg_ctl`` from ``/usr/lib/postgresql/<version>/bin`` (or ``pg_config
--bindir``); as root they run as the ``postgres`` user through ``runuser`` (the data folder is created for it
outside pytest's root-only temporary folder); otherwise as the current user. Trust authentication, TCP only
(no Unix socket), ``fsync`` left on so that "acknowledged means durable" is tested for real.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
RESERVED_PORTS = {5432, 6379}  # the services the rest of the tests use


class ServiceError(RuntimeError):
    """A throwaway service did not start or stop in time; the message carries its log."""


def free_port() -> int:
    """A TCP port nothing listens on now (never one of the shared services' ports)."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    what: str, check: Callable[[], object], *, seconds: float, log: Callable[[], str] = str
) -> object:
    """Poll ``check`` every 0.1 s until truthy; :class:`ServiceError` with ``log()`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {seconds} s waiting for {what}\n{log()}")
        time.sleep(0.1)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"(no log at {path})"


def _kill_group(process: subprocess.Popen, *, grace_s: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace_s``; always reaps the process."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=grace_s)
    else:
        # The leader is gone; make sure nothing it started (gunicorn workers, celery children) lingers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


# --- PostgreSQL ------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest server installation's bin folder (with initdb, pg_ctl, pg_dump, pg_restore), or None."""
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        versions = sorted(
            (p for p in base.iterdir() if (p / "bin" / "initdb").exists()),
            key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()],
        )
        if versions:
            return versions[-1] / "bin"
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_postgres_server() -> str | None:
    """Why a throwaway PostgreSQL cannot be started here, or None."""
    if postgres_bindir() is None:
        return "needs the PostgreSQL server binaries (initdb, pg_ctl: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs a 'postgres' system user to run the throwaway server"
        if not shutil.which("runuser"):
            return "running as root needs runuser (util-linux) to start the server as 'postgres'"
    return None


def missing_redis_server() -> str | None:
    return None if shutil.which("redis-server") else "needs redis-server (apt-get install redis-server)"


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own: initdb in a temporary folder, started on a free port on 127.0.0.1."""

    def __init__(self, *, port: int | None = None) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise ServiceError(missing_postgres_server() or "no PostgreSQL server binaries")
        self.bindir = bindir
        self.port = port or free_port()
        self.as_root = os.geteuid() == 0
        # Outside pytest's tmp_path: that is 0700 root, and the server runs as 'postgres' when we are root.
        self.base = Path(tempfile.mkdtemp(prefix="registry-faults-pg-"))
        self.data = self.base / "data"
        self.logfile = self.base / "server.log"
        if self.as_root:
            import pwd

            entry = pwd.getpwnam("postgres")
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self.base.chmod(0o700)
        self.initialised = False

    # -- commands as the server's owner --
    def _run(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=timeout, cwd="/", env=self._env()
        )
        if check and result.returncode != 0:
            raise ServiceError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{_tail(self.logfile)}"
            )
        return result

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", PGHOST=HOST, PGPORT=str(self.port), PGUSER="postgres")
        return env

    def log(self) -> str:
        if self.as_root:
            # The log belongs to 'postgres' (0600); root reads it anyway.
            return _tail(self.logfile)
        return _tail(self.logfile)

    def start(self) -> ThrowawayPostgres:
        if not self.initialised:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                timeout=120,
            )
            self.initialised = True
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -c unix_socket_directories='' "
            "-c max_connections=60 -c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )
        wait_until(f"PostgreSQL on port {self.port}", self.ready, seconds=60, log=self.log)
        return self

    def ready(self) -> bool:
        result = self._run("pg_isready", "-h", HOST, "-p", str(self.port), "-t", "2", check=False, timeout=10)
        return result.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m <mode>``: fast rolls back open transactions and disconnects everyone."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", timeout=90)
        wait_until(f"port {self.port} to close", lambda: not port_open(self.port), seconds=30, log=self.log)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False, timeout=10).returncode == 0

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        result = self._run(
            "psql",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-tA",
            "-c",
            sql,
        )
        return result.stdout.strip()

    def createdb(self, name: str, *, template: str | None = None) -> str:
        args = ["createdb", "-h", HOST, "-p", str(self.port), "-U", "postgres"]
        if template:
            args += ["-T", template]
        self._run(*args, name)
        return self.url(name)

    def dropdb(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def tool(self, name: str) -> str:
        """Path of a client tool of the server's own version (pg_dump, pg_restore, psql)."""
        return str(self.bindir / name)

    def close(self) -> None:
        """Stop the server whatever its state (immediate, then SIGKILL of the postmaster) and delete it."""
        try:
            if self.initialised and self.running():
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                    check=False,
                    timeout=60,
                )
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                with contextlib.suppress(ValueError, OSError, ProcessLookupError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            with contextlib.suppress(ServiceError):
                wait_until(f"port {self.port} to close", lambda: not port_open(self.port), seconds=30)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


# --- Redis -----------------------------------------------------------------------------------------------


class ThrowawayRedis:
    """``redis-server`` on a free port, no persistence (``--save ''``), stopped and restarted by the test."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="registry-faults-redis-"))
        self.logfile = self.base / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def log(self) -> str:
        return _tail(self.logfile)

    def start(self) -> ThrowawayRedis:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.base),
            "--logfile",
            str(self.logfile),
        ]
        self.process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(f"Redis on port {self.port}", lambda: self.ping(), seconds=30, log=self.log)
        return self

    def ping(self) -> bool:
        import redis

        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def client(self):
        import redis

        return redis.Redis(host=HOST, port=self.port, socket_connect_timeout=2, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None:
            _kill_group(self.process)
            self.process = None
        wait_until(f"port {self.port} to close", lambda: not port_open(self.port), seconds=30, log=self.log)

    def close(self) -> None:
        try:
            if self.process is not None:
                self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


# --- the application -------------------------------------------------------------------------------------


def app_env(
    database_url: str,
    *,
    broker_url: str = "",
    media_root: Path,
    settings_module: str = "registry.settings.test",
    **extra: str,
) -> dict[str, str]:
    """Environment of a registry process (gunicorn, worker, manage.py) on the throwaway services.

    Test settings by default (fast password hashing, no login throttling) with ``DEBUG=false`` so that error
    pages are what a production user sees. ``extra`` adds or overrides variables.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CELERY_", "DATABASE_", "DJANGO_", "SUMMARIES_TEST_", "REGISTRY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        PYTHONPATH=str(ROOT),
        DEBUG="false",
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        MEDIA_ROOT=str(media_root),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``manage.py <args>`` in a subprocess; raises with its output when it fails."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result


def run_module(env: dict[str, str], module: str, *args: str, timeout: float = 180) -> object:
    """``python -m <module> <args>`` in a subprocess; its last stdout line is JSON, returned decoded."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ServiceError(f"python -m {module} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class Gunicorn:
    """``gunicorn registry.wsgi`` with 2 sync workers on a free port of 127.0.0.1."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, workers: int = 2) -> None:
        self.port = free_port()
        self.workers = workers
        self.logfile = log_dir / f"gunicorn-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "registry.wsgi:application",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(workers),
            "--timeout",
            "30",
            "--graceful-timeout",
            "5",
            "--preload",  # Django set up once in the master, before the workers fork
            "--access-logfile",
            "-",
        ]
        with open(self.logfile, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        return _tail(self.logfile, 8000)

    def wait_ready(self, seconds: float = 60) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                raise ServiceError(f"gunicorn exited ({self.process.returncode}):\n{self.log()}")
            return port_open(self.port)

        wait_until(f"gunicorn on port {self.port}", up, seconds=seconds, log=self.log)
        self.warm_up(seconds)

    def warm_up(self, seconds: float) -> None:
        """Concurrent first requests, so every worker has loaded the URLs and templates before the test
        times anything (a cold worker's first page takes seconds on a busy machine)."""
        import concurrent.futures
        import urllib.request

        def get(_: int) -> int:
            with urllib.request.urlopen(f"{self.base_url}/accounts/login/", timeout=seconds) as response:  # noqa: S310
                return response.status

        with concurrent.futures.ThreadPoolExecutor(max_workers=self.workers * 2) as pool:
            statuses = list(pool.map(get, range(self.workers * 2)))
        if set(statuses) != {200}:
            raise ServiceError(f"gunicorn warm-up answered {statuses}:\n{self.log()}")

    def close(self) -> None:
        _kill_group(self.process)
        with contextlib.suppress(ServiceError):
            wait_until(f"port {self.port} to close", lambda: not port_open(self.port), seconds=15)


class CeleryWorker:
    """``celery -A registry worker`` (solo pool) on the throwaway broker; killed by ``close()``."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, name: str = "worker") -> None:
        self.logfile = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-n",
            f"{name}-{uuid.uuid4().hex[:8]}@localhost",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with open(self.logfile, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        return _tail(self.logfile, 8000)

    def wait_ready(self, seconds: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise ServiceError(f"worker exited ({self.process.returncode}):\n{self.log()}")
            return " ready." in self.log()

        wait_until("the Celery worker to be ready", ready, seconds=seconds, log=self.log)

    def close(self) -> None:
        _kill_group(self.process)


@contextlib.contextmanager
def closing_all() -> Iterator[list]:
    """Collect services; close them all (last started first) however the block ends.

    A failure to close is raised only when the block itself succeeded (it must not hide the real failure).
    """
    started: list = []
    failed = False
    try:
        yield started
    except BaseException:
        failed = True
        raise
    finally:
        errors = []
        for service in reversed(started):
            try:
                service.close()
            except Exception as exc:  # keep closing the others
                errors.append(f"{type(service).__name__}: {exc}")
        if errors and not failed:
            raise ServiceError("; ".join(errors))

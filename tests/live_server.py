"""A real hypercorn server (two worker processes) on a free loopback port, for tests."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from quart_app.config import Settings
from quart_app.core.database import default_database_url
from tests.backing_services import server_backing_services

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HYPERCORN = Path(sys.executable).with_name("hypercorn")
STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 15.0  # hypercorn.toml's graceful_timeout is 10 s
WORKERS = 2
TEST_SECRET_KEY = "integration-test-secret-key-" + "k" * 40
# Settings the test server must not inherit from the environment running the tests.
APP_SETTINGS = frozenset(option.name for option in dataclasses.fields(Settings)) | {"INSTANCE_PATH"}


@dataclass(frozen=True)
class LiveServer:
    """A running server: where it answers, its instance folder, its database (SQLAlchemy URL),
    and its captured output."""

    base_url: str
    instance_path: Path
    database_url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(
    instance_path: Path, *, secret_key: str | None, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in APP_SETTINGS}
    env.update(
        INSTANCE_PATH=str(instance_path),
        COOKIE_SECURE="false",
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_COST="1024",
        ARGON2_PARALLELISM="1",
        # Every test client comes from 127.0.0.1: per-IP POST limits would soon refuse them all.
        # Throttling tests switch them back on through extra_env.
        THROTTLE_LOGIN_PER_MINUTE="0",
        THROTTLE_REGISTER_PER_MINUTE="0",
        PYTHONUNBUFFERED="1",
    )
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    env.update(extra_env or {})
    return env


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_error = "no answer yet"
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                response = client.get("/healthz")
            except httpx.TransportError as error:
                last_error = repr(error)
            else:
                if response.status_code == 200 and response.json() == {"status": "ok"}:
                    return
                last_error = f"{response.status_code} {response.text[:200]!r}"
            time.sleep(0.1)
    output = log_path.read_text(encoding="utf-8", errors="replace")
    pytest.fail(
        f"server at {base_url} never became healthy (exit code {process.poll()}, "
        f"last answer: {last_error}); its output:\n{output}",
        pytrace=False,
    )


def spawn_server(
    command: list[str], *, cwd: Path, env: Mapping[str, str], log_file: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own (so its workers stop with it), its output
    going to ``log_file``."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, wait, and SIGKILL it if it does not go."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    # Workers are in the same group: make sure none outlives the master.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def running_server(
    instance_path: Path, *, secret_key: str | None, extra_env: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    """Run hypercorn with two workers on a free loopback port until the block ends.

    Its database is the instance folder's SQLite file, or under TEST_DATABASE_URL a PostgreSQL
    database of its own (and TEST_REDIS_URL's Redis), unless ``extra_env`` names them.
    """
    overrides = dict(extra_env or {})
    with server_backing_services(overrides) as services:
        env = server_environment(
            instance_path, secret_key=secret_key, extra_env=services | overrides
        )
        database_url = env.get("DATABASE_URL") or default_database_url(str(instance_path))
        with _hypercorn(instance_path, env) as base_url:
            yield LiveServer(base_url, instance_path, database_url, _log_path(instance_path))


def _log_path(instance_path: Path) -> Path:
    return instance_path.parent / f"{instance_path.name}-server.log"


@contextmanager
def _hypercorn(instance_path: Path, env: dict[str, str]) -> Iterator[str]:
    """The server process itself; yields its base URL once /healthz answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = _log_path(instance_path)
    command = [
        str(HYPERCORN),
        "--config",
        str(PROJECT_ROOT / "hypercorn.toml"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        # Access log on (hypercorn.toml leaves it off), with the worker's pid in every line, so
        # tests can tell which worker answered.
        "--access-logfile",
        "-",
        "--access-logformat",
        '<pid %(p)s> "%(r)s" %(s)s',
        "quart_app.asgi:app",
    ]
    with log_path.open("wb") as log_file:
        process = spawn_server(command, cwd=PROJECT_ROOT, env=env, log_file=log_file)
        try:
            wait_until_healthy(process, base_url, log_path)
            yield base_url
        finally:
            stop_server(process)

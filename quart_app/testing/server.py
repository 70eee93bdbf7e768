"""A real hypercorn server on a free loopback port: started, waited for, and stopped.

One launcher for the test kit's ``live_server`` fixture, this project's integration tests and
the load benchmark. The server runs in a process group of its own, so stopping it reaches its
workers too; nothing here depends on pytest.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from quart_app.config import Settings
from quart_app.core.database import default_database_url

DEFAULT_APP = "quart_app.asgi:app"
WORKERS = 2
STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 15.0  # above hypercorn.toml's graceful_timeout of 10 s
# With the worker's pid and the answer's X-Request-ID in every line, a test can tell which
# worker answered which request.
ACCESS_LOG_FORMAT = '<pid %(p)s> "%(r)s" %(s)s %({X-Request-ID}o)s'
# Settings a server under test must not inherit from the environment running the tests.
APP_SETTINGS = frozenset(option.name for option in dataclasses.fields(Settings)) | {"INSTANCE_PATH"}


class ServerDidNotStart(RuntimeError):
    """The server exited, or its health path never answered 200 in time."""


@dataclass(frozen=True)
class LiveServer:
    """A running server: where it answers, its process (the hypercorn master), the environment
    it was started with, and its output."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    env: Mapping[str, str]
    log_path: Path

    @property
    def instance_path(self) -> Path:
        return Path(self.env["INSTANCE_PATH"])

    @property
    def database_url(self) -> str:
        """Its database's SQLAlchemy URL: DATABASE_URL, or the instance folder's SQLite file."""
        return self.env.get("DATABASE_URL") or default_database_url(str(self.instance_path))

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(
    instance_path: Path, *, secret_key: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for an app server under test: this process's environment without any app
    setting, plain-HTTP cookies, the fast-hash profile, and no per-IP POST limits (every test
    client is 127.0.0.1 and would soon be refused); ``extra`` overrides any of it."""
    env = {name: value for name, value in os.environ.items() if name not in APP_SETTINGS}
    env.update(
        INSTANCE_PATH=str(instance_path),
        COOKIE_SECURE="false",
        TESTING="true",
        HASH_PROFILE="fast-tests",
        THROTTLE_LOGIN_PER_MINUTE="0",
        THROTTLE_REGISTER_PER_MINUTE="0",
        THROTTLE_ACCOUNT_PER_MINUTE="0",
        PYTHONUNBUFFERED="1",
    )
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    env.update(extra or {})
    return env


def hypercorn_command(
    app: str = DEFAULT_APP,
    *,
    port: int,
    config: Path | None = None,
    workers: int | None = WORKERS,
    access_log: bool = False,
) -> list[str]:
    """``hypercorn [--config FILE] --bind 127.0.0.1:PORT [--workers N] APP`` with this
    interpreter; ``workers=None`` keeps the config file's number."""
    command = [sys.executable, "-m", "hypercorn"]
    if config is not None:
        command += ["--config", str(config)]
    command += ["--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if access_log:
        command += ["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
    return [*command, app]


def spawn_server(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log_file: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own, its output going to ``log_file``."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_healthy(
    process: subprocess.Popen[bytes],
    base_url: str,
    log_path: Path,
    *,
    health_path: str = "/healthz",
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> None:
    """Return once ``health_path`` answers 200; raise ServerDidNotStart with the server's output
    if the process exits first or the time runs out."""
    # No proxies: the server is on 127.0.0.1, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    last_answer = "no answer yet"
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with opener.open(base_url + health_path, timeout=2.0) as response:
                if response.status == 200:
                    return
                last_answer = f"status {response.status}"
        except urllib.error.HTTPError as error:
            last_answer = f"status {error.code}"
        except OSError as error:
            last_answer = repr(error)
        time.sleep(0.1)
    output = log_path.read_text(encoding="utf-8", errors="replace")
    raise ServerDidNotStart(
        f"server at {base_url} never became healthy (exit code {process.poll()}, "
        f"last answer: {last_answer}); its output:\n{output}"
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, wait for the graceful shutdown, SIGKILL what is left."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)  # no worker may outlive its master


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


@contextmanager
def run_server(
    app: str = DEFAULT_APP,
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
    config: Path | None = None,
    workers: int | None = WORKERS,
    access_log: bool = False,
    health_path: str = "/healthz",
) -> Iterator[LiveServer]:
    """Run ``app`` under hypercorn on a free loopback port until the block ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = hypercorn_command(
        app, port=port, config=config, workers=workers, access_log=access_log
    )
    with log_path.open("wb") as log_file:
        process = spawn_server(command, cwd=cwd or Path.cwd(), env=env, log_file=log_file)
    try:
        wait_until_healthy(process, base_url, log_path, health_path=health_path)
        yield LiveServer(base_url, port, process, dict(env), log_path)
    finally:
        stop_server(process)

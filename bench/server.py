"""Run an ASGI app under hypercorn as the README does, on a free loopback port, and stop it.

The server gets its own process group, so stopping it reaches the workers as well.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from bench.appenv import HYPERCORN_TOML, PROJECT_ROOT
from bench.procstats import role_of

STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 15.0  # hypercorn.toml's graceful_timeout is 10 s
LOG_TAIL_CHARS = 3000


class ServerError(RuntimeError):
    """The server did not start or answer its health check."""


def free_loopback_port() -> int:
    """A 127.0.0.1 port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``hypercorn --config hypercorn.toml APP --bind 127.0.0.1:PORT`` with a health wait."""

    def __init__(
        self,
        name: str,
        app_path: str,
        *,
        env: dict[str, str],
        log_path: Path,
        health_path: str,
    ) -> None:
        self.name = name
        self.app_path = app_path
        self.env = env
        self.log_path = log_path
        self.health_path = health_path
        self.port = free_loopback_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError(f"{self.name} server is not running")
        return self.process.pid

    def start(self) -> None:
        """Start hypercorn and return once the health path answers 200 (bounded)."""
        command = [
            sys.executable,
            "-m",
            "hypercorn",
            "--config",
            str(HYPERCORN_TOML),
            "--bind",
            f"127.0.0.1:{self.port}",
            self.app_path,
        ]
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        # No proxies: the bench talks to 127.0.0.1 only, whatever http_proxy says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = self.base_url + self.health_path
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                break
            try:
                with opener.open(url, timeout=2.0) as response:
                    if response.status == 200:
                        return
                    last = f"status {response.status}"
            except urllib.error.HTTPError as error:
                last = f"status {error.code}"
            except OSError as error:
                last = repr(error)
            time.sleep(0.1)
        code = None if self.process is None else self.process.poll()
        raise ServerError(
            f"{self.name} server at {url} never became healthy (exit code {code}, last: {last});"
            f" end of its log {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return "(no log)"

    def processes(self) -> list[psutil.Process]:
        """The master and every process under it (workers, multiprocessing helpers)."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers(self) -> list[psutil.Process]:
        """The worker processes (children that are not multiprocessing helpers)."""
        return [p for p in self.processes()[1:] if role_of(p, self.pid) == "worker"]

    def connection_owners(self) -> dict[int, int]:
        """Which worker holds each open client connection: client port -> worker pid."""
        owners: dict[int, int] = {}
        for worker in self.workers():
            try:
                connections = worker.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for connection in connections:
                if (
                    connection.status == psutil.CONN_ESTABLISHED
                    and connection.laddr
                    and connection.laddr.port == self.port
                    and connection.raddr
                ):
                    owners[connection.raddr.port] = worker.pid
        return owners

    def connections_per_worker(self) -> list[int]:
        """Open client connections on each worker, in pid order."""
        counts = dict.fromkeys(sorted(w.pid for w in self.workers()), 0)
        for pid in self.connection_owners().values():
            counts[pid] = counts.get(pid, 0) + 1
        return list(counts.values())

    def stop(self) -> None:
        """SIGTERM the process group, wait for the graceful shutdown, then SIGKILL what is left."""
        process, self.process = self.process, None
        if process is None:
            return
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

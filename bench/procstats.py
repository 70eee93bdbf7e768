"""Memory and CPU of the server processes and of the bench itself, measured with psutil.

RSS is sampled in a thread every 100 ms so the sampling keeps its pace however busy the event
loop driving the load is. CPU time shows which side was the bottleneck: a client near one full
core is the client's limit, a server near the remaining cores is the server's. PostgreSQL and
Redis on this machine are the deployment's too: their CPU is shown apart ("services"), not
counted among the other programs that skew a run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psutil

SAMPLE_INTERVAL_SECONDS = 0.1
MIB = 1024 * 1024
# Process names of the services a scaled-out app uses (every PostgreSQL backend is "postgres").
SERVICE_PROCESS_NAMES = frozenset({"postgres", "redis-server"})


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    role: str  # "master", "worker" or "helper" (multiprocessing's resource tracker)
    rss: int


def role_of(process: psutil.Process, root_pid: int) -> str:
    if process.pid == root_pid:
        return "master"
    try:
        cmdline = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "helper"
    return "helper" if "resource_tracker" in cmdline else "worker"


def memory_by_process(processes: list[psutil.Process], root_pid: int) -> list[ProcessMemory]:
    """RSS of each live process, labelled by its role in the server."""
    found = []
    for process in processes:
        try:
            found.append(
                ProcessMemory(process.pid, role_of(process, root_pid), process.memory_info().rss)
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def service_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL and Redis process on this machine, by pid."""
    found = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in SERVICE_PROCESS_NAMES:
            seconds = _cpu_seconds(process)
            if seconds is not None:
                found[process.pid] = seconds
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _cpu_seconds(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


@dataclass(frozen=True)
class ResourceUsage:
    wall_seconds: float
    peak_rss: int  # largest sum of RSS over the server's processes at one sample
    samples: int
    server_cpu_cores: float  # CPU seconds used by all server processes / wall seconds
    server_cpu_seconds: float  # the same CPU unrounded by time: a cost per answer divides it
    client_cpu_cores: float  # the same for this (load-generating) process
    service_cpu_cores: float  # PostgreSQL and Redis processes on this machine
    worker_cpu_cores: list[float]  # per worker: shows whether load was spread over both
    other_cpu_cores: float  # the rest of the machine's busy CPU: other programs skew results

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_seconds, 3),
            "peak_rss_mib": round(self.peak_rss / MIB, 1),
            "rss_samples": self.samples,
            "server_cpu_cores": round(self.server_cpu_cores, 2),
            "server_cpu_s": round(self.server_cpu_seconds, 3),
            "client_cpu_cores": round(self.client_cpu_cores, 2),
            "service_cpu_cores": round(self.service_cpu_cores, 2),
            "worker_cpu_cores": [round(cores, 2) for cores in self.worker_cpu_cores],
            "other_cpu_cores": round(self.other_cpu_cores, 2),
        }


class ResourceWatch:
    """Samples a server's summed RSS and both sides' CPU time while a ``with`` block runs."""

    def __init__(self, list_processes: Callable[[], list[psutil.Process]]) -> None:
        self.list_processes = list_processes
        self.me = psutil.Process()
        self.peak_rss = 0
        self.samples = 0
        self.cpu_first: dict[int, float] = {}
        self.cpu_last: dict[int, float] = {}
        self.roles: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, name="rss-sampler", daemon=True)
        self.usage: ResourceUsage | None = None

    def __enter__(self) -> ResourceWatch:
        self._started = time.monotonic()
        self._client_cpu = _cpu_seconds(self.me) or 0.0
        self._machine_busy = machine_busy_seconds()
        # Listed at both ends only (walking every process each 100 ms would cost the client):
        # a backend started meanwhile counts from zero, one that ended meanwhile is missed.
        self._services_before = service_cpu_seconds()
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._sample()
        wall = max(time.monotonic() - self._started, 1e-9)
        used = {pid: self.cpu_last[pid] - self.cpu_first[pid] for pid in self.cpu_last}
        client_cpu = (_cpu_seconds(self.me) or 0.0) - self._client_cpu
        machine_busy = machine_busy_seconds() - self._machine_busy
        service_cpu = sum(
            seconds - self._services_before.get(pid, 0.0)
            for pid, seconds in service_cpu_seconds().items()
        )
        other_cpu = max(0.0, machine_busy - client_cpu - service_cpu - sum(used.values()))
        self.usage = ResourceUsage(
            wall_seconds=wall,
            peak_rss=self.peak_rss,
            samples=self.samples,
            server_cpu_cores=sum(used.values()) / wall,
            server_cpu_seconds=sum(used.values()),
            client_cpu_cores=client_cpu / wall,
            service_cpu_cores=service_cpu / wall,
            worker_cpu_cores=[
                used[pid] / wall for pid, role in sorted(self.roles.items()) if role == "worker"
            ],
            other_cpu_cores=other_cpu / wall,
        )

    def _sample_loop(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_SECONDS):
            self._sample()

    def _sample(self) -> None:
        total = 0
        processes = self.list_processes()
        for process in processes:
            try:
                total += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            seconds = _cpu_seconds(process)
            if seconds is not None:
                # A process first seen mid-run (a restarted worker) counts from zero.
                self.cpu_first.setdefault(process.pid, 0.0 if self.samples else seconds)
                self.cpu_last[process.pid] = seconds
                if process.pid not in self.roles:
                    self.roles[process.pid] = role_of(process, processes[0].pid)
        self.peak_rss = max(self.peak_rss, total)
        self.samples += 1


def server_cpu_ms_per(resources: Mapping[str, Any], count: int) -> float | None:
    """Server CPU milliseconds per answer over a watched scenario: what one login (or one 429)
    costs the server, whichever core it ran on; None when nothing was counted."""
    if count <= 0:
        return None
    return round(float(resources["server_cpu_s"]) * 1000 / count, 2)

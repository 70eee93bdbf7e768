"""The servers under test, watched with psutil (the shared launcher starts and stops them).

CPU time shows which side was the bottleneck (a client near one full core, or a server near the
rest); PostgreSQL and Redis here are the deployment's too, so their CPU is shown apart.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import aiohttp
import psutil

from quart_app.testing.server import LiveServer

MIB = 1024 * 1024
SERVICE_PROCESS_NAMES = frozenset({"postgres", "redis-server"})  # every backend is "postgres"
BALANCE_ATTEMPTS_PER_CLIENT = 10


def processes(server: LiveServer | None) -> list[tuple[psutil.Process, str]]:
    """The master and every process under it, each with its role (a helper is
    multiprocessing's resource tracker); none without a server."""
    if server is None:
        return []
    try:
        root = psutil.Process(server.process.pid)
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = [(root, "master")]
    for child in children:
        try:
            helper = "resource_tracker" in " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            helper = True
        found.append((child, "helper" if helper else "worker"))
    return found


def _peer_ports(process: psutil.Process, port: int, at_local_end: bool) -> list[int]:
    """The other end's port of each established TCP connection of ``process`` that has
    ``port`` at its local end (or at its remote end)."""
    try:
        connections = process.net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
    established = [c for c in connections if c.status == psutil.CONN_ESTABLISHED and c.raddr]
    ends = [(c.laddr, c.raddr) if at_local_end else (c.raddr, c.laddr) for c in established]
    return [other.port for end, other in ends if end and end.port == port]


def connections_per_worker(server: LiveServer) -> dict[int, list[int]]:
    """The client ports of each worker's open connections, by worker pid."""
    workers = {process.pid: process for process, role in processes(server) if role == "worker"}
    return {pid: _peer_ports(workers[pid], server.port, True) for pid in sorted(workers)}


def idle_memory(server: LiveServer) -> dict[str, Any]:
    """RSS of each live server process, with its role, and their sum."""
    found = []
    for process, role in processes(server):
        try:
            found.append((process.pid, role, process.memory_info().rss))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return {
        "idle_total_mib": round(sum(rss for _, _, rss in found) / MIB, 1),
        "idle_processes": [
            {"pid": pid, "role": role, "rss_mib": round(rss / MIB, 1)} for pid, role, rss in found
        ],
        "idle_worker_mib": [round(rss / MIB, 1) for _, role, rss in found if role == "worker"],
    }


async def _reconnect(client: aiohttp.ClientSession, path: str, server_port: int) -> int | None:
    """Close the client's connection, GET ``path`` on a new one and return its local port, found
    as the connection this process did not have before (aiohttp pools a small answer's
    connection before the caller could look at it)."""
    me = psutil.Process()
    async with client.get(path, allow_redirects=False, headers={"Connection": "close"}) as answer:
        await answer.read()
    before = set(_peer_ports(me, server_port, False))
    async with client.get(path, allow_redirects=False) as response:
        await response.read()
    opened = set(_peer_ports(me, server_port, False)) - before
    return opened.pop() if len(opened) == 1 else None


async def balance_connections(
    clients: Sequence[aiohttp.ClientSession], server: LiveServer, path: str
) -> None:
    """Spread the clients' keep-alive connections evenly over the workers: they share one
    listening socket and whichever wakes first accepts, so a few long-lived connections often
    all land on one worker. A client on a crowded worker reconnects until the spread is even."""
    ports = [await _reconnect(client, path, server.port) for client in clients]
    for _ in range(BALANCE_ATTEMPTS_PER_CLIENT * len(clients)):
        owners = connections_per_worker(server)
        if len(owners) < 2:
            return
        fair_share = -(-len(clients) // len(owners))  # ceiling division
        # The clients on the most crowded worker, by their index.
        crowded = max(
            ([i for i, port in enumerate(ports) if port in held] for held in owners.values()),
            key=len,
        )
        if len(crowded) <= fair_share:
            return
        ports[crowded[0]] = await _reconnect(clients[crowded[0]], path, server.port)


def _cpu_seconds(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


def service_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL and Redis process on this machine, by pid."""
    names = SERVICE_PROCESS_NAMES
    found = {
        p.pid: _cpu_seconds(p) for p in psutil.process_iter(["name"]) if p.info["name"] in names
    }
    return {pid: seconds for pid, seconds in found.items() if seconds is not None}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def client_cpu_seconds() -> float:
    """CPU seconds so far of the client side: this process, and its children that have ended
    and been waited for (wrk, which a scenario waits for inside its watch). No server is among
    them meanwhile: each is stopped, and reaped, after its scenarios' watches have ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextmanager
def resource_watch(server: LiveServer | None) -> Iterator[dict[str, Any]]:
    """The server's peak RSS (sampled in a thread every 100 ms, whatever the event loop does)
    and every side's CPU while the block runs, in the dict yielded, filled at the end."""
    usage: dict[str, Any] = {}
    totals: list[int] = []  # each sample's summed RSS
    first: dict[int, float] = {}  # CPU seconds by server process: when first and last seen
    last: dict[int, float] = {}
    workers: set[int] = set()
    stop = threading.Event()

    def sample() -> None:
        total = 0
        for process, role in processes(server):
            try:
                total += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            seconds = _cpu_seconds(process)
            if seconds is not None:
                # A process first seen mid-run (a restarted worker) counts from zero.
                first.setdefault(process.pid, seconds if not totals else 0.0)
                last[process.pid] = seconds
                if role == "worker":
                    workers.add(process.pid)
        totals.append(total)

    def sample_loop() -> None:
        while not stop.wait(0.1):
            sample()

    started, client_before = time.monotonic(), client_cpu_seconds()
    # Services are listed at both ends only (walking every process each 100 ms would cost the
    # client): a backend started meanwhile counts from zero, one that ended is missed.
    busy_before, services_before = machine_busy_seconds(), service_cpu_seconds()
    sample()
    thread = threading.Thread(target=sample_loop, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield usage
    finally:
        stop.set()
        thread.join(timeout=5.0)
        sample()
    wall = max(time.monotonic() - started, 1e-9)
    used = {pid: last[pid] - first[pid] for pid in last}
    server_cpu = sum(used.values())
    client_cpu = client_cpu_seconds() - client_before
    busy = machine_busy_seconds() - busy_before
    services = service_cpu_seconds()
    service_cpu = sum(seconds - services_before.get(pid, 0.0) for pid, seconds in services.items())
    other_cpu = max(0.0, busy - client_cpu - service_cpu - server_cpu)
    usage.update(
        wall_s=round(wall, 3),
        peak_rss_mib=round(max(totals) / MIB, 1),
        rss_samples=len(totals),
        server_cpu_cores=round(server_cpu / wall, 2),
        server_cpu_s=round(server_cpu, 3),  # a cost per answer divides it
        client_cpu_cores=round(client_cpu / wall, 2),
        client_cpu_s=round(client_cpu, 3),
        service_cpu_cores=round(service_cpu / wall, 2),
        worker_cpu_cores=[round(used[pid] / wall, 2) for pid in sorted(workers)],
        other_cpu_cores=round(other_cpu / wall, 2),
    )


def server_cpu_ms_per(resources: Mapping[str, Any], count: int) -> float | None:
    """Server CPU milliseconds per answer (a login, a 429), whichever core it ran on."""
    return round(float(resources["server_cpu_s"]) * 1000 / count, 2) if count > 0 else None


def client_cpu_ms_per(resources: Mapping[str, Any], count: int) -> float | None:
    """This process's CPU milliseconds per operation: the aiohttp clients' cost."""
    return round(float(resources["client_cpu_s"]) * 1000 / count, 2) if count > 0 else None

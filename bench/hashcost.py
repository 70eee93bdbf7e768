"""The hash limit: how many logins per second argon2 alone allows on this machine.

A login costs one argon2 verify, which runs on one core (p=1) and releases the GIL, so no
server can log people in faster than usable cores / verify time.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import psutil

from bench.procstats import machine_busy_seconds
from quart_app.config import Settings
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.passwords.policy import normalise_password


@dataclass(frozen=True)
class HashLimit:
    verify_seconds: float  # median single-thread verify time
    runs: int
    cores: int
    ideal_logins_per_second: float
    other_cpu_cores: float  # busy CPU of other programs meanwhile: they slow the verifies


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask), else os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def measure_hash_limit(
    settings: Settings, password_hash: str, password: str, runs: int
) -> HashLimit:
    """Median of ``runs`` verifies with the app's hasher, after one warm-up verify."""
    hasher = PasswordHasherPool.from_settings(settings).hasher
    candidate = normalise_password(password)
    hasher.verify(password_hash, candidate)
    me = psutil.Process()
    own_before, busy_before, wall_before = (
        sum(me.cpu_times()[:2]),
        machine_busy_seconds(),
        time.monotonic(),
    )
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        hasher.verify(password_hash, candidate)
        timings.append(time.perf_counter() - started)
    wall = time.monotonic() - wall_before
    own = sum(me.cpu_times()[:2]) - own_before
    other = max(0.0, machine_busy_seconds() - busy_before - own) / wall
    median = statistics.median(timings)
    cores = usable_cores()
    return HashLimit(
        verify_seconds=median,
        runs=runs,
        cores=cores,
        ideal_logins_per_second=cores / median,
        other_cpu_cores=other,
    )

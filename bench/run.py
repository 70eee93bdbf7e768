"""Orchestrates one benchmark run: servers up, scenarios in order, servers down, report out.

Servers are started and stopped in plain (synchronous) code around each asyncio.run, inside an
ExitStack, so Ctrl-C, SIGTERM or an error anywhere still stops every server process group.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy.engine import make_url

from bench import limiter, scenarios
from bench.appenv import (
    app_environment,
    app_revision,
    app_settings,
    hash_queue_limit,
    hypercorn_workers,
    throttle_overrides,
)
from bench.errors import BenchError
from bench.hashcost import measure_hash_limit, usable_cores
from bench.options import Options, parse_args
from bench.procstats import MIB, memory_by_process
from bench.progress import Progress
from bench.report import table, write_json
from bench.seed import PASSWORD, delete_users, make_password_hash, seed_users
from bench.server import Server, ServerError
from bench.targets import evaluate, memory_limit_mib
from quart_app.config import ConfigError, Settings
from quart_app.core.database import default_database_url

SETTLE_SECONDS = 1.0  # after start-up and seeding, before the idle memory baseline


def _meta(
    options: Options,
    settings: Settings,
    env: dict[str, str],
    workers: int,
    throttles_off: dict[str, str],
) -> dict[str, Any]:
    database = "fresh SQLite in a temporary folder"
    if options.database_url:
        database = make_url(options.database_url).render_as_string(hide_password=True)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": usable_cores(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "workers": workers,
        "argon2": {
            "time_cost": settings.ARGON2_TIME_COST,
            "memory_cost_kib": settings.ARGON2_MEMORY_COST,
            "parallelism": settings.ARGON2_PARALLELISM,
        },
        "hash_pool_size": settings.HASH_POOL_SIZE,
        "hash_queue_limit": hash_queue_limit(settings, env),
        "database": database,
        "env_overrides": dict(options.env),
        "throttles_off": throttles_off,
        "app_revision": app_revision(),
        "options": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in dataclasses.asdict(options).items()
        },
    }


async def _app_scenarios(
    options: Options,
    progress: Progress,
    app: Server,
    database_url: str,
    password_hash: str,
    sign_in_concurrency: int,
) -> dict[str, Any]:
    users = await seed_users(database_url, password_hash, options.users)
    progress.note(f"seeded {len(users.usernames)} users through quart_app.core.database.Database")
    await asyncio.sleep(SETTLE_SECONDS)
    idle = memory_by_process(app.processes(), app.pid)
    bench = scenarios.Bench(
        options=options,
        progress=progress,
        app=app,
        users=users,
        sign_in_concurrency=sign_in_concurrency,
        rng=random.Random(),  # noqa: S311 - picks users, not secrets
    )
    results: dict[str, Any] = {"idle": idle, "users_prefix": users.prefix}
    for name, scenario in (
        ("login_storm", scenarios.login_storm),
        ("dashboard", scenarios.dashboard),
        ("isolation", scenarios.isolation),
        ("overload", scenarios.overload),
    ):
        results[name] = await scenario(bench)
        progress.note(f"{name}: done ({_one_line(results[name])})")
    return results


def _one_line(result: dict[str, Any]) -> str:
    return (
        f"ok {result['ok']} ({result['ok_per_s']:.1f}/s), shed {result['shed']}, "
        f"errors {result['errors']}, timeouts {result['timeouts']}, "
        f"p99 {result['latency_ms']['p99']} ms"
    )


def _memory(app_results: dict[str, Any]) -> dict[str, Any]:
    idle = app_results["idle"]

    def peak(name: str) -> float:
        return float(app_results[name]["resources"]["peak_rss_mib"])

    storm_peak = max(peak("login_storm"), peak("isolation"))
    return {
        "idle_total_mib": round(sum(p.rss for p in idle) / MIB, 1),
        "idle_processes": [
            {"pid": p.pid, "role": p.role, "rss_mib": round(p.rss / MIB, 1)} for p in idle
        ],
        "idle_worker_mib": [round(p.rss / MIB, 1) for p in idle if p.role == "worker"],
        "storm_peak_mib": storm_peak,
        "overload_peak_mib": peak("overload"),
        "peak_mib": max(storm_peak, peak("overload")),
    }


def run(options: Options, progress: Progress) -> dict[str, Any]:
    """Every scenario in one run; returns the results (meta + scenarios), servers stopped."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="quart-bench-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        instance = folder / "instance"
        throttles_off = {} if options.keep_throttles else throttle_overrides(options.env)
        env = app_environment(
            instance,
            database_url=options.database_url,
            extra=options.env,
            throttles_off=throttles_off,
        )
        settings = app_settings(env)
        workers = hypercorn_workers()
        database_url = options.database_url or default_database_url(str(instance))
        meta = _meta(options, settings, env, workers, throttles_off)
        # Registered first, so it runs last: after the servers stopped and finished their logs.
        stack.callback(_keep_logs, folder, options.json_path.parent / "logs")

        progress.note(f"hash limit: {options.verify_runs} argon2 verifies in this process")
        password_hash = asyncio.run(make_password_hash(settings, PASSWORD))
        limit = measure_hash_limit(settings, password_hash, PASSWORD, options.verify_runs)
        hash_limit = {
            "verify_ms": round(limit.verify_seconds * 1000, 2),
            "runs": limit.runs,
            "cores": limit.cores,
            "ideal_logins_per_s": round(limit.ideal_logins_per_second, 2),
            "other_cpu_cores": round(limit.other_cpu_cores, 2),
        }
        progress.note(
            f"hash limit: verify {hash_limit['verify_ms']} ms → "
            f"{hash_limit['ideal_logins_per_s']} logins/s ideal"
        )

        hello = Server(
            "hello", "bench.hello_app:app", env=env, log_path=folder / "hello.log", health_path="/"
        )
        stack.callback(hello.stop)
        progress.note(f"ceiling: starting hello app at {hello.base_url}")
        hello.start()
        ceiling = asyncio.run(scenarios.ceiling(options, progress, hello))
        progress.note(f"ceiling: done ({_one_line(ceiling)})")
        hello.stop()

        app = Server(
            "app",
            "quart_app.asgi:app",
            env=env,
            log_path=folder / "app.log",
            health_path="/healthz",
        )
        stack.callback(app.stop)
        progress.note(f"app: starting quart_app.asgi:app at {app.base_url}")
        app.start()
        app_results = asyncio.run(
            _app_scenarios(
                options,
                progress,
                app,
                database_url,
                password_hash,
                sign_in_concurrency=workers * settings.HASH_POOL_SIZE,
            )
        )
        progress.note("stopping the app server")
        app.stop()
        if options.database_url:
            asyncio.run(delete_users(database_url, app_results["users_prefix"]))

        limits = limiter.run(
            options,
            progress,
            stack,
            folder,
            password_hash,
            baseline=app_results["login_storm"],
            baseline_throttles_off=limiter.login_throttles_off(settings),
        )
        progress.note(f"limiter: done ({limiter.one_line(limits)})")

    memory = _memory(app_results)
    memory["argon2_memory_mib"] = round(settings.ARGON2_MEMORY_COST / 1024, 1)
    memory["limit_mib"] = round(memory_limit_mib(memory, meta), 1)
    isolation = app_results["isolation"]
    idle_p99 = app_results["dashboard"]["latency_ms"]["p99"]
    storm_p99 = isolation["latency_ms"]["p99"]
    isolation["idle_p99_ms"] = idle_p99
    isolation["p99_ratio"] = round(storm_p99 / idle_p99, 2) if storm_p99 and idle_p99 else None
    meta["wall_s"] = round(time.monotonic() - started, 1)
    return {
        "meta": meta,
        "scenarios": {
            "hash_limit": hash_limit,
            "ceiling": ceiling,
            "login_storm": app_results["login_storm"],
            "dashboard": app_results["dashboard"],
            "isolation": isolation,
            "overload": app_results["overload"],
            "limiter": limits,
            "memory": memory,
        },
    }


def _keep_logs(folder: Path, destination: Path) -> None:
    """Copy the servers' logs (access and error logs) out of the temporary folder."""
    destination.mkdir(parents=True, exist_ok=True)
    for log in folder.glob("*.log"):
        shutil.copyfile(log, destination / log.name)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the ExitStack stops the servers."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    progress = Progress()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        results = run(options, progress)
    except KeyboardInterrupt:
        progress.note("interrupted; servers stopped")
        return 130
    except (BenchError, ServerError, ConfigError) as error:
        progress.note(f"failed: {error}")
        progress.note(f"server logs: {options.json_path.parent / 'logs'}")
        return 1
    targets = evaluate(results["meta"], results["scenarios"])
    print(table(results, targets), file=sys.stdout, flush=True)
    write_json(results, targets, options.json_path)
    progress.note(f"results written to {options.json_path}")
    return 0

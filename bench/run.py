"""One benchmark run: servers up, scenarios in order, servers down, report out. Each server
runs in a ``with`` block, so Ctrl-C, SIGTERM or an error still stops its process group."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import platform
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from bench import appenv, report, scenarios, seed, wrk
from bench.load import BenchError, Progress, SeededUsers
from bench.options import Options, parse_args
from bench.server import idle_memory, server_cpu_ms_per
from quart_app.config import FAST_TEST_HASHING, ConfigError, Settings
from quart_app.core.database import default_database_url
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.passwords.policy import normalise_password
from quart_app.testing.server import ServerDidNotStart, run_server

APP = "quart_app.asgi:app"
# hypercorn as the README runs it, hypercorn.toml and its workers: only --bind changes.
serve = functools.partial(
    run_server, cwd=appenv.PROJECT_ROOT, config=appenv.HYPERCORN_TOML, workers=None
)
SETTLE_SECONDS = 1.0  # after start-up and seeding, before the idle memory baseline
# High enough that no storm reaches it: the limiter counts every login and refuses none.
STORM_THROTTLES = {"THROTTLE_LOGIN_PER_MINUTE": "1000000"}
# argon2 at its minimal cost, as the test suites hash (the app accepts it only with TESTING).
FAST_HASHES = {"HASH_PROFILE": FAST_TEST_HASHING, "TESTING": "true"}
T = TypeVar("T")
Scenario = Callable[[scenarios.Bench], Awaitable[T]]
APP_SCENARIOS = {
    "login_storm": scenarios.login_storm,
    "dashboard": scenarios.dashboard,
    "isolation": scenarios.isolation,
    "overload": scenarios.overload,
}


@dataclasses.dataclass(frozen=True)
class Run:
    options: Options
    progress: Progress
    folder: Path  # temporary: the instance folders
    logs: Path
    password_hash: str

    def against_app(
        self, name: str, env: Mapping[str, str], database_url: str, scenario: Scenario[T]
    ) -> tuple[T, SeededUsers]:
        """Start the app with ``env``, seed its database, run ``scenario``, stop the server."""
        settings = Settings.load(environ=env)

        async def seeded() -> tuple[T, SeededUsers]:
            users = await appenv.seed_users(database_url, self.password_hash, self.options.users)
            self.progress.note(f"{name}: seeded {len(users.usernames)} users through Database")
            bench = scenarios.Bench(self.options, self.progress, server, users, settings)
            return await scenario(bench), users

        with serve(APP, env=env, log_path=self.logs / f"{name}.log") as server:
            self.progress.note(f"{name}: {APP} answering at {server.base_url}")
            return asyncio.run(seeded())

    def on_limiter_server(
        self, name: str, throttles: Mapping[str, str], scenario: Scenario[dict[str, Any]]
    ) -> dict[str, Any]:
        """``scenario`` on a fresh server with ``throttles`` over the app's defaults."""
        instance = self.folder / f"{name}-instance"
        env = appenv.limiter_environment(instance, self.options.env, throttles)
        shown = " ".join(f"{key}={value}" for key, value in throttles.items()) or "app defaults"
        self.progress.note(f"{name}: throttles {shown}")
        result, _ = self.against_app(name, env, default_database_url(str(instance)), scenario)
        settings = Settings.load(environ=env)
        fields = [option.name for option in dataclasses.fields(settings)]
        derived = {key: getattr(settings, key) for key in fields if key.startswith("THROTTLE_")}
        return {"throttles": derived, **result}

    def login_without_argon2(self, env: Mapping[str, str], database_url: str) -> dict[str, Any]:
        """The login storm on a server that hashes at argon2's minimal cost, its users seeded
        with such a hash: what a full login (GET + POST) costs beside its verify, on the server
        and in this client. Same database as the app's (a fresh SQLite one, or --database-url's,
        where its users are deleted afterwards)."""
        fast_env = {**env, **FAST_HASHES}
        settings = Settings.load(environ=fast_env)
        fast_hash = PasswordHasherPool.from_settings(settings).hasher.hash(
            normalise_password(appenv.PASSWORD)
        )
        if not self.options.database_url:  # a fresh SQLite database of its own
            instance = self.folder / "argon2-free-instance"
            fast_env["INSTANCE_PATH"] = str(instance)
            database_url = default_database_url(str(instance))
        fast = dataclasses.replace(self, password_hash=fast_hash)
        storm, users = fast.against_app(
            "argon2-free", fast_env, database_url, scenarios.login_storm
        )
        if self.options.database_url:
            asyncio.run(appenv.delete_users(database_url, users.prefix))
        return storm

    def limiter(self, baseline: Mapping[str, Any], baseline_throttles_off: bool) -> dict[str, Any]:
        """What the login throttles cost, on two servers of their own with them on: the storm
        with the per-IP limit out of reach (every login pays the counters, none is refused), and
        the app's defaults under one IP's burst (past the allowance, 429s without argon2 work)."""
        storm = self.on_limiter_server("limiter-storm", STORM_THROTTLES, scenarios.login_storm)
        hit = self.on_limiter_server("limiter-throttled", {}, scenarios.throttled_burst)
        on = server_cpu_ms_per(storm["resources"], storm["ok"])
        off = server_cpu_ms_per(baseline["resources"], baseline["ok"])
        cost = None
        if on is not None and off is not None and baseline_throttles_off:
            cost = round(on - off, 2)  # with --keep-throttles the storm paid for the limiter too
        self.progress.note(
            f"limiter: done (storm {storm['ok_per_s']:.1f} logins/s, server CPU {on} ms/login vs "
            f"{off} in login_storm; burst: 303×{hit['served_before_limit']}, 429×"
            f"{hit['count_429']} (+{hit['count_429_without_retry_after']} without Retry-After), "
            f"{hit['server_cpu_ms_per_429']} ms/429)"
        )
        return {
            "storm": {**storm, "server_cpu_ms_per_login": on},
            "cpu_ms_per_login": {
                "throttles_on": on,
                "login_storm": off,
                "login_storm_throttles_off": baseline_throttles_off,
                "limiter_cost": cost,
            },
            "throttled": hit,
        }


async def _hello_scenarios(bench: scenarios.Bench) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ceiling, then the burst floor, on the hello app's server."""
    ceiling = await scenarios.ceiling(bench)
    bench.progress.note(f"ceiling: done ({_one_line(ceiling)})")
    floor = await scenarios.burst_floor(bench)
    latency = " / ".join(str(floor["latency_ms"][key]) for key in ("p50", "p99", "max"))
    bench.progress.note(f"burst floor: done ({floor['statuses']}, p50 / p99 / max {latency} ms)")
    return ceiling, floor


async def _app_scenarios(bench: scenarios.Bench) -> dict[str, Any]:
    await asyncio.sleep(SETTLE_SECONDS)
    results: dict[str, Any] = {"idle": idle_memory(bench.app)}
    for name, scenario in APP_SCENARIOS.items():
        results[name] = await scenario(bench)
        bench.progress.note(f"{name}: done ({_one_line(results[name])})")
    return results


def _one_line(result: Mapping[str, Any]) -> str:
    line = (
        f"ok {result['ok']} ({result['ok_per_s']:.1f}/s), shed {result['shed']}, "
        f"errors {result['errors']}, timeouts {result['timeouts']}, "
        f"p99 {result['latency_ms']['p99']} ms"
    )
    if "server_cpu_ms_per_request" in result:  # the wrk scenarios
        line += f", server CPU {result['server_cpu_ms_per_request']} ms/request"
    return line


def _meta(options: Options, settings: Settings, off: Mapping[str, str]) -> dict[str, Any]:
    database = "fresh SQLite in a temporary folder"
    if options.database_url:
        database = make_url(options.database_url).render_as_string(hide_password=True)
    affinity = getattr(os, "sched_getaffinity", None)  # the cores this process may run on
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": cores,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "workers": appenv.hypercorn_workers(),
        "argon2": {
            "time_cost": settings.ARGON2_TIME_COST,
            "memory_cost_kib": settings.ARGON2_MEMORY_COST,
            "parallelism": settings.ARGON2_PARALLELISM,
        },
        "hash_pool_size": settings.HASH_POOL_SIZE,
        "hash_queue_limit": settings.HASH_QUEUE_LIMIT,
        "database": database,
        "env_overrides": dict(options.env),
        "throttles_off": dict(off),
        "app_revision": appenv.app_revision(),
        "options": dataclasses.asdict(options),
    }


def run(options: Options, progress: Progress) -> dict[str, Any]:
    """Every scenario in one run; returns the results (meta + scenarios), servers stopped."""
    started = time.monotonic()
    logs = options.json_path.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quart-bench-") as tmp:
        instance = Path(tmp) / "instance"
        off = {} if options.keep_throttles else appenv.THROTTLES_OFF
        off = {name: value for name, value in off.items() if name not in options.env}
        env = appenv.app_environment(instance, options.database_url, options.env, off)
        settings = Settings.load(environ=env)
        database_url = options.database_url or default_database_url(str(instance))
        meta = _meta(options, settings, off)

        progress.note(f"wrk: {wrk.executable()} drives ceiling, dashboard and seed")
        progress.note(f"hash limit: {options.verify_runs} argon2 verifies in this process")
        hasher = PasswordHasherPool.from_settings(settings).hasher
        password = normalise_password(appenv.PASSWORD)
        password_hash = hasher.hash(password)  # the seeded users' hash
        hash_limit = scenarios.hash_limit(
            hasher, password_hash, password, options.verify_runs, meta["cores"]
        )
        progress.note(
            f"hash limit: verify {hash_limit['verify_ms']} ms → "
            f"{hash_limit['ideal_logins_per_s']} logins/s ideal"
        )
        run = Run(options, progress, Path(tmp), logs, password_hash)

        with serve(
            "bench.hello_app:app", env=env, log_path=logs / "hello.log", health_path="/"
        ) as hello:
            progress.note(f"ceiling: hello app answering at {hello.base_url}")
            bench = scenarios.Bench(options, progress, hello, scenarios.NO_USERS, settings)
            ceiling, floor = asyncio.run(_hello_scenarios(bench))
        sync_seed = seed.seed(options, progress, Path(tmp), logs)
        progress.note(f"seed: done ({_one_line(sync_seed)})")

        app, users = run.against_app("app", env, database_url, _app_scenarios)
        if options.database_url:
            asyncio.run(appenv.delete_users(database_url, users.prefix))
        baseline_off = not any(getattr(settings, name) for name in appenv.LOGIN_THROTTLES)
        limiter = run.limiter(app["login_storm"], baseline_off)
        argon2_free = run.login_without_argon2(env, database_url)
        progress.note(f"argon2-free storm: done ({_one_line(argon2_free)})")

    peaks = {name: app[name]["resources"]["peak_rss_mib"] for name in APP_SCENARIOS}
    memory = {
        **app["idle"],
        "storm_peak_mib": max(peaks["login_storm"], peaks["isolation"]),
        "overload_peak_mib": peaks["overload"],
        "peak_mib": max(peaks["login_storm"], peaks["isolation"], peaks["overload"]),
        "argon2_memory_mib": round(settings.ARGON2_MEMORY_COST / 1024, 1),
        "limit_mib": round(report.memory_limit_mib(app["idle"]["idle_total_mib"], meta), 1),
    }
    idle_p99 = app["dashboard"]["latency_ms"]["p99"]
    storm_p99 = app["isolation"]["latency_ms"]["p99"]
    ratio = round(storm_p99 / idle_p99, 2) if storm_p99 and idle_p99 else None
    app["isolation"].update(idle_p99_ms=idle_p99, p99_ratio=ratio)
    shed_p99, floor_p99 = app["overload"]["shed_latency_ms"]["p99"], floor["latency_ms"]["p99"]
    ratio = round(shed_p99 / floor_p99, 2) if shed_p99 is not None and floor_p99 else None
    app["overload"].update(burst_floor_p99_ms=floor_p99, shed_p99_vs_burst_floor=ratio)
    app["overload"]["burst_at_ceiling"] = scenarios.burst_at_ceiling(
        options.overload_concurrency, ceiling["ok_per_s"]
    )
    app["login_storm"]["bound"] = scenarios.login_bound(hash_limit, app["login_storm"], argon2_free)
    meta["wall_s"] = round(time.monotonic() - started, 1)
    return {
        "meta": meta,
        "scenarios": {
            "hash_limit": hash_limit,
            "ceiling": ceiling,
            "burst_floor": floor,
            "seed": sync_seed,
            **{name: app[name] for name in APP_SCENARIOS},
            "limiter": limiter,
            "argon2_free_storm": argon2_free,
            "memory": memory,
        },
    }


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    progress = Progress()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwinds like Ctrl-C
    try:
        results = run(options, progress)
    except KeyboardInterrupt:
        progress.note("interrupted; servers stopped")
        return 130
    except (BenchError, ServerDidNotStart, ConfigError) as error:
        progress.note(f"failed: {error}")
        progress.note(f"server logs: {options.json_path.parent / 'logs'}")
        return 1
    targets = report.evaluate(results["meta"], results["scenarios"])
    print(report.table(results, targets), flush=True)
    document = json.dumps(
        {**results, "targets": targets}, indent=2, ensure_ascii=False, default=str
    )
    options.json_path.write_text(document + "\n", encoding="utf-8")
    progress.note(f"results written to {options.json_path}")
    return 0

"""The limiter scenario: what the login throttles cost, on app servers of its own with them on.

The other scenarios turn the throttles off (every virtual client is 127.0.0.1, so a per-IP
limit would be all they measured). Here two more servers, started like the app's (hypercorn.toml,
its workers, a fresh SQLite database in their own instance folder, the same seeded users), keep
them on, whatever --keep-throttles or --env say about throttles:

  storm      the login storm again with the per-IP login rate raised out of reach: every login
             pays the limiter's bookkeeping (its counter write and reads) and none is refused,
             so its server CPU per login less the login storm's is what the counters cost;
  throttled  the app's default throttles and one IP's burst of POST /login: past the allowance
             every answer must be a 429 with Retry-After that did no argon2 work.

Like run.py, servers start and stop in plain code around asyncio.run, inside the run's ExitStack.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.appenv import app_settings, hypercorn_workers, limiter_environment, throttle_settings
from bench.options import Options
from bench.procstats import server_cpu_ms_per
from bench.progress import Progress
from bench.seed import seed_users
from bench.server import Server
from quart_app.config import Settings
from quart_app.core.database import default_database_url

# High enough that no storm reaches it: the limiter counts every login and refuses none.
STORM_THROTTLES = {"THROTTLE_LOGIN_PER_MINUTE": "1000000"}

# The throttles a login's POST consults: with all of them 0 it does no limiter bookkeeping.
LOGIN_THROTTLES = ("THROTTLE_LOGIN_PER_MINUTE", "THROTTLE_PAIR_LIMIT", "THROTTLE_USER_LIMIT")

Scenario = Callable[[scenarios.Bench], Awaitable[dict[str, Any]]]


def login_throttles_off(settings: Settings) -> bool:
    """Whether a server with ``settings`` logs people in without the limiter (every limit 0, or
    a setting this app version does not have)."""
    return all(getattr(settings, name, 0) == 0 for name in LOGIN_THROTTLES)


async def _seeded(
    options: Options,
    progress: Progress,
    server: Server,
    settings: Settings,
    database_url: str,
    password_hash: str,
    scenario: Scenario,
) -> dict[str, Any]:
    """Seed this server's own database as the app's was, then run ``scenario`` against it."""
    users = await seed_users(database_url, password_hash, options.users)
    progress.note(f"{server.name}: seeded {len(users.usernames)} users")
    bench = scenarios.Bench(
        options=options,
        progress=progress,
        app=server,
        users=users,
        sign_in_concurrency=hypercorn_workers() * settings.HASH_POOL_SIZE,
        rng=random.Random(),  # noqa: S311 - picks users, not secrets
    )
    return await scenario(bench)


def _on_own_server(
    name: str,
    throttles: Mapping[str, str],
    scenario: Callable[[Settings], Scenario],
    *,
    options: Options,
    progress: Progress,
    stack: ExitStack,
    folder: Path,
    password_hash: str,
) -> dict[str, Any]:
    """Start a fresh app server with ``throttles`` over the app's defaults, run the scenario
    (made from the settings the server derives), stop the server."""
    instance = folder / f"{name}-instance"
    env = limiter_environment(instance, options.env, throttles)
    settings = app_settings(env)
    server = Server(
        name, "quart_app.asgi:app", env=env, log_path=folder / f"{name}.log", health_path="/healthz"
    )
    stack.callback(server.stop)
    shown = " ".join(f"{key}={value}" for key, value in throttles.items()) or "app defaults"
    progress.note(f"{name}: starting quart_app.asgi:app at {server.base_url}, throttles: {shown}")
    server.start()
    result = asyncio.run(
        _seeded(
            options,
            progress,
            server,
            settings,
            default_database_url(str(instance)),
            password_hash,
            scenario(settings),
        )
    )
    server.stop()
    return {"throttles": throttle_settings(settings), **result}


def run(
    options: Options,
    progress: Progress,
    stack: ExitStack,
    folder: Path,
    password_hash: str,
    *,
    baseline: Mapping[str, Any],
    baseline_throttles_off: bool,
) -> dict[str, Any]:
    """Both measurements, each on its own server; ``baseline`` is the login storm's result."""
    on_own_server = functools.partial(
        _on_own_server,
        options=options,
        progress=progress,
        stack=stack,
        folder=folder,
        password_hash=password_hash,
    )
    storm = on_own_server("limiter-storm", STORM_THROTTLES, lambda _: scenarios.login_storm)
    throttled = on_own_server(
        "limiter-throttled",
        {},  # the app's default throttles
        lambda settings: functools.partial(
            scenarios.throttled_burst, limit_per_minute=settings.THROTTLE_LOGIN_PER_MINUTE
        ),
    )
    return summarise(storm, throttled, baseline, baseline_throttles_off=baseline_throttles_off)


def summarise(
    storm: dict[str, Any],
    throttled: dict[str, Any],
    baseline: Mapping[str, Any],
    *,
    baseline_throttles_off: bool,
) -> dict[str, Any]:
    """The JSON form: both measurements, and server CPU per login with and without the limiter.

    The difference is only given when the login storm ran with the throttles off: with
    --keep-throttles it measured the limiter too, and nothing is left to subtract.
    """
    on = server_cpu_ms_per(storm["resources"], storm["ok"])
    off = server_cpu_ms_per(baseline["resources"], baseline["ok"])
    difference = (
        round(on - off, 2)
        if on is not None and off is not None and baseline_throttles_off
        else None
    )
    return {
        "storm": {**storm, "server_cpu_ms_per_login": on},
        "cpu_ms_per_login": {
            "throttles_on": on,
            "login_storm": off,
            "login_storm_throttles_off": baseline_throttles_off,
            "limiter_cost": difference,
        },
        "throttled": throttled,
    }


def one_line(result: Mapping[str, Any]) -> str:
    """The progress line once the scenario is done."""
    storm, cpu, throttled = result["storm"], result["cpu_ms_per_login"], result["throttled"]
    return (
        f"storm ok {storm['ok']} ({storm['ok_per_s']:.1f}/s), server CPU "
        f"{cpu['throttles_on']} ms/login vs {cpu['login_storm']} in login_storm; "
        f"burst 303 {throttled['served_before_limit']}, 429 {throttled['count_429']} "
        f"(+{throttled['count_429_without_retry_after']} without Retry-After), "
        f"{throttled['server_cpu_ms_per_429']} ms/429"
    )

"""The timed scenarios: each builds its clients, drives them for D seconds, and summarises.

Every scenario returns a plain dict (the JSON form) holding what its clients saw, what the
server processes used meanwhile (CPU, peak RSS) and how the connections sat on the workers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.balance import balance_connections
from bench.load import (
    Budget,
    close_clients,
    fetch_login_token,
    honour_retry_after,
    login_loop,
    login_post_loop,
    open_client,
    page_loop,
    sign_in,
    submit_login,
)
from bench.options import Options
from bench.procstats import ResourceWatch, server_cpu_ms_per
from bench.progress import Progress
from bench.seed import SeededUsers
from bench.server import Server
from bench.stats import AnswerRecorder, Recorder

FORM_FETCH_CONCURRENCY = (
    16  # overload: forms fetched a few at a time, fast enough to beat keep_alive_timeout
)
PREPARE_TIMEOUT_SECONDS = 60.0
THROTTLED_CLIENTS = 8  # limiter: one IP's burst of login attempts
THROTTLED_MAX_REQUESTS = 400  # ... bounded at this many requests, or D seconds


@dataclass
class Bench:
    """What every scenario against the app needs."""

    options: Options
    progress: Progress
    app: Server
    users: SeededUsers
    sign_in_concurrency: int  # logins at once while preparing: the app's hashing threads
    rng: random.Random

    def client_rng(self) -> random.Random:
        """Each client's own generator (picks users, not secrets), seeded from the run's."""
        return random.Random(self.rng.random())  # noqa: S311


async def _bounded(coroutines: Sequence[Coroutine[Any, Any, Any]], limit: int) -> list[Any]:
    """Run ``coroutines`` at most ``limit`` at a time, within PREPARE_TIMEOUT_SECONDS."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Coroutine[Any, Any, Any]) -> Any:
        async with semaphore:
            return await coroutine

    return await asyncio.wait_for(
        asyncio.gather(*(one(c) for c in coroutines)), PREPARE_TIMEOUT_SECONDS
    )


async def _balanced(clients: Sequence[aiohttp.ClientSession], server: Server, path: str) -> None:
    await asyncio.wait_for(balance_connections(clients, server, path), PREPARE_TIMEOUT_SECONDS)


async def _drive(
    progress: Progress,
    server: Server,
    recorders: Sequence[Recorder],
    duration: float,
    coroutines: Sequence[Coroutine[Any, Any, object]],
) -> dict[str, Any]:
    """Run the clients' loops with progress shown and the server's resources watched."""
    with ResourceWatch(server.processes) as watch:
        for recorder in recorders:
            recorder.start(duration)
        async with progress.watching(duration, *recorders):
            await asyncio.gather(*coroutines)
        for recorder in recorders:
            recorder.finish()
        spread = server.connections_per_worker()  # the clients' connections are still open
    if watch.usage is None:
        raise RuntimeError("resource watch did not finish")
    return {**watch.usage.as_dict(), "connections_per_worker": spread}


async def _signed_in_clients(bench: Bench, count: int) -> list[aiohttp.ClientSession]:
    """``count`` clients, each logged in through the form as a different seeded user, their
    connections spread evenly over the workers."""
    options = bench.options
    clients = [open_client(bench.app.base_url, options.timeout) for _ in range(count)]
    names = bench.users.usernames
    try:
        await _bounded(
            [
                sign_in(client, names[number % len(names)], bench.users.password)
                for number, client in enumerate(clients)
            ],
            bench.sign_in_concurrency,
        )
        await _balanced(clients, bench.app, "/healthz")
    except BaseException:
        await close_clients(clients)
        raise
    return clients


async def ceiling(options: Options, progress: Progress, hello: Server) -> dict[str, Any]:
    """Requests/s of the bare hello app, same client set-up as the dashboard scenario."""
    clients = [
        open_client(hello.base_url, options.timeout) for _ in range(options.dashboard_clients)
    ]
    try:
        await _balanced(clients, hello, "/")
        recorder = Recorder("ceiling")
        budget = Budget.for_seconds(options.duration, options.max_requests)
        loops = [page_loop(c, "/", budget, recorder) for c in clients]
        resources = await _drive(progress, hello, [recorder], options.duration, loops)
    finally:
        await close_clients(clients)
    return {"clients": len(clients), **recorder.summary(), "resources": resources}


def _storm_loops(
    bench: Bench, clients: Sequence[aiohttp.ClientSession], budget: Budget, recorder: Recorder
) -> list[Coroutine[Any, Any, None]]:
    names, password = bench.users.usernames, bench.users.password
    return [
        login_loop(client, names, password, budget, recorder, bench.client_rng())
        for client in clients
    ]


async def login_storm(bench: Bench) -> dict[str, Any]:
    """C clients logging in afresh, back to back, for D seconds."""
    options = bench.options
    clients = [open_client(bench.app.base_url, options.timeout) for _ in range(options.concurrency)]
    try:
        await _balanced(clients, bench.app, "/healthz")
        recorder = Recorder("login storm")
        budget = Budget.for_seconds(options.duration, options.max_requests)
        loops = _storm_loops(bench, clients, budget, recorder)
        resources = await _drive(bench.progress, bench.app, [recorder], options.duration, loops)
    finally:
        await close_clients(clients)
    return {"clients": len(clients), **recorder.summary(), "resources": resources}


async def dashboard(bench: Bench) -> dict[str, Any]:
    """K signed-in clients on /dashboard for D seconds; a 302 (session lost) is an error."""
    options = bench.options
    clients = await _signed_in_clients(bench, options.dashboard_clients)
    try:
        recorder = Recorder("dashboard")
        budget = Budget.for_seconds(options.duration, options.max_requests)
        loops = [page_loop(c, "/dashboard", budget, recorder) for c in clients]
        resources = await _drive(bench.progress, bench.app, [recorder], options.duration, loops)
    finally:
        await close_clients(clients)
    return {"clients": len(clients), **recorder.summary(), "resources": resources}


async def isolation(bench: Bench) -> dict[str, Any]:
    """A few signed-in clients on /dashboard while C clients run a login storm alongside."""
    options = bench.options
    probes = await _signed_in_clients(bench, options.isolation_clients)
    stormers = [
        open_client(bench.app.base_url, options.timeout) for _ in range(options.concurrency)
    ]
    try:
        await _balanced(stormers, bench.app, "/healthz")
        pages = Recorder("isolation")
        storm = Recorder("(storm)")
        page_budget = Budget.for_seconds(options.duration, options.max_requests)
        storm_budget = Budget.for_seconds(options.duration, options.max_requests)
        loops = [page_loop(c, "/dashboard", page_budget, pages) for c in probes]
        loops += _storm_loops(bench, stormers, storm_budget, storm)
        resources = await _drive(bench.progress, bench.app, [pages, storm], options.duration, loops)
    finally:
        await close_clients([*probes, *stormers])
    return {
        "clients": len(probes),
        "storm_clients": len(stormers),
        **pages.summary(),
        "storm": storm.summary(),
        "resources": resources,
    }


async def overload(bench: Bench) -> dict[str, Any]:
    """N clients (10x the storm) POST their logins at the same instant, then keep logging in
    (honouring Retry-After) until D seconds pass; answers still pending end at the timeout.

    No balancing here: a burst is what the server must cope with, however it lands.
    """
    options = bench.options
    names, password = bench.users.usernames, bench.users.password
    count = options.overload_concurrency
    clients = [open_client(bench.app.base_url, options.timeout) for _ in range(count)]
    try:
        bench.progress.note(f"overload: {count} clients fetching login forms")
        prepared = await _bounded([fetch_login_token(c) for c in clients], FORM_FETCH_CONCURRENCY)
        recorder = Recorder("overload")
        budget = Budget.for_seconds(options.duration, options.max_requests)
        go = asyncio.Event()

        async def client_run(
            client: aiohttp.ClientSession, token: str | None, rng: random.Random
        ) -> None:
            await go.wait()
            if token is not None and budget.take(1):
                outcome = await submit_login(client, rng.choice(names), password, token)
                recorder.record(outcome)
                await honour_retry_after(outcome, budget)
            await login_loop(client, names, password, budget, recorder, rng)

        runs = [
            client_run(client, token, bench.client_rng())
            for client, (_, token) in zip(clients, prepared, strict=True)
        ]
        for page, token in prepared:
            if token is None:
                recorder.record(page)  # a client that could not even get the form
        go.set()
        resources = await _drive(bench.progress, bench.app, [recorder], options.duration, runs)
    finally:
        await close_clients(clients)
    return {"clients": count, **recorder.summary(), "resources": resources}


async def _form_token(client: aiohttp.ClientSession, token: str | None) -> str | None:
    """``token``, or a fresh login form's when there is none."""
    if token is not None:
        return token
    _, fetched = await fetch_login_token(client)
    return fetched


def _allowance_requests(limit_per_minute: int, clients: int) -> int:
    """Requests enough to use up the per-IP allowance (GET + POST per success, and the answers
    in flight when the first 429 comes), yet bounded if the limit never answers."""
    return 4 * (limit_per_minute + clients)


async def throttled_burst(bench: Bench, limit_per_minute: int) -> dict[str, Any]:
    """THROTTLED_CLIENTS clients, all 127.0.0.1, POST /login with valid CSRF tokens, ignoring
    Retry-After: first until the per-IP limit answers 429 (the allowance: those logins run
    argon2), then for D seconds or THROTTLED_MAX_REQUESTS requests with the server watched, so
    the CPU per 429 holds none of the allowance's argon2 work.
    """
    options = bench.options
    names, password = bench.users.usernames, bench.users.password
    clients = [open_client(bench.app.base_url, options.timeout) for _ in range(THROTTLED_CLIENTS)]
    try:
        await _balanced(clients, bench.app, "/healthz")
        bench.progress.note(
            f"limiter: {len(clients)} clients using up the allowance "
            f"({limit_per_minute} logins/minute per IP)"
        )
        allowance = AnswerRecorder("allowance")
        allowance_budget = Budget.for_seconds(
            PREPARE_TIMEOUT_SECONDS, _allowance_requests(limit_per_minute, len(clients))
        )

        def limited() -> bool:
            return allowance.answered(429) > 0

        rngs = [bench.client_rng() for _ in clients]
        tokens = await asyncio.gather(
            *(
                login_post_loop(c, names, password, allowance_budget, allowance, rng, stop=limited)
                for c, rng in zip(clients, rngs, strict=True)
            )
        )
        allowance.finish()
        # A client whose last answer was a 303 needs a new form: fetched here, not in the burst.
        tokens = await _bounded(
            [_form_token(c, token) for c, token in zip(clients, tokens, strict=True)],
            len(clients),
        )
        burst = AnswerRecorder("limiter 429")
        budget = Budget.for_seconds(
            options.duration, min(THROTTLED_MAX_REQUESTS, options.max_requests)
        )
        loops = [
            login_post_loop(c, names, password, budget, burst, rng, token=token)
            for c, rng, token in zip(clients, rngs, tokens, strict=True)
        ]
        resources = await _drive(bench.progress, bench.app, [burst], options.duration, loops)
    finally:
        await close_clients(clients)
    return _throttled_summary(len(clients), limit_per_minute, allowance, burst, resources)


def _throttled_summary(
    clients: int,
    limit_per_minute: int,
    allowance: AnswerRecorder,
    burst: AnswerRecorder,
    resources: dict[str, Any],
) -> dict[str, Any]:
    """The burst's JSON form: 303s before and after the limit, 429s with and without
    Retry-After (both phases), and the latency and server CPU of the burst's 429s alone."""
    retry_afters = allowance.retry_afters + burst.retry_afters
    without = "429 no Retry-After"
    return {
        "clients": clients,
        "limit_per_minute": limit_per_minute,
        "served_before_limit": allowance.answered(303),
        "served_after_limit": burst.answered(303),
        "count_429": allowance.statuses["429"] + burst.statuses["429"],
        "count_429_without_retry_after": allowance.statuses[without] + burst.statuses[without],
        "retry_after_s": {
            "min": min(retry_afters, default=None),
            "max": max(retry_afters, default=None),
        },
        "latency_429_ms": burst.answer_latency_ms(429),
        "server_cpu_ms_per_429": server_cpu_ms_per(resources, burst.answered(429)),
        "allowance": allowance.summary(),
        "burst": {**burst.summary(), "resources": resources},
    }

"""The scenarios: each builds its clients, drives them for D seconds, and returns its JSON form
(what the clients saw, what the server used meanwhile, how the connections sat on the workers).
Throughput (ceiling, dashboard) is driven by wrk (bench/wrk.py), the login flows by aiohttp."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from bench import appenv, report, server, wrk
from bench.load import BenchError, Budget, Client, Progress, Recorder, SeededUsers, percentiles_ms
from bench.options import Options
from quart_app.config import Settings
from quart_app.testing.server import LiveServer

FORM_FETCH_CONCURRENCY = 16  # overload: forms fetched a few at a time, before keep_alive_timeout
# overload: shed answers in the first second after the burst are the burst's own
BURST_SECONDS = 1.0
# burst floor: a form the size of a login's, its token as long as the app's (token_urlsafe(32))
FLOOR_FORM = {"username": "bench-floor-0001", "password": appenv.PASSWORD, "csrf_token": "x" * 43}
PREPARE_TIMEOUT_SECONDS = 60.0
THROTTLED_CLIENTS = 8  # limiter: one IP's burst of login attempts,
THROTTLED_MAX_REQUESTS = 400  # bounded at this many requests, or D seconds
NO_USERS = SeededUsers([], "", "")  # for the hello app, where nobody logs in


def hash_limit(
    hasher: PasswordHasher, password_hash: str, password: str, runs: int, cores: int
) -> dict[str, Any]:
    """A login costs one argon2 verify, on one core (p=1, the GIL released), so no server logs
    people in faster than usable ``cores`` / verify time: the median of ``runs``, warmed up.

    Beside it, what ``cores`` threads verifying at once reach (argon2 is memory-hard: threads
    in parallel share the memory bandwidth and caches): the share of the formula the hardware
    itself allows, with no HTTP work at all."""
    hasher.verify(password_hash, password)
    timings = []
    with server.resource_watch(None) as usage:  # other programs' CPU slows the verifies
        for _ in range(runs):
            started = time.perf_counter()
            hasher.verify(password_hash, password)
            timings.append(time.perf_counter() - started)
        parallel = parallel_verifies_per_s(hasher, password_hash, password, cores, runs)
    median = statistics.median(timings)
    ideal = cores / median
    return {
        "verify_ms": round(median * 1000, 2),
        "runs": runs,
        "cores": cores,
        "ideal_logins_per_s": round(ideal, 2),
        "parallel_verifies_per_s": round(parallel, 2),
        "parallel_share_of_ideal": round(parallel / ideal, 3),
        "other_cpu_cores": usage["other_cpu_cores"],
    }


def parallel_verifies_per_s(
    hasher: PasswordHasher, password_hash: str, password: str, threads: int, runs: int
) -> float:
    """Verifies per second with ``threads`` threads each verifying ``runs`` times at once."""

    def verify_runs() -> None:
        for _ in range(runs):
            hasher.verify(password_hash, password)

    workers = [threading.Thread(target=verify_runs) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * runs / (time.perf_counter() - started)


def login_bound(
    hash_limit: dict[str, Any], storm: dict[str, Any], argon2_free: dict[str, Any]
) -> dict[str, Any]:
    """The most logins/s the app as it is can reach here: the cores over the CPU one login
    takes from them. That is argon2 at the rate the cores reach verifying at once (no server
    verifies faster on them), plus the rest of a login's server CPU, measured by the storm on
    a server that hashes at argon2's minimal cost, plus this client's CPU per login in
    ``storm`` (it shares the cores). None where a storm logged nobody in."""
    cores = hash_limit["cores"]
    argon2_ms = cores * 1000 / hash_limit["parallel_verifies_per_s"]
    rest_ms = server.server_cpu_ms_per(argon2_free["resources"], argon2_free["ok"])
    client_ms = server.client_cpu_ms_per(storm["resources"], storm["ok"])
    bound = {
        "storm_server_ms": server.server_cpu_ms_per(storm["resources"], storm["ok"]),
        "argon2_ms": round(argon2_ms, 2),
        "rest_server_ms": rest_ms,
        "client_ms": client_ms,
        "most_logins_per_s": None,
        "most_share_of_ideal": None,
    }
    if rest_ms is not None and client_ms is not None:
        most = cores * 1000 / (argon2_ms + rest_ms + client_ms)
        bound["most_logins_per_s"] = round(most, 1)
        bound["most_share_of_ideal"] = round(most / hash_limit["ideal_logins_per_s"], 3)
    return bound


def burst_at_ceiling(connections: int, ceiling_per_s: float) -> dict[str, Any]:
    """When the overload's burst would have its 99th-percentile answer (nearest rank) if the
    server answered its requests one after another at the bare hello's rate: the scale any
    shed p99 of a burst that arrives at once is judged against. Not a strict floor: a shed
    answer skips Quart, so it may cost less than a hello, and an admitted login costs more."""
    rank = max(1, math.ceil(0.99 * connections))
    p99 = rank / ceiling_per_s * 1000 if ceiling_per_s > 0 else None
    return {
        "connections": connections,
        "ceiling_per_s": ceiling_per_s,
        "p99_ms": None if p99 is None else round(p99, 1),
    }


@dataclass
class Bench:
    """What every scenario needs: the server, the users its clients log in as, the app's
    settings (the limiter's burst reads its login limit there)."""

    options: Options
    progress: Progress
    app: LiveServer
    users: SeededUsers
    settings: Settings
    rng: random.Random = field(default_factory=random.Random)  # picks users, not secrets

    def budget(self, max_requests: int | None = None) -> Budget:
        options = self.options
        return Budget(options.duration, max_requests or options.max_requests)

    @asynccontextmanager
    async def clients(
        self, count: int, balance: str | None = "/healthz", signed_in: bool = False
    ) -> AsyncIterator[list[Client]]:
        """Fresh clients, signed in if asked, their connections then spread evenly over the
        workers (hypercorn does not) on GET ``balance``."""
        # Each client's own generator (picks users, not secrets), seeded from the run's.
        rngs = [random.Random(self.rng.random()) for _ in range(count)]  # noqa: S311
        clients = [Client(self.app.base_url, self.options.timeout, self.users, r) for r in rngs]
        try:
            if signed_in:
                names = self.users.usernames
                logins = [c.sign_in(names[n % len(names)]) for n, c in enumerate(clients)]
                # At most as many at once as the app has hashing threads.
                await bounded(logins, appenv.hypercorn_workers() * self.settings.HASH_POOL_SIZE)
            if balance is not None:
                sessions = [client.session for client in clients]
                spread = server.balance_connections(sessions, self.app, balance)
                await asyncio.wait_for(spread, PREPARE_TIMEOUT_SECONDS)
            yield clients
        finally:
            await asyncio.gather(*(client.session.close() for client in clients))

    async def drive(
        self, recorders: Sequence[Recorder], loops: Sequence[Coroutine[Any, Any, object]]
    ) -> dict[str, Any]:
        """The first recorder's summary and the server's resources while the loops ran."""
        duration = self.options.duration
        with server.resource_watch(self.app) as usage:
            for recorder in recorders:
                recorder.start(duration)
            async with self.progress.watching(duration, *recorders):
                await asyncio.gather(*loops)
            for recorder in recorders:
                recorder.finish()
            # While the clients' connections are still open:
            spread = [len(ports) for ports in server.connections_per_worker(self.app).values()]
        resources = {**usage, "connections_per_worker": spread}
        return {**recorders[0].summary(), "resources": resources}


async def bounded(coroutines: Sequence[Coroutine[Any, Any, Any]], limit: int) -> list[Any]:
    """Run ``coroutines`` at most ``limit`` at a time, within PREPARE_TIMEOUT_SECONDS."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Coroutine[Any, Any, Any]) -> Any:
        async with semaphore:
            return await coroutine

    gathered = asyncio.gather(*(one(c) for c in coroutines))
    return await asyncio.wait_for(gathered, PREPARE_TIMEOUT_SECONDS)


async def ceiling(bench: Bench) -> dict[str, Any]:
    """Requests/s and server CPU per request of the bare hello app: wrk, K connections."""
    connections = bench.options.dashboard_clients
    bench.progress.note(f"ceiling: wrk, {connections} connections, {bench.options.duration:g} s")
    return await wrk.drive(bench.app, "/", connections, bench.options)


async def burst_floor(bench: Bench) -> dict[str, Any]:
    """The floor of any answer to the overload's burst, whatever the app does: as many keep-alive
    connections to the bare hello app as the overload has clients, each opened with a GET / a few
    at a time as the overload fetches its forms, then one POST / from each at the same instant,
    with a login-sized form (answered 405: no route takes a POST). Not balanced, as the burst."""
    count = bench.options.overload_concurrency
    async with bench.clients(count, balance=None) as clients:
        bench.progress.note(f"burst floor: {count} connections to the hello app, one POST each")
        opened = await bounded([c.send("GET", "/", 200) for c in clients], FORM_FETCH_CONCURRENCY)
        for outcome, _ in opened:
            if outcome.kind != "ok":
                raise BenchError(f"burst floor: a GET / answered {outcome.label}")
        recorder = Recorder("burst floor")

        async def post(client: Client) -> None:
            recorder.record((await client.send("POST", "/", 405, FLOOR_FORM))[0])

        result = await bench.drive([recorder], [post(c) for c in clients])
    # Not its CPU: over a window of a few clock ticks it would be noise (and warn of other load).
    kept = {key: result[key] for key in ("errors", "timeouts", "statuses", "latency_ms")}
    spread = result["resources"]["connections_per_worker"]
    return {"connections": count, **kept, "connections_per_worker": spread}


def shed_by_time(shed_times: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """The shed answers split at BURST_SECONDS after the burst: the p99 of those after it, and
    how many of those slower than the target's limit came in it."""
    after = [latency for at, latency in shed_times if at > BURST_SECONDS]
    limit = report.SHED_P99_LIMIT_MS
    slow = [at for at, latency in shed_times if latency * 1000 > limit]
    slow_in_burst = sum(at <= BURST_SECONDS for at in slow)
    return {
        "burst_s": BURST_SECONDS,
        "after_burst": len(after),
        "after_burst_latency_ms": percentiles_ms(after, 50, 99),
        "slower_than_ms": limit,
        "slower": len(slow),
        "slower_in_burst": slow_in_burst,
        "slower_share_in_burst": round(slow_in_burst / len(slow), 3) if slow else None,
    }


async def login_storm(bench: Bench) -> dict[str, Any]:
    """C clients logging in afresh, back to back, for D seconds."""
    async with bench.clients(bench.options.concurrency) as clients:
        recorder, budget = Recorder("login storm"), bench.budget()
        loops = [c.login_loop(budget, recorder) for c in clients]
        return {"clients": len(clients), **await bench.drive([recorder], loops)}


async def dashboard(bench: Bench) -> dict[str, Any]:
    """K sessions signed in through the login form, then wrk on /dashboard with K connections
    for D seconds, each request with the next session's cookie; a 302 (session lost) is an
    error. The aiohttp clients are closed first, so only wrk's connections are on the workers."""
    count = bench.options.dashboard_clients
    async with bench.clients(count, balance=None, signed_in=True) as clients:
        # As a browser following the login's redirect: the first page shows (and its answer
        # clears) the "Signed in" flash, which wrk, deaf to Set-Cookie, would send for ever.
        pages = await bounded([c.send("GET", "/dashboard", 200) for c in clients], count)
        for outcome, _ in pages:
            if outcome.kind != "ok":
                raise BenchError(f"dashboard: a signed-in GET /dashboard answered {outcome.label}")
        cookies = [wrk.cookie_header(c.session, bench.app.base_url) for c in clients]
    bench.progress.note(f"dashboard: {count} sessions signed in; wrk, {count} connections")
    return await wrk.drive(bench.app, "/dashboard", count, bench.options, cookies)


async def isolation(bench: Bench) -> dict[str, Any]:
    """A few signed-in clients on /dashboard while C clients run a login storm alongside."""
    options = bench.options
    async with (
        bench.clients(options.isolation_clients, signed_in=True) as probes,
        bench.clients(options.concurrency) as stormers,
    ):
        pages, storm = Recorder("isolation"), Recorder("(storm)")
        page_budget, storm_budget = bench.budget(), bench.budget()
        loops = [c.page_loop("/dashboard", page_budget, pages) for c in probes]
        loops += [c.login_loop(storm_budget, storm) for c in stormers]
        sizes = {"clients": len(probes), "storm_clients": len(stormers)}
        return {**sizes, **await bench.drive([pages, storm], loops), "storm": storm.summary()}


async def overload(bench: Bench) -> dict[str, Any]:
    """N clients (10x the storm) POST their logins at the same instant, then keep logging in
    (honouring Retry-After) for D seconds. Not balanced: a burst lands as it will. Shed answers
    are timed from the burst: drive() starts the recorder just before the first POSTs go."""
    count = bench.options.overload_concurrency
    async with bench.clients(count, balance=None) as clients:
        bench.progress.note(f"overload: {count} clients fetching login forms")
        prepared = await bounded([c.login_form() for c in clients], FORM_FETCH_CONCURRENCY)
        recorder, budget, go = Recorder("overload"), bench.budget(), asyncio.Event()

        async def client_run(client: Client, token: str | None) -> None:
            await go.wait()
            if token is not None and budget.take(1):
                outcome = await client.post_login(token)
                recorder.record(outcome)
                await budget.honour_retry_after(outcome)
            await client.login_loop(budget, recorder)

        for page, token in prepared:
            if token is None:
                recorder.record(page)  # a client that could not even get the form
        runs = [client_run(c, token) for c, (_, token) in zip(clients, prepared, strict=True)]
        go.set()
        result = await bench.drive([recorder], runs)
        return {"clients": count, **result, "shed_by_time": shed_by_time(recorder.shed_times)}


async def throttled_burst(bench: Bench) -> dict[str, Any]:
    """THROTTLED_CLIENTS clients, all 127.0.0.1, POST /login with valid CSRF tokens, ignoring
    Retry-After: first until the per-IP limit answers 429 (the allowance, whose logins run
    argon2), then for D seconds with the server watched, so the CPU per 429 holds no argon2."""
    limit = bench.settings.THROTTLE_LOGIN_PER_MINUTE
    async with bench.clients(THROTTLED_CLIENTS) as clients:
        bench.progress.note(
            f"limiter: {len(clients)} clients using up the allowance ({limit} logins/minute per IP)"
        )
        # Requests enough for GET + POST per success and the answers in flight at the first
        # 429, yet bounded if the limit never answers.
        allowance = Recorder("allowance")
        budget = Budget(PREPARE_TIMEOUT_SECONDS, 4 * (limit + len(clients)))
        tokens = await asyncio.gather(
            *(c.flood(budget, allowance, until_429=True) for c in clients)
        )
        allowance.finish()
        burst = Recorder("limiter 429")
        budget = bench.budget(min(THROTTLED_MAX_REQUESTS, bench.options.max_requests))
        loops = [c.flood(budget, burst, token) for c, token in zip(clients, tokens, strict=True)]
        result = await bench.drive([burst], loops)
    retries = allowance.retry_afters + burst.retry_afters
    without = "429 no Retry-After"
    return {
        "clients": len(clients),
        "limit_per_minute": limit,
        "served_before_limit": allowance.answered(303),
        "served_after_limit": burst.answered(303),
        "count_429": allowance.statuses["429"] + burst.statuses["429"],
        "count_429_without_retry_after": allowance.statuses[without] + burst.statuses[without],
        "retry_after_s": {"min": min(retries, default=None), "max": max(retries, default=None)},
        "latency_429_ms": percentiles_ms(burst.answer_latencies.get(429, []), 50, 99),
        "server_cpu_ms_per_429": server.server_cpu_ms_per(result["resources"], burst.answered(429)),
        "allowance": allowance.summary(),
        "burst": result,
    }

"""The load generator: virtual clients over aiohttp, each a browser with one keep-alive connection.

Every client has its own ClientSession, so its own cookie jar and connection, as a browser tab
would. Every loop stops at a deadline and when the scenario's request budget is spent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from bench.errors import BenchError
from bench.stats import SHED_STATUSES, Kind, Outcome, Recorder

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
RETRY_AFTER_CAP_SECONDS = 5.0  # a client never sleeps longer than this on one Retry-After


@dataclass
class Budget:
    """How long and how many requests a scenario may still use (shared by its clients)."""

    deadline: float  # time.monotonic() value
    max_requests: int
    used: int = 0

    @classmethod
    def for_seconds(cls, seconds: float, max_requests: int) -> Budget:
        return cls(deadline=time.monotonic() + seconds, max_requests=max_requests)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def take(self, requests: int) -> bool:
        """Reserve ``requests`` if time and budget allow; False means: stop."""
        if time.monotonic() >= self.deadline or self.used + requests > self.max_requests:
            return False
        self.used += requests
        return True


def require_loopback(base_url: str) -> None:
    """Refuse any target but this machine: the benchmark sends traffic to loopback only."""
    host = urlsplit(base_url).hostname or ""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"benchmark target must be a loopback address, got {host!r}")


def open_client(base_url: str, timeout: float) -> aiohttp.ClientSession:
    """One virtual browser: its own cookie jar (unsafe=True: cookies for an IP host) and one
    keep-alive connection (limit=1), no proxies from the environment."""
    require_loopback(base_url)
    return aiohttp.ClientSession(
        base_url=base_url,
        connector=aiohttp.TCPConnector(limit=1),
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        timeout=aiohttp.ClientTimeout(total=timeout),
        trust_env=False,
    )


async def close_clients(clients: Sequence[aiohttp.ClientSession]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent/invalid."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


async def send(
    client: aiohttp.ClientSession,
    method: str,
    path: str,
    *,
    expected: int,
    data: dict[str, str] | None = None,
    label_prefix: str = "",
) -> tuple[Outcome, str]:
    """One request, classified: ok (the expected status), shed, timeout or error; and the body."""
    started = time.perf_counter()
    try:
        async with client.request(method, path, data=data, allow_redirects=False) as response:
            body = await response.read()
            status = response.status
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except TimeoutError:
        elapsed = time.perf_counter() - started
        return Outcome("timeout", f"{label_prefix}timeout", elapsed, elapsed, 1), ""
    except aiohttp.ClientError as error:
        elapsed = time.perf_counter() - started
        label = f"{label_prefix}{type(error).__name__}"
        return Outcome("error", label, elapsed, elapsed, 1), ""
    elapsed = time.perf_counter() - started
    label = f"{label_prefix}{status}"
    kind: Kind
    if status == expected:
        kind = "ok"
    elif status in SHED_STATUSES and retry_after is not None:
        kind = "shed"
    else:
        kind = "error"
        if status in SHED_STATUSES:
            label += " no Retry-After"
    outcome = Outcome(kind, label, elapsed, elapsed, 1, status=status, retry_after=retry_after)
    return outcome, body.decode("utf-8", errors="replace")


async def fetch_login_token(client: aiohttp.ClientSession) -> tuple[Outcome, str | None]:
    """GET /login as a fresh browser (cookies cleared): the CSRF token and its session cookie."""
    client.cookie_jar.clear()
    page, html = await send(client, "GET", "/login", expected=200, label_prefix="GET ")
    if page.kind != "ok":
        return page, None
    match = CSRF_INPUT.search(html)
    if match is None:
        return replace(page, kind="error", label="GET no csrf_token"), None
    return page, match.group(1)


async def submit_login(
    client: aiohttp.ClientSession, username: str, password: str, token: str
) -> Outcome:
    """POST /login with the form fields; success is the 303 that sets the ``auth`` cookie."""
    form = {"username": username, "password": password, "csrf_token": token}
    answer, _ = await send(client, "POST", "/login", expected=303, data=form)
    return answer


async def full_login(client: aiohttp.ClientSession, username: str, password: str) -> Outcome:
    """A browser's whole login: fresh cookies, GET the form, POST it. Latency covers both."""
    started = time.perf_counter()
    page, token = await fetch_login_token(client)
    if token is None:
        return page
    answer = await submit_login(client, username, password, token)
    return replace(answer, latency=time.perf_counter() - started, requests=2)


async def honour_retry_after(outcome: Outcome, budget: Budget) -> None:
    """A polite client waits as long as a shed answer asks (capped, and not past the deadline)."""
    if outcome.kind == "shed" and outcome.retry_after:
        await asyncio.sleep(min(outcome.retry_after, RETRY_AFTER_CAP_SECONDS, budget.remaining()))


async def login_loop(
    client: aiohttp.ClientSession,
    usernames: Sequence[str],
    password: str,
    budget: Budget,
    recorder: Recorder,
    rng: random.Random,
) -> None:
    """Log in again and again as random seeded users, fresh each time, until time or budget ends."""
    while budget.take(2):
        outcome = await full_login(client, rng.choice(usernames), password)
        recorder.record(outcome)
        await honour_retry_after(outcome, budget)


def never() -> bool:
    return False


async def login_post_loop(
    client: aiohttp.ClientSession,
    usernames: Sequence[str],
    password: str,
    budget: Budget,
    recorder: Recorder,
    rng: random.Random,
    *,
    token: str | None = None,
    stop: Callable[[], bool] = never,
) -> str | None:
    """POST /login back to back with a valid CSRF token, as a flood would: Retry-After ignored.

    A new form (fresh cookies, GET /login) only when the last answer was not a 429: a success
    starts a new browser session without the old token, while a 429 leaves the session alone.
    Returns the token held at the end, so a next phase goes on with it instead of a GET.
    """
    while not stop() and budget.take(1 if token else 2):
        fetched = token is None
        if token is None:
            page, token = await fetch_login_token(client)
            if token is None:
                recorder.record(page)
                continue
        answer = await submit_login(client, rng.choice(usernames), password, token)
        recorder.record(replace(answer, requests=2) if fetched else answer)
        if answer.status != 429:
            token = None
    return token


async def page_loop(
    client: aiohttp.ClientSession, path: str, budget: Budget, recorder: Recorder
) -> None:
    """GET ``path`` back to back (a redirect is an error: for /dashboard, a lost session)."""
    while budget.take(1):
        outcome, _ = await send(client, "GET", path, expected=200)
        recorder.record(outcome)
        await honour_retry_after(outcome, budget)


async def sign_in(
    client: aiohttp.ClientSession,
    username: str,
    password: str,
    *,
    attempts: int = 5,
) -> None:
    """Log a client in once before a scenario; retries shed answers, raises on anything else."""
    for _ in range(attempts):
        outcome = await full_login(client, username, password)
        if outcome.kind == "ok":
            return
        if outcome.kind != "shed":
            raise BenchError(f"could not sign in {username}: {outcome.label}")
        await asyncio.sleep(min(outcome.retry_after or 1.0, RETRY_AFTER_CAP_SECONDS))
    raise BenchError(f"could not sign in {username}: shed {attempts} times")

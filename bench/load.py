"""The load generator: virtual browsers over aiohttp, what they saw, and progress on stderr."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
RETRY_AFTER_CAP_SECONDS = 5.0  # a client never sleeps longer than this on one Retry-After
# Load shedding answers: "shed" with a Retry-After header; without one (the app's
# database-failure 503 has none) an error, counted apart so the header check is visible.
SHED_STATUSES = frozenset({429, 503})
Kind = Literal["ok", "shed", "error", "timeout"]
COUNT_OF_KIND = {"ok": "ok", "error": "errors", "timeout": "timeouts", "shed": "shed"}
COUNTED = ("errors", "timeouts", "shed", "shed_without_retry_after", "server_errors_not_shed")


class BenchError(RuntimeError):
    """The benchmark cannot go on (a sign-in failed, say); shown without a traceback."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One operation (a page request, or a whole login of GET + POST) as the client saw it."""

    kind: Kind
    label: str  # the histogram key: a status ("303"), "GET 500", or an exception's name
    latency: float  # seconds for the whole operation
    answer_latency: float  # seconds for its last request alone (the one that was shed, say)
    requests: int = 1
    status: int | None = None  # of the last answer; None when there was none
    retry_after: float | None = None


def percentiles_ms(values: Sequence[float], *qs: int) -> dict[str, float | None]:
    """Nearest-rank percentiles (q in 1..100) in milliseconds, None when there are no values."""
    ordered = sorted(values)
    rank = {q: max(1, math.ceil(q / 100 * len(ordered))) for q in qs}
    return {f"p{q}": round(ordered[rank[q] - 1] * 1000, 2) if ordered else None for q in qs}


@dataclass
class Recorder:
    """One scenario's outcomes. Throughput counts only operations finished inside the timed
    window, so requests in flight at the deadline do not inflate it."""

    name: str
    started: float = field(default_factory=time.monotonic)
    deadline: float = math.inf
    finished: float | None = None
    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # of whole ok operations
    shed_latencies: list[float] = field(default_factory=list)
    # (seconds from start() to the answer, its latency) of each shed answer
    shed_times: list[tuple[float, float]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # by Outcome.label
    answer_latencies: dict[int, list[float]] = field(default_factory=dict)  # by status
    retry_afters: list[float] = field(default_factory=list)

    def start(self, duration: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + duration

    def finish(self) -> None:
        self.finished = time.monotonic()

    def record(self, outcome: Outcome) -> None:
        self.counts["requests"] += outcome.requests
        self.counts[COUNT_OF_KIND[outcome.kind]] += 1
        self.statuses[outcome.label] += 1
        if outcome.status is not None:
            self.answer_latencies.setdefault(outcome.status, []).append(outcome.answer_latency)
        if outcome.retry_after is not None:
            self.retry_afters.append(outcome.retry_after)
        if outcome.kind == "ok":
            self.latencies.append(outcome.latency)
            self.counts["ok_in_window"] += time.monotonic() <= self.deadline
        elif outcome.kind == "shed":
            self.shed_latencies.append(outcome.answer_latency)
            self.shed_times.append((time.monotonic() - self.started, outcome.answer_latency))
        elif outcome.kind == "error":
            self.counts["shed_without_retry_after"] += outcome.status in SHED_STATUSES
            # 5xx other than a 503 with Retry-After (that one is shed)
            self.counts["server_errors_not_shed"] += (outcome.status or 0) >= 500

    def answered(self, status: int) -> int:
        """Answers with ``status``, with or without Retry-After."""
        return len(self.answer_latencies.get(status, ()))

    def summary(self) -> dict[str, Any]:
        end = self.finished or time.monotonic()
        elapsed = end - self.started
        window = max(min(end, self.deadline) - self.started, 1e-9)
        count = self.counts
        latency = percentiles_ms(self.latencies, 50, 95, 99, 100)
        latency["max"] = latency.pop("p100")
        return {
            "window_s": round(window, 3),
            "elapsed_s": round(elapsed, 3),
            "requests": count["requests"],
            "ok": count["ok"],
            "ok_per_s": round(count["ok_in_window"] / window, 2),
            "requests_per_s": round(count["requests"] / elapsed, 2) if elapsed else 0.0,
            **{key: count[key] for key in COUNTED},
            "latency_ms": latency,
            "shed_latency_ms": percentiles_ms(self.shed_latencies, 50, 99),
            "statuses": dict(sorted(self.statuses.items())),
        }


class Progress:
    """Progress on stderr (stdout is the table's): a status line redrawn in place on a terminal,
    plain lines every 5 s otherwise, so a log or a test's captured output stays readable."""

    def __init__(self) -> None:
        self.live, self.started = sys.stderr.isatty(), time.monotonic()

    def _write(self, text: str) -> None:
        sys.stderr.write(("\r\x1b[2K" if self.live else "") + text)
        sys.stderr.flush()

    def note(self, text: str) -> None:
        self._write(f"[{time.monotonic() - self.started:6.1f}s] {text}\n")

    @asynccontextmanager
    async def watching(self, duration: float, *recorders: Recorder) -> AsyncIterator[None]:
        """Show the recorders' counts, and the rates since the last line, while the block runs."""

        async def show() -> None:
            last, since = Counter[str](), time.monotonic()
            while True:
                await asyncio.sleep(0.25 if self.live else 5.0)
                now, total = time.monotonic(), sum((r.counts for r in recorders), Counter[str]())
                rate = {key: (total[key] - last[key]) / (now - since) for key in ("requests", "ok")}
                line = (
                    f"{recorders[0].name:<12} {now - recorders[0].started:5.1f}/{duration:g}s  "
                    f"req {total['requests']:>7} ({rate['requests']:7.1f}/s)  "
                    f"ok {total['ok']:>6} ({rate['ok']:7.1f}/s)  "
                    f"shed {total['shed']}  err {total['errors'] + total['timeouts']}"
                )
                last, since = total, now
                self._write(line if self.live else f"  {line}\n")

        task = asyncio.create_task(show())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            self._write("")


class Budget:
    """How long and how many requests a scenario may still use (shared by its clients)."""

    def __init__(self, seconds: float, max_requests: int) -> None:
        self.deadline, self.requests_left = time.monotonic() + seconds, max_requests

    def take(self, requests: int) -> bool:
        """Reserve ``requests`` if time and budget allow; False means: stop."""
        if time.monotonic() >= self.deadline or requests > self.requests_left:
            return False
        self.requests_left -= requests
        return True

    async def honour_retry_after(self, outcome: Outcome) -> None:
        """A polite client waits as long as a shed answer asks (capped, not past the deadline)."""
        if outcome.kind == "shed" and outcome.retry_after:
            remaining = max(0.0, self.deadline - time.monotonic())
            await asyncio.sleep(min(outcome.retry_after, RETRY_AFTER_CAP_SECONDS, remaining))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent/invalid."""
    text = (value or "").strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SeededUsers:
    usernames: list[str]
    password: str
    prefix: str  # every seeded username starts with it, so a run can delete exactly its users


class Client:
    """A browser on loopback: its own cookie jar (unsafe=True: cookies for an IP host), one
    keep-alive connection, no proxies; it logs in as seeded users its ``rng`` picks."""

    def __init__(
        self, base_url: str, timeout: float, users: SeededUsers, rng: random.Random
    ) -> None:
        host = urlsplit(base_url).hostname or ""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"benchmark target must be a loopback address, got {host!r}")
        self.session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=1),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=timeout),
            trust_env=False,
        )
        self.users, self.rng = users, rng

    async def send(
        self, method: str, path: str, expected: int, data: Any = None, prefix: str = ""
    ) -> tuple[Outcome, str]:
        """One request, classified: ok (the expected status), shed, timeout or error; and the
        body. ``prefix`` starts its label."""
        started = time.perf_counter()
        try:
            async with self.session.request(method, path, data=data, allow_redirects=False) as r:
                body, status = await r.read(), r.status
                retry_after = parse_retry_after(r.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError) as error:
            elapsed = time.perf_counter() - started
            if isinstance(error, TimeoutError):
                return Outcome("timeout", f"{prefix}timeout", elapsed, elapsed), ""
            return Outcome("error", prefix + type(error).__name__, elapsed, elapsed), ""
        elapsed = time.perf_counter() - started
        label = f"{prefix}{status}"
        kind: Kind = "ok" if status == expected else "error"
        if kind == "error" and status in SHED_STATUSES:
            if retry_after is not None:
                kind = "shed"
            else:
                label += " no Retry-After"
        outcome = Outcome(kind, label, elapsed, elapsed, status=status, retry_after=retry_after)
        return outcome, body.decode("utf-8", errors="replace")

    async def login_form(self) -> tuple[Outcome, str | None]:
        """GET /login as a fresh browser (cookies cleared): the CSRF token and its session."""
        self.session.cookie_jar.clear()
        page, html = await self.send("GET", "/login", 200, prefix="GET ")
        if page.kind != "ok":
            return page, None
        match = CSRF_INPUT.search(html)
        if match is None:
            return replace(page, kind="error", label="GET no csrf_token"), None
        return page, match.group(1)

    async def post_login(self, token: str, username: str | None = None) -> Outcome:
        """POST /login (as a random user by default); success is the 303 that signs in."""
        name = username or self.rng.choice(self.users.usernames)
        form = {"username": name, "password": self.users.password, "csrf_token": token}
        return (await self.send("POST", "/login", 303, form))[0]

    async def full_login(self, username: str | None = None) -> Outcome:
        """A browser's whole login: fresh cookies, GET the form, POST it. Latency covers both."""
        started = time.perf_counter()
        page, token = await self.login_form()
        if token is None:
            return page
        answer = await self.post_login(token, username)
        return replace(answer, latency=time.perf_counter() - started, requests=2)

    async def sign_in(self, username: str, attempts: int = 5) -> None:
        """Log in before a scenario; retries shed answers, raises on anything else."""
        for _ in range(attempts):
            outcome = await self.full_login(username)
            if outcome.kind == "ok":
                return
            if outcome.kind != "shed":
                raise BenchError(f"could not sign in {username}: {outcome.label}")
            await asyncio.sleep(min(outcome.retry_after or 1.0, RETRY_AFTER_CAP_SECONDS))
        raise BenchError(f"could not sign in {username}: shed {attempts} times")

    async def login_loop(self, budget: Budget, recorder: Recorder) -> None:
        """Full logins, back to back, until time or budget ends."""
        while budget.take(2):
            outcome = await self.full_login()
            recorder.record(outcome)
            await budget.honour_retry_after(outcome)

    async def page_loop(self, path: str, budget: Budget, recorder: Recorder) -> None:
        """GET ``path`` back to back (a redirect is an error: for /dashboard, a lost session)."""
        while budget.take(1):
            outcome, _ = await self.send("GET", path, 200)
            recorder.record(outcome)
            await budget.honour_retry_after(outcome)

    async def flood(
        self, budget: Budget, recorder: Recorder, token: str | None = None, until_429: bool = False
    ) -> str | None:
        """POST /login back to back with a valid CSRF token, as a flood would: Retry-After
        ignored, and, ``until_429``, until the recorder has a 429. A new form only after an
        answer other than 429 (a success starts a new browser session; a 429 leaves it alone).
        Returns the token held at the end, for a next phase to go on with."""
        while not (until_429 and recorder.answered(429)) and budget.take(1 if token else 2):
            fetched = token is None
            if token is None:
                page, token = await self.login_form()
                if token is None:
                    recorder.record(page)
                    continue
            answer = await self.post_login(token)
            recorder.record(replace(answer, requests=2) if fetched else answer)
            if answer.status != 429:
                token = None
        if until_429 and token is None:  # for the next phase: a form fetched now, not in it
            token = (await self.login_form())[1]
        return token

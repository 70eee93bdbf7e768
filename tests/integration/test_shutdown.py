"""SIGTERM to a real two-worker server under load, as systemd sends it (to the whole process
group at once): every request gets a full answer or none at all, never a cut-off one; what was
in flight is answered; the mail sender (stuck in a send) and the purge stop cleanly; the server
exits 0 within hypercorn's graceful timeout; nothing an answer reported is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from quart_app.core.worker_stop import SHUTDOWN_MARGIN_SECONDS
from tests.support.http import extract_csrf_token, unique_password, unique_username
from tests.support.mail import StallingSmtp
from tests.support.servers import (
    HYPERCORN_TOML,
    TEST_SECRET_KEY,
    LiveServer,
    database_rows,
    free_port,
    running_server,
)

CLIENTS = 24
WARM_UP_ANSWERS = 100  # full answers before the signal: the load had got going
# A request sent this long before the signal had reached a worker (they accept and read in
# milliseconds); one sent later may still have been unread, and closing it unanswered is fair.
REACHED_A_WORKER = 0.25
EXIT_WITHIN = 15.0  # hypercorn.toml's graceful_timeout of 10 s and a margin
REQUEST_SECONDS = 25.0  # past EXIT_WITHIN: a request the shutdown left hanging is seen as one
HASHING_POSTS = frozenset({("POST", "/register"), ("POST", "/login")})
ACCESS_LOG_LINE = '> "'  # <pid <123>> "GET / 1.1" 200: quart_app.testing.server's format
# What a killed worker or a task cut off leaves in the log.
LOG_FAULTS = (
    "Traceback",
    "Task was destroyed but it is pending",
    "Exception in callback",
    "CancelledError",
    "was never awaited",
    "non-checked-in connection",
)


class Refused(Exception):
    """The connection was refused: nobody listens any more."""


class NoAnswer(Exception):
    """The connection closed before a status line arrived."""


@dataclass(frozen=True, slots=True)
class Answer:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    text: str
    started: float  # time.monotonic()
    ended: float


@dataclass
class Load:
    """Clients registering and signing in, each request on a new connection; what they saw."""

    base_url: str
    signalled_at: float | None = None
    answers: list[Answer] = field(default_factory=list)
    unanswered: list[tuple[str, str, float, str]] = field(default_factory=list)
    refused_after_signal: int = 0
    faults: list[str] = field(default_factory=list)  # cut-off answers, wrong statuses, timeouts
    in_flight: dict[int, tuple[str, str, float]] = field(default_factory=dict)
    registered: list[tuple[str, str]] = field(default_factory=list)  # username, address
    unanswered_registrations: list[str] = field(default_factory=list)
    logins: dict[str, int] = field(default_factory=dict)  # username: sign-ins answered 303
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def oldest_hash_in_flight(self) -> float:
        """Seconds the oldest hashing POST now in flight has been under way (0: none)."""
        starts = [s for m, p, s in self.in_flight.values() if (m, p) in HASHING_POSTS]
        return time.monotonic() - min(starts) if starts else 0.0

    async def request(
        self, session: aiohttp.ClientSession, method: str, path: str, **form: str
    ) -> Answer:
        """Send one request and read its answer to the end. Refused or NoAnswer when not a
        byte of an answer came; an answer cut off after its headers is a fault."""
        number, started = next(self._numbers), time.monotonic()
        self.in_flight[number] = (method, path, started)
        try:
            async with session.request(
                method, self.base_url + path, data=form or None, allow_redirects=False
            ) as response:
                try:
                    body = await response.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as error:
                    self.faults.append(f"{method} {path}: answer cut off: {error!r}")
                    raise NoAnswer(repr(error)) from error
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, ConnectionRefusedError):
                raise Refused() from error
            raise self._no_answer(method, path, started, error) from error
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            # Before the status line (after it, read() above caught it).
            raise self._no_answer(method, path, started, error) from error
        except TimeoutError as error:
            self.faults.append(f"{method} {path}: no answer within {REQUEST_SECONDS} s")
            raise NoAnswer("timeout") from error
        finally:
            del self.in_flight[number]
        headers = dict(response.headers)
        if int(headers.get("Content-Length", len(body))) != len(body):
            self.faults.append(f"{method} {path}: {len(body)} of {headers['Content-Length']} bytes")
        answer = Answer(
            method, path, response.status, headers, body.decode(), started, time.monotonic()
        )
        self.answers.append(answer)
        return answer

    def _no_answer(self, method: str, path: str, started: float, error: Exception) -> NoAnswer:
        self.unanswered.append((method, path, started, repr(error)))
        if self.signalled_at is None:
            self.faults.append(f"{method} {path}: no answer before the signal: {error!r}")
        return NoAnswer(repr(error))

    def expect(self, answer: Answer, status: int, location: str | None = None) -> bool:
        """Whether ``answer`` is the one expected. A 503 with Retry-After (load shed) is not,
        but is no fault; any other status is."""
        if answer.status == 503 and "Retry-After" in answer.headers:
            return False
        if (answer.status, answer.headers.get("Location")) != (status, location):
            self.faults.append(
                f"{answer.method} {answer.path}: {answer.status} "
                f"{answer.headers.get('Location')!r}, expected {status} {location!r}"
            )
            return False
        return True

    async def sign_up_and_in(self) -> None:
        """Register with an address (a mail is queued), then sign in with a fresh cookie jar
        and open the dashboard; stop at the first answer that is not the expected one."""
        username, password = unique_username("term"), unique_password()
        address = f"{username}@example.org"
        async with browser() as session:
            form = await self.request(session, "GET", "/register")
            if not self.expect(form, 200):
                return
            fields = {"username": username, "password": password, "email": address}
            try:
                done = await self.request(
                    session, "POST", "/register", **fields, csrf_token=extract_csrf_token(form.text)
                )
            except NoAnswer:
                self.unanswered_registrations.append(username)
                raise
            if not self.expect(done, 303, "/"):
                return
            self.registered.append((username, address))
        async with browser() as session:
            form = await self.request(session, "GET", "/login")
            if not self.expect(form, 200):
                return
            fields = {"username": username, "password": password}
            token = extract_csrf_token(form.text)
            done = await self.request(session, "POST", "/login", **fields, csrf_token=token)
            if not self.expect(done, 303, "/"):
                return
            self.logins[username] = self.logins.get(username, 0) + 1
            dashboard = await self.request(session, "GET", "/dashboard")
            if self.expect(dashboard, 200) and f"<dd>{username}</dd>" not in dashboard.text:
                self.faults.append("GET /dashboard: not the signed-in user's page")

    async def client(self) -> None:
        """Journey after journey, until a connection is refused (after the signal) or a
        request goes unanswered before it."""
        while True:
            try:
                await self.sign_up_and_in()
            except Refused:
                if self.signalled_at is None:
                    self.faults.append("a connection was refused before the signal")
                else:
                    self.refused_after_signal += 1
                return
            except NoAnswer:
                if self.signalled_at is None:
                    return  # a fault already


@asynccontextmanager
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """Cookies of its own (for an IP address too), no redirects followed, and a new connection
    for every request: a closed connection is never a keep-alive race."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS),
    ) as session:
        yield session


@pytest.fixture
async def stalling_smtp() -> AsyncIterator[StallingSmtp]:
    smtp = StallingSmtp(free_port())
    await smtp.start()
    yield smtp
    await smtp.stop()


@pytest.fixture
def server(
    tmp_path_factory: pytest.TempPathFactory, stalling_smtp: StallingSmtp
) -> Iterator[LiveServer]:
    with running_server(
        tmp_path_factory.mktemp("shutdown"),
        secret_key=TEST_SECRET_KEY,
        extra_env=server_settings(stalling_smtp),
    ) as live:
        yield live


def server_settings(stalling_smtp: StallingSmtp) -> dict[str, str]:
    return {
        # Each worker's sender is stuck in a send when the signal comes, and is cut off.
        "SMTP_URL": f"smtp://127.0.0.1:{stalling_smtp.port}",
        "MAIL_SEND_TIMEOUT": "60",
        "MAIL_POLL_INTERVAL": "1",
        "PURGE_INTERVAL": "1",  # a purge every second: one may be under way at the signal
    }


async def signal_during_a_hash(
    server: LiveServer, load: Load, smtp: StallingSmtp, *, to_group: bool
) -> None:
    """SIGTERM once the load has got going, a mail is being sent, and a hashing POST has been
    in flight for a while: to the server's process group, or to its master alone."""
    for _ in range(2000):  # 20 s at most
        if (
            len(load.answers) >= WARM_UP_ANSWERS
            and smtp.holding(1)  # MAIL_SEND_TIMEOUT is far off: the first send still hangs
            and load.oldest_hash_in_flight() > 0.1
        ):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail(
            f"{len(load.answers)} answers, {smtp.accepted} sends: no moment to send the signal"
        )
    load.signalled_at = time.monotonic()  # no await from the check to the kill
    if to_group:
        os.killpg(server.process.pid, signal.SIGTERM)
    else:
        server.process.send_signal(signal.SIGTERM)


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Seconds until ``process`` exited, or None when it was still running after ``timeout``."""
    started = time.monotonic()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - started


# systemd's default, KillMode=control-group, signals every process of the service at once (so
# do docker stop and kill -- -PGID); KillMode=mixed signals the master alone.
@pytest.mark.parametrize("to_group", [True, False], ids=["process-group", "master-only"])
async def test_sigterm_under_load_answers_what_is_in_flight_and_loses_nothing(
    server: LiveServer, stalling_smtp: StallingSmtp, to_group: bool
) -> None:
    load = Load(server.base_url)
    clients = [asyncio.create_task(load.client()) for _ in range(CLIENTS)]
    await signal_during_a_hash(server, load, stalling_smtp, to_group=to_group)
    assert load.signalled_at is not None
    signalled_at, in_flight_at_signal = load.signalled_at, list(load.in_flight.values())
    exited_after = await asyncio.to_thread(wait_for_exit, server.process, EXIT_WITHIN)
    if exited_after is None:  # reported below; killed now, so the clients' connections end
        os.killpg(server.process.pid, signal.SIGKILL)
    async with asyncio.timeout(REQUEST_SECONDS):
        await asyncio.gather(*clients)
    log = server.log_text()

    # The server: stopped in time, with a clean status and a clean log.
    problems = []
    if exited_after is None:
        problems.append(f"still running {EXIT_WITHIN} s after SIGTERM")
    elif server.process.returncode != 0:
        problems.append(f"exit status {server.process.returncode}")
    problems += [f"log: {line}" for line in log.splitlines() if any(f in line for f in LOG_FAULTS)]

    # The clients: never a cut-off answer or a wrong status; what was in flight answered.
    problems += load.faults
    dropped = [u for u in load.unanswered if u[2] < signalled_at - REACHED_A_WORKER]
    problems += [f"in flight at the signal, never answered: {u}" for u in dropped]
    problems += await lost_or_half_written(server, load)
    output = "\n".join([line for line in log.splitlines() if ACCESS_LOG_LINE not in line][-60:])
    assert not problems, (
        "\n".join(problems) + f"\n\nthe end of the server's output, less the access log:\n{output}"
    )

    # ...and the shutdown really was exercised.
    assert sum(a.ended < signalled_at for a in load.answers) >= WARM_UP_ANSWERS
    hashes_across = [
        a
        for a in load.answers
        if (a.method, a.path) in HASHING_POSTS and a.started < signalled_at < a.ended
    ]
    assert hashes_across, f"no hashing POST answered across the signal: {in_flight_at_signal}"
    assert load.refused_after_signal >= 1, "no connection was refused after the signal"


async def lost_or_half_written(server: LiveServer, load: Load) -> list[str]:
    """Every answered registration's account, mail and session, every answered sign-in's
    session; no registration committed whose answer never came; no account half-made."""
    problems = []
    rows = await database_rows(
        server,
        "SELECT u.username, count(s.id) FROM users u"
        " LEFT JOIN sessions s ON s.user_id = u.id GROUP BY u.username",
    )
    sessions = {str(username): cast(int, count) for username, count in rows}
    for username, _ in load.registered:
        expected = 1 + load.logins.get(username, 0)  # the registration's, and each sign-in's
        if username not in sessions:
            problems.append(f"answered 303, but no account: {username}")
        elif sessions[username] < expected:
            problems.append(f"{username}: {sessions[username]} of {expected} sessions")
    problems += [
        f"committed, but its answer was lost: {username}"
        for username in load.unanswered_registrations
        if username in sessions
    ]

    # One transaction: an account, its "registered" event, its link and its mail, or none.
    [(half_made,)] = await database_rows(
        server,
        "SELECT count(*) FROM users u WHERE"
        " NOT EXISTS (SELECT 1 FROM auth_events e WHERE e.user_id = u.id"
        "   AND e.kind = 'registered')"
        " OR NOT EXISTS (SELECT 1 FROM account_tokens t JOIN mail_outbox m"
        "   ON m.to_address = t.email WHERE t.user_id = u.id AND t.purpose = 'confirm_email')",
    )
    if half_made:
        problems.append(f"{half_made} accounts without their event, link or mail")
    [(orphans,)] = await database_rows(
        server,
        "SELECT count(*) FROM mail_outbox m WHERE NOT EXISTS"
        " (SELECT 1 FROM account_tokens t WHERE t.email = m.to_address)",
    )
    if orphans:
        problems.append(f"{orphans} mails whose account was never committed")
    [(given_up,)] = await database_rows(
        server, "SELECT count(*) FROM mail_outbox WHERE failed_at IS NOT NULL"
    )
    if given_up:
        problems.append(f"{given_up} mails given up on: a send cut off must stay queued")
    if make_url(server.database_url).get_backend_name() == "sqlite":
        [(integrity,)] = await database_rows(server, "PRAGMA integrity_check")
        if integrity != "ok":
            problems.append(f"SQLite integrity_check: {integrity}")
    return problems


async def test_a_stop_that_overruns_the_graceful_timeout_still_ends(
    tmp_path: Path, stalling_smtp: StallingSmtp
) -> None:
    """Requests cut off at a graceful timeout of 0.2 s can leave a worker whose shutdown never
    returns (an aiosqlite close that waits for good); ignoring SIGTERM, it would then wait for a
    SIGKILL. Its watchdog ends it once graceful_timeout and the margin have passed."""
    config = tmp_path / "hypercorn.toml"
    stock = HYPERCORN_TOML.read_text()
    assert "graceful_timeout = 10\n" in stock
    config.write_text(stock.replace("graceful_timeout = 10\n", "graceful_timeout = 0.2\n"))
    with running_server(
        tmp_path / "instance",
        secret_key=TEST_SECRET_KEY,
        extra_env=server_settings(stalling_smtp),
        config=config,
    ) as server:
        load = Load(server.base_url)
        clients = [asyncio.create_task(load.client()) for _ in range(CLIENTS)]
        await signal_during_a_hash(server, load, stalling_smtp, to_group=True)
        limit = 0.2 + SHUTDOWN_MARGIN_SECONDS + 3.0  # and the watchdog's log line, the exit
        exited_after = await asyncio.to_thread(wait_for_exit, server.process, limit)
        async with asyncio.timeout(REQUEST_SECONDS):
            await asyncio.gather(*clients)
    assert exited_after is not None, f"still running {limit} s after SIGTERM"
    # Past the graceful timeout answers may be cut off: that is what the timeout means.

"""What an attack probe sent a real server: malformed bodies, HEAD as a form action, WebSockets.

Each must get a clean 4xx and leave the server as it was: no transaction left open, no lock
held, every later request served.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from quart_app.core.database import make_engine
from tests.support.http import fetch_csrf_token, register, unique_password, unique_username
from tests.support.servers import TEST_SECRET_KEY, LiveServer, database_rows, running_server

MALFORMED_CHUNKED_LOGIN = (
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n"  # "zz" is no chunk size: hypercorn answers 400 itself
)


@pytest.fixture(scope="module")
def rate_limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The per-IP login limit at its default, as in the probe: each POST /login writes its
    counter before anything else happens."""
    with running_server(
        tmp_path_factory.mktemp("hostile"),
        secret_key=TEST_SECRET_KEY,
        extra_env={"THROTTLE_LOGIN_PER_MINUTE": "30"},
    ) as server:
        yield server


async def send_raw(base_url: str, raw: bytes) -> bytes:
    """Write ``raw`` on a new connection; return the status line of the answer."""
    url = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    finally:
        writer.close()
    return answer.split(b"\r\n", 1)[0]


async def expire_login_counters(server: LiveServer) -> None:
    """Put the per-IP minute window in the past, as waiting 61 s would (the probe's timing):
    the next POST then rewrites the counter instead of adding to it. In Redis (PostgreSQL pass)
    the counters are not in the database, and this changes nothing."""
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=2)  # stored naive UTC
    engine = make_engine(server.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE throttle_counters SET window_started_at = :past WHERE key LIKE 'ip:%'"
                ),
                {"past": past},
            )
    finally:
        await engine.dispose()


async def open_transactions(server: LiveServer) -> int:
    """Transactions some connection holds open on the server's database right now."""
    url = make_url(server.database_url)
    if url.get_backend_name() == "sqlite":
        probe = sqlite3.connect(url.database or "", timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails at once while another holds the write lock
            probe.rollback()
            return 0
        except sqlite3.OperationalError:
            return 1
        finally:
            probe.close()
    [(count,)] = await database_rows(
        server,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
        " AND state LIKE 'idle in transaction%'",
        name=url.database,
    )
    assert isinstance(count, int)
    return count


async def test_malformed_chunked_posts_leave_no_transaction_open(
    rate_limited_server: LiveServer,
) -> None:
    server = rate_limited_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        for _ in range(3):  # the abandoned statement was a race: give it several chances
            token = await fetch_csrf_token(client, "/login")
            form = {"username": unique_username("probe"), "password": unique_password()}
            response = await client.post("/login", data={**form, "csrf_token": token})
            assert response.status_code == 401
            await expire_login_counters(server)
            for _ in range(6):
                status = await send_raw(server.base_url, MALFORMED_CHUNKED_LOGIN)
                assert status.startswith(b"HTTP/1.1 400"), status

            # Logins and registrations are served (the lock-up answered them 503 after the 10 s
            # busy timeout), nothing holds a transaction, and the health check agrees.
            token = await fetch_csrf_token(client, "/login")
            response = await client.post("/login", data={**form, "csrf_token": token})
            assert response.status_code == 401, response.text[:300]
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as newcomer:
                response = await register(newcomer, unique_username("after"), unique_password())
                assert response.status_code == 303, response.text[:300]
            assert await open_transactions(server) == 0
            assert (await client.get("/healthz")).status_code == 200
    assert "Traceback" not in server.log_text()


async def test_head_runs_no_form_action(rate_limited_server: LiveServer) -> None:
    server = rate_limited_server
    username, password = unique_username("head"), unique_password()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        assert (await register(client, username, password)).status_code == 303
        token = await fetch_csrf_token(client, "/")
        # With the cookie and even the token, HEAD /logout signs nobody out.
        response = await client.head("/logout", params={"csrf_token": token})
        assert response.status_code == 200
        assert response.content == b""
        assert (await client.get("/dashboard")).status_code == 200

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as stranger:
        await fetch_csrf_token(stranger, "/register")
        # More than the 10 registrations per minute a POST is allowed: none is an account.
        for number in range(12):
            form = {"username": f"{username}-{number}", "password": password}
            response = await stranger.request("HEAD", "/register", data=form)
            assert response.status_code == 200
        response = await stranger.request(
            "HEAD", "/login", data={"username": username, "password": password}
        )
        assert response.status_code == 200
        assert "auth" not in stranger.cookies
    query = "SELECT count(*) FROM users WHERE username LIKE :pattern"
    assert await database_rows(server, query, pattern=f"{username}-%") == [(0,)]


WEBSOCKET_HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


@pytest.mark.parametrize("path", ["/", "/login", "/dashboard", "/no-such-page"])
async def test_a_websocket_handshake_is_refused_without_a_traceback(
    rate_limited_server: LiveServer, path: str
) -> None:
    server = rate_limited_server
    offset = len(server.log_text())
    status = await send_raw(server.base_url, WEBSOCKET_HANDSHAKE.format(path=path).encode())
    assert status.split()[1] in {b"400", b"404"}, status
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
    log = server.log_text()[offset:]
    assert "Traceback" not in log
    assert "Error" not in log


async def test_a_trickled_body_is_cut_off_with_408(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_server(
        tmp_path_factory.mktemp("trickle"),
        secret_key=TEST_SECRET_KEY,
        extra_env={"REQUEST_BODY_TIMEOUT": "2"},
    ) as server:
        url = httpx.URL(server.base_url)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            writer.write(
                b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
            )
            answer = b""
            for _ in range(40):  # a byte every 0.25 s: 10 s to send, if nobody stopped it
                writer.write(b"a")
                await writer.drain()
                try:
                    answer += await asyncio.wait_for(reader.read(4096), timeout=0.25)
                except TimeoutError:
                    continue
                if answer:
                    break
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]

"""End-to-end tests against a real hypercorn server with two worker processes."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress

import httpx

from tests.support.http import (
    AUTH_COOKIE,
    SESSION_COOKIE,
    extract_csrf_token,
    fetch_csrf_token,
    login,
    logout,
    register,
    set_cookie_headers,
    unique_password,
    unique_username,
)
from tests.support.servers import LiveServer, database_rows
from tests.support.workers import client_per_worker, worker_of_response

GENERIC_LOGIN_ERROR = "Invalid username or password."
CLIENT_TIMEOUT = httpx.Timeout(30.0)


@asynccontextmanager
async def client_for(
    base_url: str, cookies: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A new client (so new connections) that does not follow redirects: each status and
    Location can be checked."""
    async with httpx.AsyncClient(
        base_url=base_url, cookies=cookies, follow_redirects=False, timeout=CLIENT_TIMEOUT
    ) as client:
        yield client


async def session_count(server: LiveServer, username: str) -> int:
    [(count,)] = await database_rows(
        server,
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.username = :username",
        username=username,
    )
    assert isinstance(count, int)
    return count


def assert_redirect(response: httpx.Response, status: int, location: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["location"] == location


def assert_redirect_to_login(response: httpx.Response) -> None:
    assert_redirect(response, 302, "/login?next=/dashboard")


async def test_register_logout_login_flow(live_server: LiveServer) -> None:
    username = unique_username("flow")
    password = unique_password()
    async with client_for(live_server.base_url) as client:
        # Signed out, the dashboard sends the visitor to log in (and back afterwards).
        assert_redirect_to_login(await client.get("/dashboard"))

        response = await register(client, username, password)
        assert_redirect(response, 303, "/")
        [auth_cookie] = set_cookie_headers(response, AUTH_COOKIE)
        assert "HttpOnly" in auth_cookie
        assert "SameSite=Lax" in auth_cookie
        assert "Secure" not in auth_cookie  # COOKIE_SECURE=false for plain http
        assert "Expires" not in auth_cookie  # not remembered: a browser-session cookie
        assert client.cookies.get(AUTH_COOKIE)

        home = await client.get("/")
        assert home.status_code == 200
        assert f"Hello, {username}" in home.text
        assert f"Welcome, {username}. Your account is ready." in home.text

        dashboard = await client.get("/dashboard")
        assert dashboard.status_code == 200
        assert f"<dd>{username}</dd>" in dashboard.text

        response = await logout(client)
        assert_redirect(response, 303, "/")
        [cleared] = set_cookie_headers(response, AUTH_COOKIE)
        assert cleared.startswith(f"{AUTH_COOKIE}=;") or cleared.startswith(f'{AUTH_COOKIE}="";')
        assert client.cookies.get(AUTH_COOKIE) is None

        assert_redirect_to_login(await client.get("/dashboard"))
        home = await client.get("/")
        assert 'href="/login"' in home.text  # the signed-out home page is the confirmation
        assert f"Hello, {username}" not in home.text

        token_before_login = await fetch_csrf_token(client, "/login?next=/dashboard")
        response = await login(client, username, password, next_path="/dashboard")
        assert_redirect(response, 303, "/dashboard")
        assert set_cookie_headers(response, AUTH_COOKIE)
        # A new identity gets a new browser session: the old CSRF token is gone.
        assert set_cookie_headers(response, SESSION_COOKIE)

        dashboard = await client.get("/dashboard")
        assert dashboard.status_code == 200
        assert f"<dd>{username}</dd>" in dashboard.text
        assert f"Signed in as {username}." in dashboard.text  # the flash after logging in
        assert extract_csrf_token(dashboard.text) != token_before_login


async def test_remember_me_makes_the_cookie_persistent(live_server: LiveServer) -> None:
    username = unique_username("remember")
    password = unique_password()
    async with client_for(live_server.base_url) as client:
        assert_redirect(await register(client, username, password), 303, "/")
    async with client_for(live_server.base_url) as client:
        response = await login(client, username, password, remember=True)
        assert_redirect(response, 303, "/")
        [auth_cookie] = set_cookie_headers(response, AUTH_COOKIE)
        assert "Expires=" in auth_cookie or "expires=" in auth_cookie
        dashboard = await client.get("/dashboard")
        assert dashboard.status_code == 200
        assert "Remembered on this device until" in dashboard.text
    [(remember,)] = await database_rows(
        live_server,
        "SELECT s.remember FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.username = :username ORDER BY s.id DESC LIMIT 1",
        username=username,
    )
    assert remember  # True on PostgreSQL, 1 on SQLite


async def test_a_logged_out_cookie_is_refused(live_server: LiveServer) -> None:
    username = unique_username("copy")
    password = unique_password()
    async with client_for(live_server.base_url) as client:
        assert_redirect(await register(client, username, password), 303, "/")
    async with client_for(live_server.base_url) as client:
        assert_redirect(await login(client, username, password), 303, "/")
        copied = client.cookies[AUTH_COOKIE]

        # The copy works while the session is live...
        async with client_for(live_server.base_url, cookies={AUTH_COOKIE: copied}) as other:
            response = await other.get("/dashboard")
            assert response.status_code == 200
            assert f"<dd>{username}</dd>" in response.text

        sessions_before_logout = await session_count(live_server, username)
        assert sessions_before_logout == 2  # one from registering, one from this login
        assert_redirect(await logout(client), 303, "/")

    # ...and not once the owner has logged out: the server-side row is gone.
    assert await session_count(live_server, username) == sessions_before_logout - 1
    async with client_for(live_server.base_url, cookies={AUTH_COOKIE: copied}) as other:
        response = await other.get("/dashboard")
        assert_redirect_to_login(response)
        # The dead cookie is also cleared from the browser that sent it.
        [cleared] = set_cookie_headers(response, AUTH_COOKIE)
        assert "expires=Thu, 01 Jan 1970" in cleared or "Max-Age=0" in cleared
        home = await other.get("/")
        assert username not in home.text


async def test_a_cookie_works_on_both_workers_with_a_generated_key(
    live_server_generated_key: LiveServer,
) -> None:
    server = live_server_generated_key
    key_file = server.instance_path / "secret_key"
    assert key_file.is_file()
    assert key_file.stat().st_mode & 0o777 == 0o600  # readable by the server's user only
    assert len(key_file.read_text(encoding="ascii").strip()) >= 32
    assert "SECRET_KEY is not set" in server.log_text()

    username = unique_username("workers")
    password = unique_password()
    async with client_for(server.base_url) as client:
        assert_redirect(await register(client, username, password), 303, "/")
        cookie = client.cookies[AUTH_COOKIE]

    # Each worker, on a connection it accepted, signs the cookie's owner in.
    async with client_per_worker(server) as clients:
        for pid, pinned in clients.items():
            pinned.cookies.set(AUTH_COOKIE, cookie)
            response = await pinned.get("/dashboard")
            assert response.status_code == 200
            assert f"<dd>{username}</dd>" in response.text
            assert await worker_of_response(server, response) == pid

    # The signature is checked: the same cookie with a tampered signature signs nobody in.
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    for _ in range(4):
        async with client_for(server.base_url, cookies={AUTH_COOKIE: forged}) as fresh:
            assert_redirect_to_login(await fresh.get("/dashboard"))


async def test_concurrent_registrations_of_one_name_create_one_account(
    live_server: LiveServer,
) -> None:
    username = unique_username("race")
    passwords = [unique_password() for _ in range(8)]
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(client_for(live_server.base_url)) for _ in passwords
        ]
        tokens = await asyncio.gather(*(fetch_csrf_token(c, "/register") for c in clients))
        assert len(set(tokens)) == len(clients)  # each browser session has its own token
        responses = await asyncio.gather(
            *(
                client.post(
                    "/register",
                    data={"username": username, "password": password, "csrf_token": token},
                )
                for client, password, token in zip(clients, passwords, tokens, strict=True)
            )
        )
    statuses = [response.status_code for response in responses]
    assert all(status < 500 for status in statuses), statuses
    assert sorted(statuses) == [303] + [409] * 7, statuses
    for response in responses:
        if response.status_code == 409:
            assert "That username is taken. Choose another one." in response.text
            assert not set_cookie_headers(response, AUTH_COOKIE)
    winner = passwords[statuses.index(303)]

    assert await database_rows(
        live_server, "SELECT username FROM users WHERE username_key = :key", key=username.casefold()
    ) == [(username,)]

    losers = [password for password in passwords if password != winner]
    async with client_for(live_server.base_url) as client:
        # Only the winner's password opens the account (fewer than the 5 failures that throttle).
        assert [(await login(client, username, p)).status_code for p in losers[:4]] == [401] * 4
        assert (await login(client, username, winner)).status_code == 303


async def test_usernames_are_unique_regardless_of_case(live_server: LiveServer) -> None:
    username = unique_username("Case")
    async with client_for(live_server.base_url) as client:
        assert_redirect(await register(client, username, unique_password()), 303, "/")
    async with client_for(live_server.base_url) as client:
        response = await register(client, username.upper(), unique_password())
        assert response.status_code == 409
        assert "That username is taken." in response.text


async def test_wrong_password_and_unknown_user_get_the_same_401(live_server: LiveServer) -> None:
    username = unique_username("known")
    password = unique_password()
    async with client_for(live_server.base_url) as client:
        assert_redirect(await register(client, username, password), 303, "/")

    async with client_for(live_server.base_url) as client:
        wrong_password = await login(client, username, password + "x")
        unknown_user = await login(client, unique_username("nobody"), password)
        for response in (wrong_password, unknown_user):
            assert response.status_code == 401
            assert GENERIC_LOGIN_ERROR in response.text
            assert not set_cookie_headers(response, AUTH_COOKIE)
        assert "That username" not in unknown_user.text
        # Nothing is signed in after either failure.
        assert_redirect_to_login(await client.get("/dashboard"))

        # The correct password still works afterwards (no lock-out from two failures).
        assert_redirect(await login(client, username, password), 303, "/")


async def test_a_post_without_csrf_token_is_refused(live_server: LiveServer) -> None:
    username = unique_username("csrf")
    async with client_for(live_server.base_url) as client:
        await fetch_csrf_token(client, "/register")  # a session exists, but no token is sent
        response = await client.post(
            "/register", data={"username": username, "password": unique_password()}
        )
        assert response.status_code == 400
        assert "came from another site" in response.text
        response = await client.post(
            "/register",
            data={"username": username, "password": unique_password(), "csrf_token": "forged"},
        )
        assert response.status_code == 400
    query = "SELECT id FROM users WHERE username = :username"
    assert await database_rows(live_server, query, username=username) == []


async def post_oversized_body(base_url: str, path: str, size: int) -> tuple[int, str]:
    """POST ``size`` bytes over a raw socket, reading the answer while the body is still sent.

    Returns the status and the response body. httpx's async client writes the whole body before
    it reads; hypercorn answers an early 413 and closes the connection, so that client fails
    with a broken pipe and never shows the answer. Reading while writing (as browsers do) shows
    what the server actually sends.
    """
    url = httpx.URL(base_url)
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (url.host, url.port))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
        )
        await loop.sock_sendall(sock, head.encode("ascii"))

        async def send_body() -> None:
            chunk = b"a" * 65536
            remaining = size
            try:
                while remaining > 0:
                    await loop.sock_sendall(sock, chunk[:remaining])
                    remaining -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and stopped reading: expected

        sender = asyncio.create_task(send_body())
        try:
            received = b""
            while b"\r\n\r\n" not in received:
                data = await loop.sock_recv(sock, 65536)
                assert data, f"connection closed before a complete response: {received!r}"
                received += data
            head_bytes, _, body = received.partition(b"\r\n\r\n")
            lines = head_bytes.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            while len(body) < int(headers["content-length"]):
                data = await loop.sock_recv(sock, 65536)
                assert data, f"connection closed in the response body: {body!r}"
                body += data
        finally:
            sender.cancel()
            with suppress(asyncio.CancelledError):
                await sender
    return int(lines[0].split()[1]), body.decode()


async def test_a_10_mb_body_gets_413(live_server: LiveServer) -> None:
    started = time.monotonic()
    status, body = await asyncio.wait_for(
        post_oversized_body(live_server.base_url, "/login", 10 * 1024 * 1024), timeout=20
    )
    assert status == 413, body
    assert "413 · Request Entity Too Large" in body  # the app's own error page
    assert time.monotonic() - started < 20
    async with client_for(live_server.base_url) as client:
        # The server is still fine afterwards, and the limit is not a CSRF or parsing accident:
        # a well-formed but oversized login form (with a valid token) is refused the same way.
        assert (await client.get("/healthz")).status_code == 200
        token = await fetch_csrf_token(client, "/login")
        response = await client.post(
            "/login",
            data={"username": "x", "password": "a" * 70_000, "csrf_token": token},
        )
        assert response.status_code == 413
        assert "413 · Request Entity Too Large" in response.text
        assert not set_cookie_headers(response, AUTH_COOKIE)


async def test_a_non_utf8_form_body_gets_400(live_server: LiveServer) -> None:
    username = unique_username("bytes")
    password = unique_password()
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    async with client_for(live_server.base_url) as client:
        token = await fetch_csrf_token(client, "/register")
        # Raw bytes that are not UTF-8 (0xFF never is; 0xC3 0x28 is a broken sequence): refused
        # with a message that says so, whether the CSRF check or the view reads the form first.
        raw = f"username={username}\xff&password={password}\xc3\x28&csrf_token={token}"
        for headers in (
            {**form_type, "X-CSRF-Token": token},  # the view reads the form
            form_type,  # the CSRF check reads the form first
        ):
            for path in ("/register", "/login"):
                response = await client.post(path, content=raw.encode("latin-1"), headers=headers)
                assert response.status_code == 400, (path, headers, response.text)
                assert "must be UTF-8 text" in response.text
                assert not set_cookie_headers(response, AUTH_COOKIE)

        # Percent-encoded invalid UTF-8 is valid form data; it decodes to U+FFFD, which no
        # username allows, and as login credentials it simply matches nobody.
        escaped = f"username={username}%FF&password={password}%C3%28&csrf_token={token}"
        response = await client.post("/register", content=escaped.encode(), headers=form_type)
        assert response.status_code == 400
        assert "Use only letters" in response.text
        response = await client.post("/login", content=escaped.encode(), headers=form_type)
        assert response.status_code == 401
        assert GENERIC_LOGIN_ERROR in response.text

        assert not client.cookies.get(AUTH_COOKIE)
        # The session and its form still work after the bad requests.
        assert await fetch_csrf_token(client, "/register") == token
    query = "SELECT username FROM users WHERE username LIKE :pattern"
    assert await database_rows(live_server, query, pattern=f"{username}%") == []


async def test_no_server_banner_and_logout_clears_site_data(live_server: LiveServer) -> None:
    async with client_for(live_server.base_url) as client:
        home = await client.get("/")
        assert "server" not in home.headers  # hypercorn's banner is switched off
        assert home.headers["x-content-type-options"] == "nosniff"
        assert_redirect(await register(client, unique_username("bye"), unique_password()), 303, "/")
        response = await logout(client)
        assert response.headers["clear-site-data"] == '"cookies", "storage"'

"""Mail through a real two-worker hypercorn server and a real SMTP server in the test's loop:
requests never wait for SMTP, an outage delays mail but loses none, both workers' senders
share the outbox without sending anything twice, and links use PUBLIC_URL whatever the Host.

The server is told one SMTP port; each test puts on it what it needs: aiosmtpd (SmtpInbox),
a server that stalls (StallingSmtp), or nothing (an outage).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import httpx
import pytest

from quart_app.testing.smtp import SmtpInbox
from tests.support.http import (
    AUTH_COOKIE,
    extract_csrf_token,
    fetch_csrf_token,
    login,
    unique_password,
    unique_username,
)
from tests.support.mail import StallingSmtp, text_of
from tests.support.servers import (
    TEST_SECRET_KEY,
    LiveServer,
    database_rows,
    free_port,
    running_server,
)

PUBLIC_URL = "https://auth.example.test"
LINK = re.compile(r"https://auth\.example\.test(/(?:confirm-email|reset-password)/[\w-]+)")
# Long enough that a stalled send is still under way while the test makes its requests.
SEND_TIMEOUT = 20


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, smtp_port: int) -> Iterator[LiveServer]:
    settings = {
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "PUBLIC_URL": PUBLIC_URL,
        "MAIL_SEND_TIMEOUT": str(SEND_TIMEOUT),
        "MAIL_RETRY_DELAYS": ",".join(["1"] * 20),  # retried every second: the test waits less
        "MAIL_POLL_INTERVAL": "1",
        "NOTIFY_NEW_SIGN_IN": "false",
    }
    with running_server(
        tmp_path_factory.mktemp("mail-server"), secret_key=TEST_SECRET_KEY, extra_env=settings
    ) as server:
        yield server


@pytest.fixture
async def inbox(smtp_port: int) -> AsyncIterator[SmtpInbox]:
    """The real SMTP server for the server's SMTP port: each test starts it when mail may flow;
    it is stopped after the test."""
    server = SmtpInbox(port=smtp_port)
    yield server
    await server.stop()


def browser(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, timeout=30)


async def register_with_address(client: httpx.AsyncClient, username: str, address: str) -> str:
    password = unique_password()
    token = await fetch_csrf_token(client, "/register")
    form = {"username": username, "password": password, "email": address, "csrf_token": token}
    response = await client.post("/register", data=form)
    assert response.status_code == 303, response.text
    return password


async def forgot_password(client: httpx.AsyncClient, login_name: str, **headers: str) -> None:
    token = await fetch_csrf_token(client, "/forgot-password")
    response = await client.post(
        "/forgot-password", data={"login": login_name, "csrf_token": token}, headers=headers
    )
    assert response.status_code == 200 and "Check your inbox" in response.text


def link_path(message: EmailMessage) -> str:
    """The path of the one link in the mail, which must be under PUBLIC_URL."""
    (path,) = LINK.findall(text_of(message))
    return str(path)


async def use_link(client: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    """Open a mailed link (which changes nothing) and press its page's button."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={**form, "csrf_token": extract_csrf_token(page.text)})


async def outbox_rows(server: LiveServer) -> list[tuple[object, ...]]:
    """Each queued mail's attempts so far and whether it was given up on."""
    return await database_rows(
        server, "SELECT attempts, failed_at IS NOT NULL FROM mail_outbox ORDER BY id"
    )


async def test_a_stalled_then_missing_smtp_server_delays_the_mail_and_loses_none(
    mail_server: LiveServer, smtp_port: int, inbox: SmtpInbox
) -> None:
    """The whole recovery journey, begun while SMTP hangs and then is down."""
    username, latecomer = unique_username("outage"), unique_username("latecomer")
    address = f"{username}@example.org"
    stalling = StallingSmtp(smtp_port)
    await stalling.start()
    try:
        async with browser(mail_server) as client:
            password = await register_with_address(client, username, address)
            await stalling.wait_for_clients(1)  # a worker's sender is stuck in that send
            # While it hangs, both workers answer, also a request that queues another mail.
            async with browser(mail_server) as other:
                await register_with_address(other, latecomer, f"{latecomer}@example.org")
            for _ in range(4):
                async with browser(mail_server) as other:
                    assert (await other.get("/login")).status_code == 200
                await forgot_password(client, unique_username("nobody"))
                assert (await client.get("/dashboard")).status_code == 200
            assert stalling.holding(1), "the first send ended before the requests were answered"
    finally:
        await stalling.stop()  # the sends fail; nothing listens now
    await asyncio.sleep(2.5)  # a retry or two finds the port closed
    queued = await outbox_rows(mail_server)
    assert len(queued) == 2  # both still queued: failed attempts lose nothing
    assert all(attempts >= 2 and not given_up for attempts, given_up in queued)

    await inbox.start()
    arrived = await inbox.wait_for(2, within=15)
    assert sorted(str(m["To"]) for m in arrived) == sorted([address, f"{latecomer}@example.org"])
    assert {m["Subject"] for m in arrived} == {"Confirm your e-mail address"}
    (confirmation,) = (m for m in arrived if m["To"] == address)

    async with browser(mail_server) as client:
        assert (await login(client, username, password)).status_code == 303
        confirmed = await use_link(client, link_path(confirmation))
        assert confirmed.status_code == 303
        assert address in (await client.get("/account/email")).text
        signed_in = client.cookies[AUTH_COOKIE]

        # A forged Host and X-Forwarded-Host change nothing in the link.
        await forgot_password(
            client, address, Host="evil.example", **{"X-Forwarded-Host": "evil.example"}
        )
        reset = (await inbox.wait_for(3, within=15))[2]
        assert reset["Subject"] == "Reset your password"
        assert "evil.example" not in reset.as_string()

    new_password = unique_password()
    async with browser(mail_server) as stranger:
        done = await use_link(stranger, link_path(reset), new_password=new_password)
        assert (done.status_code, done.headers["Location"]) == (303, "/login")
        assert (await login(stranger, username, password)).status_code == 401
        assert (await login(stranger, username, new_password)).status_code == 303
    async with browser(mail_server) as replay:
        replay.cookies.set(AUTH_COOKIE, signed_in)
        assert (await replay.get("/dashboard")).status_code == 302  # its session ended

    notice = (await inbox.wait_for(4, within=15))[3]
    assert notice["Subject"] == "Your password was reset"
    await asyncio.sleep(2)  # a few more polls by both workers' senders
    assert len(inbox.messages) == 4  # each mail once
    assert await outbox_rows(mail_server) == []  # sent rows are deleted


async def test_both_workers_senders_send_every_mail_once(
    mail_server: LiveServer, inbox: SmtpInbox
) -> None:
    await inbox.start()
    names = [unique_username("crowd") for _ in range(12)]

    async def sign_up(username: str) -> None:
        async with browser(mail_server) as client:  # a connection each: both workers serve
            await register_with_address(client, username, f"{username}@example.org")

    await asyncio.gather(*(sign_up(name) for name in names))
    await inbox.wait_for(len(names), within=20)
    await asyncio.sleep(2)  # a few more polls by both senders
    recipients = sorted(str(message["To"]) for message in inbox.messages)
    assert recipients == sorted(f"{name}@example.org" for name in names)
    assert await outbox_rows(mail_server) == []


async def test_the_server_log_holds_no_link_and_no_address(
    mail_server: LiveServer, inbox: SmtpInbox
) -> None:
    await inbox.start()
    username = unique_username("quiet")
    address = f"{username}@example.org"
    async with browser(mail_server) as client:
        await register_with_address(client, username, address)
        (message,) = await inbox.wait_for(1, within=15)
    token = link_path(message).rsplit("/", 1)[1]
    log = mail_server.log_path.read_text()
    assert token not in log and address not in log

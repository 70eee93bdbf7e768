"""The outbox sender against a real SMTP server in the test's loop: delivery, outages and
retries, leases, concurrent senders, permanent failure, and what the log may say."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select, update

from quart_app.core.clock import utcnow
from quart_app.mail import sender as sender_module
from quart_app.mail.backends import ConsoleBackend, SmtpBackend
from quart_app.mail.models import OutboxMail
from quart_app.mail.outbox import Mail, mail_write
from quart_app.mail.sender import MailSender, max_attempts
from quart_app.mail.smtp_url import parse_smtp_url
from quart_app.state import get_database, get_mail_sender, get_settings
from quart_app.testing.smtp import SmtpInbox
from tests.support.mail import StallingSmtp

LINK = "https://auth.example.org/reset-password/secret-token-value"


async def queue(app: Quart, count: int = 1, to: str = "ann@example.org") -> None:
    async with get_database(app).new_db() as db:
        for n in range(count):
            mail = Mail(
                to, f"Mail {n}", f"Body {n} {LINK}", f"<p>{LINK}</p>", utcnow() + timedelta(hours=1)
            )
            write = mail_write(mail)
            await db.execute(write.statement, write.values)
        await db.commit()


async def rows(app: Quart) -> list[OutboxMail]:
    async with get_database(app).new_db() as db:
        return list((await db.scalars(select(OutboxMail).order_by(OutboxMail.id))).all())


async def make_due(app: Quart) -> None:
    async with get_database(app).new_db() as db:
        await db.execute(update(OutboxMail).values(due_at=utcnow() - timedelta(seconds=1)))
        await db.commit()


@pytest.fixture
async def quiet_app(app: Quart) -> Quart:
    """The app with its own sender stopped: the test's senders alone take the rows."""
    await get_mail_sender(app).stop()
    return app


def sender_to(app: Quart, inbox_url: str) -> MailSender:
    """A second, idle sender of the same app (the app's own keeps running)."""
    backend = SmtpBackend(parse_smtp_url(inbox_url), timeout=2.0)
    return MailSender(get_database(app), get_settings(app), backend)


async def test_a_queued_mail_is_delivered_whole_and_its_row_deleted(
    app: Quart, mail_outbox: SmtpInbox
) -> None:
    await queue(app)
    get_mail_sender(app).nudge()
    (message,) = await mail_outbox.wait_for(1)
    assert message["To"] == "ann@example.org"
    assert message["From"] == get_settings(app).MAIL_FROM
    assert message["Subject"] == "Mail 0"
    assert message["Message-ID"] and message["Date"]
    assert LINK in message.get_body(preferencelist=("plain",)).get_content()
    assert LINK in message.get_body(preferencelist=("html",)).get_content()
    await asyncio.sleep(0.2)
    assert await rows(app) == []


async def test_smtp_down_then_back_the_mail_arrives_once(quiet_app: Quart) -> None:
    app = quiet_app
    inbox = await SmtpInbox.start_new()
    await inbox.stop()  # nothing listens on its port now
    sender = sender_to(app, inbox.url)
    await queue(app)
    await asyncio.sleep(0.1)
    assert await sender.send_due() == 1
    (row,) = await rows(app)
    assert row.attempts == 1 and row.failed_at is None and row.lease_token is None
    assert row.last_error and row.due_at > utcnow() + timedelta(seconds=50)  # backed off
    assert await sender.send_due() == 0  # not due yet

    await inbox.start()  # the server is back, on the same port
    try:
        await make_due(app)
        assert await sender.send_due() == 1
        assert len(await inbox.wait_for(1)) == 1
        assert await rows(app) == []
        assert await sender.send_due() == 0
        await asyncio.sleep(0.2)
        assert len(inbox.messages) == 1
    finally:
        await inbox.stop()


async def test_two_senders_at_once_send_every_mail_exactly_once(quiet_app: Quart) -> None:
    app = quiet_app
    inbox = await SmtpInbox.start_new()
    try:
        await queue(app, count=25)
        first, second = sender_to(app, inbox.url), sender_to(app, inbox.url)
        await asyncio.gather(first.send_due(), second.send_due())
        await inbox.wait_for(25)
        await asyncio.sleep(0.3)
        subjects = sorted(m["Subject"] for m in inbox.messages)
        assert subjects == sorted(f"Mail {n}" for n in range(25))
        assert await rows(app) == []
    finally:
        await inbox.stop()


async def test_a_sender_killed_mid_send_loses_nothing(quiet_app: Quart) -> None:
    app = quiet_app
    inbox = await SmtpInbox.start_new()
    try:
        await queue(app)
        crashed = sender_to(app, inbox.url)
        claimed = await crashed.claim()  # claimed, then the worker dies before sending
        assert claimed is not None
        survivor = sender_to(app, inbox.url)
        assert await survivor.send_due() == 0  # the lease still holds it
        async with get_database(app).new_db() as db:  # the lease runs out
            await db.execute(update(OutboxMail).values(lease_until=utcnow() - timedelta(seconds=1)))
            await db.commit()
        assert await survivor.send_due() == 1
        assert len(await inbox.wait_for(1)) == 1
        assert await rows(app) == []
    finally:
        await inbox.stop()


async def test_the_last_failed_attempt_marks_the_row_failed_and_logs_no_address(
    quiet_app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    app = quiet_app
    inbox = await SmtpInbox.start_new()
    await inbox.stop()
    sender = sender_to(app, inbox.url)
    await queue(app)
    caplog.set_level(logging.INFO)
    attempts = max_attempts(get_settings(app))
    assert attempts == 5  # the default MAIL_RETRY_DELAYS
    for _ in range(attempts):
        await make_due(app)
        assert await sender.send_due() == 1
    (row,) = await rows(app)
    assert row.failed_at is not None and row.attempts == attempts
    await make_due(app)
    assert await sender.send_due() == 0  # no more attempts
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "failed permanently" in logged
    assert "ann@example.org" not in logged and "secret-token-value" not in logged


async def test_starttls_required_refuses_a_server_without_it(quiet_app: Quart) -> None:
    app = quiet_app
    inbox = await SmtpInbox.start_new()  # offers no STARTTLS
    try:
        backend = SmtpBackend(parse_smtp_url(inbox.url + "?starttls=require"), timeout=2.0)
        sender = MailSender(get_database(app), get_settings(app), backend)
        await queue(app)
        assert await sender.send_due() == 1
        await asyncio.sleep(0.2)
        assert inbox.messages == []
        (row,) = await rows(app)
        assert row.attempts == 1 and row.last_error
    finally:
        await inbox.stop()


async def test_a_stalling_server_is_cut_off_by_the_send_timeout(quiet_app: Quart) -> None:
    app = quiet_app
    stalling = StallingSmtp()
    await stalling.start()
    try:
        backend = SmtpBackend(parse_smtp_url(f"smtp://127.0.0.1:{stalling.port}"), timeout=1.0)
        sender = MailSender(get_database(app), get_settings(app), backend)
        await queue(app)
        async with asyncio.timeout(10):  # without the send timeout, it would hang for good
            assert await sender.send_due() == 1
        (row,) = await rows(app)
        assert row.attempts == 1 and row.last_error
        assert stalling.accepted == 1 and not stalling.holding(1)  # the sender hung up
    finally:
        await stalling.stop()


async def test_without_smtp_url_the_log_is_the_delivery(
    quiet_app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    app = quiet_app
    sender = MailSender(get_database(app), get_settings(app), ConsoleBackend())
    await queue(app)
    caplog.set_level(logging.INFO, logger="quart_app.mail")
    assert await sender.send_due() == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "To: ann@example.org" in logged and "Subject: Mail 0" in logged and LINK in logged
    assert await rows(app) == []


async def test_a_request_that_queues_a_mail_wakes_the_sender(
    app_config: dict[str, Any],
) -> None:
    from quart_app import create_app
    from tests.support.auth import AuthActions

    slow = create_app({**app_config, "MAIL_POLL_INTERVAL": 3600})
    async with slow.test_app():
        inbox = await SmtpInbox.start_new()
        get_mail_sender(slow).backend = SmtpBackend(parse_smtp_url(inbox.url), timeout=2.0)
        try:
            await asyncio.sleep(0.2)  # the sender's first look is over; next in an hour
            client = slow.test_client()
            registered = await AuthActions(client).register("ann", email="a@example.org")
            assert registered.status_code == 303
            await inbox.wait_for(1, within=3.0)
        finally:
            await inbox.stop()


async def test_stop_cuts_off_a_hanging_send_and_releases_its_row(quiet_app: Quart) -> None:
    app = quiet_app
    stalling = StallingSmtp()
    await stalling.start()
    inbox = await SmtpInbox.start_new()
    try:
        backend = SmtpBackend(parse_smtp_url(f"smtp://127.0.0.1:{stalling.port}"), timeout=60.0)
        sender = MailSender(get_database(app), get_settings(app), backend)
        await queue(app)
        sender.start()
        await stalling.wait_for_clients(1, within=5.0)
        async with asyncio.timeout(3):  # not the 60 s send timeout
            await sender.stop()
        (row,) = await rows(app)
        assert row.lease_token is None and row.lease_until is None  # released, not leased
        assert row.attempts == 0 and row.failed_at is None and row.last_error is None
        assert await sender_to(app, inbox.url).send_due() == 1  # due at once
        assert len(await inbox.wait_for(1)) == 1
    finally:
        await inbox.stop()
        await stalling.stop()


class _GatedDatabase:
    """The app's database, with connections held at a gate once ``armed``: a database call
    that is under way when the sender is told to stop."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.armed = False
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        async with self.database.connect() as connection:
            if self.armed:
                self.waiting.set()
                await self.gate.wait()
            yield connection


class _ArmingBackend:
    """Delivers (to nowhere) and arms the gate, so the sender's next call, recording the
    delivery, waits at it."""

    def __init__(self, database: _GatedDatabase) -> None:
        self.database = database
        self.sent = 0

    async def send(self, message: EmailMessage) -> None:
        self.sent += 1
        self.database.armed = True


async def test_stop_lets_the_database_call_under_way_finish(quiet_app: Quart) -> None:
    app = quiet_app
    database = _GatedDatabase(get_database(app))
    backend = _ArmingBackend(database)
    sender = MailSender(database, get_settings(app), backend)  # type: ignore[arg-type]
    await queue(app)
    sender.start()
    async with asyncio.timeout(5):
        await database.waiting.wait()  # delivered; its row's deletion is under way
    stopping = asyncio.create_task(sender.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done()  # the stop waits for the call instead of cancelling it
    database.gate.set()
    async with asyncio.timeout(3):
        await stopping
    assert backend.sent == 1
    assert await rows(app) == []  # the delivery was recorded: it will not be sent again


async def test_a_database_call_that_never_ends_does_not_hold_the_stop_for_good(
    quiet_app: Quart, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sender_module, "STOP_WAIT", 0.3)
    app = quiet_app
    database = _GatedDatabase(get_database(app))
    sender = MailSender(database, get_settings(app), _ArmingBackend(database))  # type: ignore[arg-type]
    await queue(app)
    sender.start()
    async with asyncio.timeout(5):
        await database.waiting.wait()
    async with asyncio.timeout(3):
        await sender.stop()  # the gate never opens
    assert "outlasted the stop" in caplog.text
    (row,) = await rows(app)
    assert row.lease_token is not None  # still leased: due again once the lease passes

"""SMTP over TLS against a real server with a throwaway CA: STARTTLS and smtps:// deliver when
the CA is trusted, and nothing is sent to a server whose certificate does not verify."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from quart import Quart

from quart_app.mail.backends import SmtpBackend
from quart_app.mail.sender import MailSender
from quart_app.mail.smtp_url import parse_smtp_url
from quart_app.state import get_database, get_mail_sender, get_settings
from quart_app.testing.smtp import SmtpInbox
from tests.mail.test_sender import queue, rows
from tests.support.tls import ThrowawayCertificates, make_certificates


@pytest.fixture
def certificates(tmp_path: Path) -> ThrowawayCertificates:
    return make_certificates(tmp_path)


@pytest.fixture
async def quiet_app(app: Quart) -> Quart:
    await get_mail_sender(app).stop()
    return app


def sender(app: Quart, url: str, trust: ThrowawayCertificates | None) -> MailSender:
    context = trust.client_context() if trust else None  # None: the system's trust store
    backend = SmtpBackend(parse_smtp_url(url), timeout=5.0, tls_context=context)
    return MailSender(get_database(app), get_settings(app), backend)


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
async def test_tls_delivers_to_a_trusted_server_and_refuses_an_untrusted_one(
    quiet_app: Quart, certificates: ThrowawayCertificates, mode: str
) -> None:
    context = certificates.server_context()
    options = {"starttls": context} if mode == "starttls" else {"implicit_tls": context}
    inbox = await SmtpInbox.start_new(**options)
    url = inbox.url + ("?starttls=require" if mode == "starttls" else "")
    try:
        await queue(quiet_app)
        assert await sender(quiet_app, url, trust=None).send_due() == 1  # unknown CA
        await asyncio.sleep(0.2)
        assert inbox.messages == []
        (row,) = await rows(quiet_app)
        assert row.attempts == 1 and row.last_error

        await queue(quiet_app)  # a second mail, due now
        assert await sender(quiet_app, url, trust=certificates).send_due() == 1
        (message,) = await inbox.wait_for(1)
        assert message["Subject"] == "Mail 0"
    finally:
        await inbox.stop()


async def test_opportunistic_starttls_upgrades_when_the_server_offers_it(
    quiet_app: Quart, certificates: ThrowawayCertificates
) -> None:
    """smtp:// without ?starttls=require still upgrades, and so still verifies the certificate."""
    inbox = await SmtpInbox.start_new(starttls=certificates.server_context())
    try:
        await queue(quiet_app)
        assert await sender(quiet_app, inbox.url, trust=None).send_due() == 1
        await asyncio.sleep(0.2)
        assert inbox.messages == []  # it upgraded, and the certificate did not verify
        await queue(quiet_app)
        assert await sender(quiet_app, inbox.url, trust=certificates).send_due() == 1
        assert len(await inbox.wait_for(1)) == 1
    finally:
        await inbox.stop()

"""Where a mail goes: an SMTP server (aiosmtplib), or, with no ``SMTP_URL``, the app's log.

In console mode the log is the delivery: it holds the whole mail, links included, which is why
the README keeps that mode for local use. SMTP errors reach the sender as exceptions, and the
sender logs only their type (never the address, the body, a link or the URL's password).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib

from quart_app.config import Settings
from quart_app.mail.smtp_url import SmtpTarget, parse_smtp_url

log = logging.getLogger("quart_app.mail")


class Backend(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def build_message(*, sender: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    """A multipart/alternative mail: plain text first, the HTML version beside it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class ConsoleBackend:
    """Writes each mail, rendered, to the log at INFO: the zero-set-up default."""

    async def send(self, message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        log.info(
            "mail (console mode, not sent)\nTo: %s\nSubject: %s\n\n%s",
            message["To"],
            message["Subject"],
            text,
        )


class SmtpBackend:
    """Sends through an SMTP server; certificates are always verified (``tls_context``:
    the system's trust store unless given, e.g. a test's own CA)."""

    def __init__(
        self, target: SmtpTarget, *, timeout: float, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()

    async def send(self, message: EmailMessage) -> None:
        target = self.target
        async with asyncio.timeout(self.timeout):  # the whole delivery, connect to QUIT
            await aiosmtplib.send(
                message,
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.implicit_tls,
                # True: STARTTLS or no mail; None: upgrade whenever the server offers it.
                start_tls=True if target.require_starttls else None,
                validate_certs=True,
                tls_context=self.tls_context,
                timeout=self.timeout,
            )


def backend_for(settings: Settings, tls_context: ssl.SSLContext | None = None) -> Backend:
    if not settings.SMTP_URL:
        return ConsoleBackend()
    target = parse_smtp_url(settings.SMTP_URL)
    return SmtpBackend(target, timeout=settings.MAIL_SEND_TIMEOUT, tls_context=tls_context)

"""A real SMTP server (aiosmtpd) in the test's own event loop, collecting what it receives.

For tests of mail: the app's sender speaks real SMTP to it over a real socket, so what a test
reads is what a mail server would have accepted. It can offer STARTTLS or speak TLS from the
start with a test's certificate, and be stopped and started again on the same port (an SMTP
outage and its end).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Collect:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        await self.inbox.receive(message)
        return "250 OK"


class SmtpInbox:
    """``await SmtpInbox.start()``; ``messages``, ``await wait_for(n)``, ``clear()``,
    ``await stop()``; ``url`` is its ``SMTP_URL``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port  # 0: the kernel picks one at the first start
        self.messages: list[EmailMessage] = []
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None

    @classmethod
    async def start_new(cls, **options: Any) -> SmtpInbox:
        inbox = cls(**options)
        await inbox.start()
        return inbox

    @property
    def url(self) -> str:
        scheme = "smtps" if self._implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (again, on the same port after a ``stop``)."""
        handler = _Collect(self)

        def protocol() -> SMTP:
            return SMTP(
                handler,
                hostname="localhost",  # not socket.getfqdn(): a blocking lookup
                tls_context=self._starttls,
                require_starttls=False,
            )

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, self.host, self.port, ssl=self._implicit_tls, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def receive(self, message: EmailMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def clear(self) -> None:
        self.messages.clear()

    async def wait_for(self, count: int = 1, within: float = 5.0) -> list[EmailMessage]:
        """The messages once at least ``count`` have arrived; AssertionError after ``within``
        seconds."""
        try:
            async with asyncio.timeout(within):
                async with self._arrived:
                    await self._arrived.wait_for(lambda: len(self.messages) >= count)
        except TimeoutError:
            subjects = [m["Subject"] for m in self.messages]
            raise AssertionError(
                f"expected {count} mail(s) within {within} s; got {len(subjects)}: {subjects}"
            ) from None
        return list(self.messages)

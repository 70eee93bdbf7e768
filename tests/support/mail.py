"""Mail-test helpers: give an account a confirmed address, read a received mail's text, and an
SMTP server that stalls."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

from quart import Quart
from sqlalchemy import update

from quart_app.accounts.emails import email_key
from quart_app.accounts.models import User
from quart_app.state import get_database


async def with_address(app: Quart, user: User, address: str) -> None:
    """Attach ``address`` to ``user`` as if its link had been used."""
    async with get_database(app).new_db() as db:
        await db.execute(
            update(User)
            .where(User.id == user.id)
            .values(email=address, email_key=email_key(address))
        )
        await db.commit()


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no text/plain part"
    return str(part.get_content())


class StallingSmtp:
    """A server on ``port`` that accepts connections and never says a word: an SMTP server that
    hangs. Connections are numbered from 1 as they arrive; ``holding(n)`` says whether the
    n-th is still held open (its client has not given up); ``stop`` drops them all."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.accepted = 0
        self._open: set[int] = set()
        self._arrived = asyncio.Condition()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._arrived:
            self.accepted += 1
            number = self.accepted
            self._open.add(number)
            self._arrived.notify_all()
        try:
            # Until released, or the client gives up (its EOF ends the read).
            read = asyncio.ensure_future(reader.read())
            release = asyncio.ensure_future(self._release.wait())
            await asyncio.wait({read, release}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (read, release):
                waiter.cancel()
        finally:
            self._open.discard(number)
            writer.close()

    def holding(self, number: int) -> bool:
        return number in self._open

    async def wait_for_clients(self, count: int = 1, within: float = 10.0) -> None:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: self.accepted >= count)

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

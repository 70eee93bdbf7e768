"""The sender task each worker runs: claim due outbox rows with a lease, send, retry.

A claim is one atomic UPDATE … RETURNING that takes rows nobody holds (on PostgreSQL with
``FOR UPDATE SKIP LOCKED``, so senders on every host pass each other by; SQLite serialises
writers). A claimed row carries a lease: a sender killed mid-send loses nothing, since the row
is due again once the lease has passed. A sent row is deleted at once (it holds a live link);
a failure is retried with backoff, and after the last attempt marked failed in the log. Every
change after the claim names the lease's token: a sender whose lease was taken over changes
nothing, so in the normal path nothing is sent twice.

Stopping never cancels a database call: a claim or an outcome under way is let finish (an
aiosqlite call cancelled mid-way can leave a connection whose close never returns, which hung a
worker's shutdown). Only the SMTP sends are cancelled; their rows are released at once, so the
next sender to look takes them instead of waiting for the lease to pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Delete, Update, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.core.database import DATABASE_ERRORS, Database
from quart_app.mail.backends import Backend, build_message
from quart_app.mail.models import OutboxMail
from quart_app.metrics.instruments import count_mail

log = logging.getLogger("quart_app.mail")

BATCH = 10  # rows claimed at once, sent concurrently (so one lease covers each send)
STOP_WAIT = 5.0  # seconds stop() waits for a database call under way before cutting it off
_OUTBOX = OutboxMail.__table__


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    to: str
    subject: str
    text: str
    html: str
    attempts: int  # counting the one now under way


def lease_seconds(settings: Settings) -> int:
    """Longer than any send can take, with room for a slow database."""
    return 2 * settings.MAIL_SEND_TIMEOUT + 30


def max_attempts(settings: Settings) -> int:
    """The first attempt and one per retry delay (MAIL_RETRY_DELAYS)."""
    return len(settings.MAIL_RETRY_DELAYS) + 1


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        _OUTBOX.c.failed_at.is_(None),
        _OUTBOX.c.due_at <= now,
        _OUTBOX.c.expires_at > now,
        or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until < now),
    )


class MailSender:
    """One worker's sender: ``start`` it when serving begins, ``stop`` it before the database
    closes; ``nudge`` it when a committed request has queued a mail."""

    def __init__(self, database: Database, settings: Settings, backend: Backend) -> None:
        self.database = database
        self.settings = settings
        self.backend = backend
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail sender")

    async def stop(self) -> None:
        """Cut off the sends under way (their rows are released), let a database call under way
        finish, and end the loop. Only a database call still running after ``STOP_WAIT`` is
        cancelled, so a database that hangs cannot hold the worker's shutdown for good."""
        if self._task is None:
            return
        task, self._task = self._task, None
        self._stopping.set()
        self._wake.set()
        deadline = asyncio.get_running_loop().time() + STOP_WAIT
        while not task.done() and asyncio.get_running_loop().time() < deadline:
            for send in self._sends:
                send.cancel()  # every round: Python 3.11's wait_for can swallow one cancel
            await asyncio.wait({task}, timeout=0.1)
        if not task.done():
            log.warning("mail sender: a database call outlasted the stop by %.0f s", STOP_WAIT)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self.send_due()
            except DATABASE_ERRORS as error:
                log.warning("mail sender: database unavailable: %s", type(error).__name__)
            interval = self.settings.MAIL_POLL_INTERVAL * random.uniform(0.9, 1.1)  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)

    async def send_due(self) -> int:
        """Claim and send batches until nothing is due; how many mails were attempted."""
        attempted = 0
        while not self._stopping.is_set() and (claimed := await self.claim()):
            token, rows = claimed
            await asyncio.gather(*(self._deliver(row, token) for row in rows))
            attempted += len(rows)
        return attempted

    async def claim(self, limit: int = BATCH) -> tuple[str, list[Claimed]] | None:
        """Take up to ``limit`` due rows under a new lease: its token and the rows, or None."""
        now = utcnow()
        token = secrets.token_hex(16)
        due = (
            select(_OUTBOX.c.id)
            .where(_claimable(now))
            .order_by(_OUTBOX.c.due_at, _OUTBOX.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(
                lease_until=now + timedelta(seconds=lease_seconds(self.settings)),
                lease_token=token,
                attempts=_OUTBOX.c.attempts + 1,
            )
            .returning(
                _OUTBOX.c.id,
                _OUTBOX.c.to_address,
                _OUTBOX.c.subject,
                _OUTBOX.c.text_body,
                _OUTBOX.c.html_body,
                _OUTBOX.c.attempts,
            )
        )
        async with self.database.connect() as connection:
            rows = (await connection.execute(statement)).all()
            await connection.commit()
        return (token, [Claimed(*row) for row in rows]) if rows else None

    async def _deliver(self, row: Claimed, token: str) -> None:
        message = build_message(
            sender=self.settings.MAIL_FROM,
            to=row.to,
            subject=row.subject,
            text=row.text,
            html=row.html,
        )
        send = asyncio.create_task(self.backend.send(message), name=f"mail {row.id}")
        self._sends.add(send)
        try:
            await send
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the sender itself is being cancelled, not only this send
            await self._release(row, token)
        except Exception as error:  # any failure is retried; none ends the loop
            await self._failed(row, token, error)
        else:
            count_mail("sent")
            await self._finish(delete(_OUTBOX), row, token)
        finally:
            self._sends.discard(send)

    async def _release(self, row: Claimed, token: str) -> None:
        """A send cut off by ``stop``: the row is due again at once, the attempt not counted.
        (Should the server have taken the mail just before the cut, it arrives twice: a
        duplicate, never a loss.)"""
        statement = update(_OUTBOX).values(
            lease_until=None, lease_token=None, attempts=_OUTBOX.c.attempts - 1
        )
        await self._finish(statement, row, token)

    async def _failed(self, row: Claimed, token: str, error: Exception) -> None:
        now, kind = utcnow(), type(error).__name__
        delays = self.settings.MAIL_RETRY_DELAYS
        if row.attempts > len(delays):
            values = {"failed_at": now}
            count_mail("failed")
            log.warning(
                "mail %d failed permanently after %d attempts: %s", row.id, row.attempts, kind
            )
        else:
            delay = delays[row.attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311
            values = {"due_at": now + timedelta(seconds=delay)}
            count_mail("retried")
            log.info("mail %d attempt %d failed (%s); retried later", row.id, row.attempts, kind)
        statement = update(_OUTBOX).values(
            lease_until=None, lease_token=None, last_error=kind[:200], **values
        )
        await self._finish(statement, row, token)

    async def _finish(self, statement: Update | Delete, row: Claimed, token: str) -> None:
        """Apply ``statement`` to the row only while this sender's lease holds it."""
        statement = statement.where(_OUTBOX.c.id == row.id, _OUTBOX.c.lease_token == token)
        try:
            async with self.database.connect() as connection:
                await connection.execute(statement)
                await connection.commit()
        except DATABASE_ERRORS as error:  # the lease expires; the row is tried again
            log.warning("mail %d: outcome not recorded: %s", row.id, type(error).__name__)


async def pending_mail_count(db: AsyncSession) -> int:
    """Mails still to be delivered: queued or being retried, not given up on, not expired."""
    query = (
        select(func.count())
        .select_from(_OUTBOX)
        .where(_OUTBOX.c.failed_at.is_(None), _OUTBOX.c.expires_at > utcnow())
    )
    return int(await db.scalar(query) or 0)


async def purge_outbox(db: AsyncSession) -> int:
    """Delete rows no longer worth sending (their link has expired; failed ones included)."""
    result = await db.execute(delete(OutboxMail).where(OutboxMail.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

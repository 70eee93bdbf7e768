"""Queueing a mail: render it from the package's templates and stage its outbox row in the
transaction of the action that causes it (the caller commits), so a mail exists exactly when
its action happened, and no request waits for SMTP (``mail.sender`` delivers it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quart import g, has_request_context, render_template
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.core.clock import utcnow
from quart_app.core.hot_path import Write
from quart_app.mail.models import OutboxMail

# How long a mail without a link of its own (a notice) is still worth sending.
NOTICE_KEEP = timedelta(days=2)
_INSERT_MAIL = insert(OutboxMail.__table__)


@dataclass(frozen=True, slots=True)
class Mail:
    """A rendered mail, ready for the outbox; ``expires_at``: worth sending until then."""

    to: str
    subject: str
    text: str
    html: str
    expires_at: datetime


async def render_mail(
    template: str, *, to: str, keep: timedelta = NOTICE_KEEP, **context: Any
) -> Mail:
    """``mail/<template>.txt`` (its first line is the subject, then a blank line, then the
    plain-text body) and ``mail/<template>.html`` (the same body in HTML, autoescaped)."""
    subject, _, text = (await render_template(f"mail/{template}.txt", **context)).partition("\n")
    html = await render_template(f"mail/{template}.html", subject=subject, **context)
    return Mail(to, subject.strip()[:200], text.lstrip("\n"), html, utcnow() + keep)


def mail_write(mail: Mail) -> Write:
    """The outbox row's insert, for ``Database.commit_together`` or a ``db``."""
    now = utcnow()
    values = {
        "to_address": mail.to,
        "subject": mail.subject,
        "text_body": mail.text,
        "html_body": mail.html,
        "created_at": now,
        "due_at": now,
        "expires_at": mail.expires_at,
        "attempts": 0,
    }
    return Write(_INSERT_MAIL, values)


async def queue_mail(db: AsyncSession, mail: Mail) -> None:
    """Stage ``mail`` in ``db``'s transaction. When the request ends (after its commit), this
    worker's sender is woken, so the mail leaves at once rather than at the next poll."""
    write = mail_write(mail)
    await db.execute(write.statement, write.values)
    wake_sender_after_request()


def wake_sender_after_request() -> None:
    """Have this worker's sender look at the outbox when the request ends (after its commit),
    for a mail queued other than by ``queue_mail`` (a ``mail_write`` in a hot-path commit)."""
    if has_request_context():
        g.mail_queued = True

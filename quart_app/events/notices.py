"""Security notices: a mail to the account's confirmed address naming what happened, when,
and from which browser and IP, queued in the transaction of the action it tells about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.core.clock import utcnow
from quart_app.events.log import request_user_agent
from quart_app.mail.links import public_link
from quart_app.mail.outbox import queue_mail, render_mail
from quart_app.web.client_ip import request_ip
from quart_app.web.user_agents import describe_user_agent


@dataclass(frozen=True, slots=True)
class NoticeContext:
    """Where the action came from, as a notice shows it."""

    when: str
    browser: str
    ip: str
    sessions_link: str
    forgot_link: str


def notice_context() -> NoticeContext:
    """This request's time, browser and IP, and the link to review sessions."""
    user_agent = request_user_agent()
    return NoticeContext(
        when=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        browser=describe_user_agent(user_agent, unknown=user_agent or "unknown"),
        ip=request_ip(),
        sessions_link=public_link("account.sessions"),
        forgot_link=public_link("recovery.forgot_password"),
    )


async def queue_notice(
    db: AsyncSession, template: str, *, to: str, username: str, **context: Any
) -> None:
    """Stage the notice ``mail/<template>`` to ``to`` in ``db``'s transaction."""
    mail = await render_mail(template, to=to, username=username, notice=notice_context(), **context)
    await queue_mail(db, mail)

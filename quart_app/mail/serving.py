"""The sender's life with the app's: started once serving begins, stopped before the
database closes, woken when a request of its worker has committed a mail."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Quart, g

from quart_app.config import Settings
from quart_app.mail.backends import backend_for
from quart_app.mail.sender import MailSender
from quart_app.state import MAIL_SENDER, get_database, set_state


def init_app(app: Quart, settings: Settings) -> None:
    async def sending() -> AsyncIterator[None]:
        # while_serving: starts after every before_serving hook (the database is open) and
        # stops before any after_serving one (before the database closes).
        sender = MailSender(get_database(app), settings, backend_for(settings))
        set_state(app, MAIL_SENDER, sender)
        sender.start()
        yield
        await sender.stop()

    async def wake_sender(_exception: BaseException | None) -> None:
        if g.get("mail_queued") and (sender := app.extensions.get(MAIL_SENDER)) is not None:
            sender.nudge()

    app.while_serving(sending)
    app.teardown_request(wake_sender)

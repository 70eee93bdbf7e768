"""quart-auth's user, resolved from the server-side session once per request."""

from __future__ import annotations

from collections.abc import Callable

from quart_auth import Action, AuthUser, current_user

from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.core.database import DATABASE_ERRORS, Database
from quart_app.sessions.models import BROWSER, SessionKind
from quart_app.sessions.store import (
    SignedIn,
    delete_session,
    is_expired,
    look_up_session,
    needs_touch,
    touch_session,
)
from quart_app.state import get_database, get_settings
from quart_app.web.client_ip import request_ip


class SessionUser(AuthUser):
    """quart-auth's user: ``auth_id`` is the session token, resolved lazily, once per request.

    ``is_authenticated`` is an async property: always ``await`` it (a bare coroutine is truthy).
    """

    def __init__(
        self,
        auth_id: str | None,
        action: Action = Action.PASS,
        signed_in: SignedIn | None = None,
    ) -> None:
        super().__init__(auth_id, action)
        self._signed_in = signed_in
        self._resolved = signed_in is not None or auth_id is None

    async def load(self) -> SignedIn | None:
        if not self._resolved:
            # Marked first: if the database fails, the error propagates once (a 503 page) and
            # that page then renders as signed out instead of failing the same way again.
            self._resolved = True
            token, database = self.auth_id or "", get_database()
            self._signed_in = await resolve_session(
                database, token, get_settings(), seen_from=request_ip
            )
            if self._signed_in is None and self.action is Action.PASS:
                self.action = Action.DELETE  # a dead session's cookie is cleared from the browser
        return self._signed_in

    @property
    async def is_authenticated(self) -> bool:
        return await self.load() is not None


async def resolve_session(
    database: Database,
    token: str,
    settings: Settings,
    kind: SessionKind = BROWSER,
    seen_from: Callable[[], str] | None = None,
) -> SignedIn | None:
    """The live session of ``kind`` behind ``token``, or None; the signed-in lookup of every
    page (a browser's cookie) and of every API call (a bearer token, kind "api").

    The read goes straight to the driver, outside any transaction (``core.hot_path``). This
    lookup owns its writes, each on an engine connection of its own and committed there: an
    expired row is deleted on sight, and ``last_seen_at`` (with the address ``seen_from()``
    names, when given: asked only then) written at most once per SESSION_TOUCH_INTERVAL.
    """
    signed_in = await look_up_session(database, token, kind)
    if signed_in is None:
        return None
    now = utcnow()
    if is_expired(signed_in, now, settings):
        async with database.connect() as connection:
            await delete_session(connection, signed_in.id)
            await connection.commit()
        return None
    if needs_touch(signed_in, now, settings):
        async with database.connect() as connection:
            ip = seen_from() if seen_from is not None else None
            await touch_session(connection, signed_in, now, settings, ip)
            await connection.commit()
    return signed_in


async def current_session_context() -> dict[str, SignedIn | None]:
    """Template context: ``viewer`` is the signed-in session, or None.

    Resolved here, awaited, so templates never touch the async ``is_authenticated``. A database
    failure renders the page as signed out; the view that needs the session raises it properly.
    """
    try:
        viewer = await current_user.load()
    except DATABASE_ERRORS:
        viewer = None
    return {"viewer": viewer}

"""Requests run to their end when the client goes away: a handler is never cancelled half-way.

Quart cancels a request's handler the moment the server reports the client gone: a closed
socket, or a body so malformed that hypercorn answered 400 itself. A handler cancelled while a
database statement is in flight abandons it: SQLAlchemy then hard-closes the connection, and on
SQLite the abandoned ``UPDATE … RETURNING`` of the throttle counter kept the file's write lock
(a closed connection whose statement is not finalized lives on until the garbage collector
frees its cursor). Six malformed POSTs blocked every login and registration for minutes.

So a disconnect ends the body instead: a handler still waiting for it gets ClientDisconnected
(a 400 nobody reads), and whatever it already started (a statement, a commit, a rollback) runs
to its end. Work that is safe to drop checks ``client_gone()`` and is skipped: an argon2 hash
still queued (no transaction is ever open while one runs) is not computed for nobody, which
under overload is most of what a departed client would cost.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIHTTPConnection
from quart.wrappers import Body, Request
from werkzeug.exceptions import BadRequest


class ClientDisconnected(BadRequest):
    description = "The connection closed before the request was answered."


class Departure:
    """Set once the client of this request has gone; read from any thread."""

    def __init__(self) -> None:
        self.gone = False


_departure: ContextVar[Departure | None] = ContextVar("departure", default=None)


def departure() -> Departure | None:
    """This request's departure flag (None outside a request served by this connection)."""
    return _departure.get()


def fail_body(body: Body, error: Exception) -> None:
    """End a body that is still arriving with ``error``: awaiting it then raises ``error``.

    Quart's own mechanism, the one it uses for a body over MAX_CONTENT_LENGTH.
    """
    if not body._complete.is_set():
        body._must_raise = error
        body.set_complete()


class CompletingHTTPConnection(ASGIHTTPConnection):
    """Quart's HTTP connection; a disconnect fails the body instead of cancelling the handler."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        flag = Departure()
        token = _departure.set(flag)  # the handler runs in this task: its awaits see the flag
        receiver = asyncio.ensure_future(self.handle_messages(request, receive, flag))
        try:
            await self.handle_request(request, send)
        finally:
            _departure.reset(token)
            receiver.cancel()
            # return_exceptions: the receiver's own end is no error of this request's.
            await asyncio.gather(receiver, return_exceptions=True)

    async def handle_messages(  # type: ignore[override]
        self, request: Request, receive: ASGIReceiveCallable, flag: Departure
    ) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.request":
                request.body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    request.body.set_complete()
            elif message["type"] == "http.disconnect":
                flag.gone = True
                fail_body(request.body, ClientDisconnected())
                return

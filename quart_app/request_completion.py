"""Requests run to their end when the client goes away: a handler is never cancelled half-way.

Quart cancels a request's handler the moment the server reports the client gone: a closed
socket, or a body so malformed that hypercorn answered 400 itself. A handler cancelled while a
database statement is in flight abandons it: SQLAlchemy then hard-closes the connection, and on
SQLite the abandoned ``UPDATE … RETURNING`` of the throttle counter kept the file's write lock
(a closed connection whose statement is not finalized lives on until the garbage collector
frees its cursor). Six malformed POSTs blocked every login and registration for minutes.

So a disconnect ends the body instead: a handler still waiting for it gets ClientDisconnected
(a 400 nobody reads), and whatever it already started (a statement, a commit, a rollback) runs
to its end. Every request is bounded anyway (BODY_TIMEOUT, the database's busy timeout, the
argon2 queue), so a client that leaves cannot keep a handler alive for long.
"""

from __future__ import annotations

import asyncio

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIHTTPConnection
from quart.wrappers import Body, Request
from werkzeug.exceptions import BadRequest


class ClientDisconnected(BadRequest):
    description = "The connection closed before the request body was complete."


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
        receiver = asyncio.ensure_future(self.handle_messages(request, receive))
        try:
            await self.handle_request(request, send)
        finally:
            receiver.cancel()
            # return_exceptions: the receiver's own end is no error of this request's.
            await asyncio.gather(receiver, return_exceptions=True)

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.request":
                request.body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    request.body.set_complete()
            elif message["type"] == "http.disconnect":
                fail_body(request.body, ClientDisconnected())
                return

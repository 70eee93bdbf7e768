"""X-Request-ID: each request's id, kept from the client (or the proxy) when it is of a sane
form, made here otherwise; echoed in the answer and written in every log line of the request.

The outermost ASGI layer, so the fast 503 of admission control carries it too. Sane: 1 to 128
characters of letters, digits and ``-._:``; anything else (a header meant to break a log line,
a megabyte of text) is replaced, not cleaned, so an id in the log is always one the app could
have made or accepted whole.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from quart import Quart

from quart_app.core.log_setup import REQUEST_ID

HEADER = b"x-request-id"
SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The incoming id if there is exactly one and it is sane, else a new random one."""
    sent = [value for name, value in headers if name.lower() == HEADER]
    if len(sent) == 1 and SANE.fullmatch(sent[0]):
        return sent[0].decode("ascii")
    return secrets.token_hex(16)


class RequestIdMiddleware:
    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers", ()))
        token = REQUEST_ID.set(request_id)  # Quart's request tasks copy this context
        encoded = request_id.encode("ascii")

        async def send_with_id(message: ASGISendEvent) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                headers = [(n, v) for n, v in message.get("headers", ()) if n.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, encoded)]}  # type: ignore[typeddict-item]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def init_app(app: Quart) -> None:
    """Call last in create_app: the id must wrap every other layer, admission control too."""
    app.asgi_app = RequestIdMiddleware(app.asgi_app)  # type: ignore[method-assign]

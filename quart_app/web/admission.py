"""Load shedding at the ASGI door: while the hash pool is full, hashing forms get a fast 503.

The check runs before Quart builds a request, routes it, opens a session or parses a form, so
under a login flood a refusal costs microseconds and waits behind nothing. Whatever slips past
between this check and the hash is shed by the pool itself (HashPoolBusy, a 503 too).
"""

from __future__ import annotations

from collections.abc import Iterable

from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart

from quart_app.passwords.hasher import PasswordHasherPool, shed_retry_after
from quart_app.state import get_hasher
from quart_app.web.route_policy import policy_of

# The form too, not only its POST: a form served while the pool is full would only come back
# as a POST to be refused, and rendering it is most of a refused login's cost.
SHED_METHODS = frozenset({"GET", "HEAD", "POST"})
# A fixed page: no template, no session, no database.
BUSY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>503 Busy · Quart App</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main class="content"><section class="card"><h1>503 · Busy</h1>
<p>Too many sign-ins at once. Please try again in a moment.</p>
<p><a href="/">Back to the home page</a></p></section></main></body></html>
"""


class AdmissionControl:
    """ASGI middleware answering 503 + Retry-After to hashing POSTs while the pool is full."""

    def __init__(
        self,
        app: ASGIFramework,
        hasher: PasswordHasherPool,
        paths: Iterable[str],
        headers: dict[str, str],
    ) -> None:
        self.app = app
        self.hasher = hasher
        self.paths = frozenset(paths)
        self.body = body = BUSY_PAGE.encode()
        self.headers = [
            (name.lower().encode(), value.encode())
            for name, value in {
                **headers,
                "Content-Type": "text/html; charset=utf-8",
                "Content-Length": str(len(body)),
                "Cache-Control": "no-store",
            }.items()
        ]

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in self.paths
            and scope["method"] in SHED_METHODS
            and self.hasher.is_saturated()
        ):
            retry_after = str(shed_retry_after()).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [*self.headers, (b"retry-after", retry_after)],
                    "trailers": False,
                }
            )
            await send({"type": "http.response.body", "body": self.body, "more_body": False})
            return
        await self.app(scope, receive, send)


def init_app(app: Quart, headers: dict[str, str]) -> None:
    """Wrap the app's ASGI entry; call after the blueprints: the paths are those of the views
    marked ``@hashes_password``."""
    paths = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if policy_of(rule.endpoint, app).hashes_password
    ]
    app.asgi_app = AdmissionControl(  # type: ignore[method-assign]
        app.asgi_app, get_hasher(app), paths, headers
    )

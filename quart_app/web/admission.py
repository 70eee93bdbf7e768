"""Load shedding at the ASGI door: past the hash pool's capacity, hashing forms get a fast 503.

The check runs before Quart builds a request, routes it, opens a session or parses a form, so
under a login flood a refusal costs microseconds and waits behind nothing.

The door counts what it has let in, not only what has reached the pool: in a burst, hundreds of
POSTs arrive before the first one has parsed its form and queued its hash, and a door that only
asked the pool let them all in, to be refused later, one by one, behind each other's parsing.
A request is counted from the moment its body has arrived (a client that dribbles its body holds
no place) until it is answered, and the forms count too: a form served now comes back as a POST.
What still slips past is shed by the pool itself (HashPoolBusy, a 503 too).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    Scope,
)
from quart import Quart

from quart_app.metrics.instruments import count_attempt, count_shed
from quart_app.passwords.hasher import PasswordHasherPool, shed_retry_after
from quart_app.state import get_hasher, get_settings
from quart_app.web.problems import PROBLEM_JSON, is_api_path, problem_body
from quart_app.web.route_policy import CountedAs, policy_of

# The form too, not only its POST: a form served while the pool is full would only come back
# as a POST to be refused, and rendering it is most of a refused login's cost.
SHED_METHODS = frozenset({"GET", "HEAD", "POST"})
BUSY_DETAIL = "Too many sign-ins at once. Please try again in a moment."
# A fixed page: no template, no session, no database.
_BUSY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>503 Busy · {site_name}</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main class="content"><section class="card"><h1>503 · Busy</h1>
<p>{detail}</p>
<p><a href="/">Back to the home page</a></p></section></main></body></html>
"""


def busy_page(site_name: str) -> str:
    return _BUSY_PAGE.format(site_name=html.escape(site_name), detail=html.escape(BUSY_DETAIL))


class _Place:
    """One admitted request's place in the door's count: taken once its body has arrived, given
    back when it is answered, never taken after that (a late body message changes nothing)."""

    __slots__ = ("done", "door", "held")

    def __init__(self, door: AdmissionControl) -> None:
        self.door, self.held, self.done = door, False, False

    def take(self) -> None:
        if not (self.held or self.done):
            self.held = True
            self.door.in_flight += 1

    def give_back(self) -> None:
        self.done = True
        if self.held:
            self.held = False
            self.door.in_flight -= 1


class AdmissionControl:
    """ASGI middleware answering 503 + Retry-After to hashing forms and their POSTs once as
    many are in flight as the pool can hash and queue (``in_flight``, per worker)."""

    def __init__(
        self,
        app: ASGIFramework,
        hasher: PasswordHasherPool,
        paths: Mapping[str, CountedAs | None],
        headers: dict[str, str],
        site_name: str,
    ) -> None:
        self.app = app
        self.hasher = hasher
        self.paths = dict(paths)  # each shed path, and what its metrics count it as
        self.in_flight = 0  # admitted hashing requests not yet answered; this worker's loop only
        self.answers = {  # the page for browsers, a problem document for the JSON API
            api: _refusal(body, content_type, headers)
            for api, body, content_type in (
                (False, busy_page(site_name).encode(), "text/html; charset=utf-8"),
                (True, problem_body(503, "Service Unavailable", BUSY_DETAIL), PROBLEM_JSON),
            )
        }

    def is_full(self) -> bool:
        return self.in_flight >= self.hasher.capacity or self.hasher.is_saturated()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if not (
            scope["type"] == "http"
            and scope["path"] in self.paths
            and scope["method"] in SHED_METHODS
        ):
            await self.app(scope, receive, send)
            return
        if self.is_full():
            count_shed()
            count_attempt(self.paths[scope["path"]], "shed")
            await self._refuse(send, is_api_path(scope["path"]))
            return
        place = _Place(self)

        async def receive_counted() -> ASGIReceiveEvent:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                place.take()
            return message

        try:
            await self.app(scope, receive_counted, send)
        finally:
            place.give_back()

    async def _refuse(self, send: ASGISendCallable, api: bool) -> None:
        body, headers = self.answers[api]
        retry_after = str(shed_retry_after()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [*headers, (b"retry-after", retry_after)],
                "trailers": False,
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _refusal(
    body: bytes, content_type: str, headers: dict[str, str]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A 503's body and its headers, encoded once."""
    encoded = [
        (name.lower().encode(), value.encode())
        for name, value in {
            **headers,
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
        }.items()
    ]
    return body, encoded


def init_app(app: Quart, headers: dict[str, str]) -> None:
    """Wrap the app's ASGI entry; call after the blueprints: the paths are those of the views
    marked ``@hashes_password``."""
    policies = {rule.rule: policy_of(rule.endpoint, app) for rule in app.url_map.iter_rules()}
    paths = {path: policy.counted_as for path, policy in policies.items() if policy.hashes_password}
    app.asgi_app = AdmissionControl(  # type: ignore[method-assign]
        app.asgi_app, get_hasher(app), paths, headers, get_settings(app).SITE_NAME
    )

"""Error pages in the site's layout: every failure is a clear page with the right status; under
the JSON API's prefix, a problem document (``web.problems``) instead."""

from __future__ import annotations

import logging

from quart import Quart, Response, has_request_context, redirect, render_template, request
from quart_auth import Unauthorized
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import (
    Conflict,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
    TooManyRequests,
)

from quart_app.core.database import DATABASE_ERRORS
from quart_app.metrics.instruments import count_attempt, count_shed
from quart_app.passwords.hasher import HashPoolBusy
from quart_app.state import get_settings
from quart_app.throttle.policy import Throttled
from quart_app.web.admission import BUSY_DETAIL, busy_page
from quart_app.web.problems import is_api_path, problem, problem_for, token_required
from quart_app.web.redirects import login_url, return_target
from quart_app.web.route_policy import policy_of

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


async def render_error(error: HTTPException) -> Response:
    if not has_request_context():
        # A WebSocket handshake (the app serves none): the server refuses it with this status.
        # The page's template and context processors need an HTTP request to render.
        return Response(
            f"{error.code} {error.name}", status=error.code or 500, mimetype="text/plain"
        )
    if is_api_path(request.path):
        return problem_for(error)
    body = await render_template("errors/error.html", error=error)
    response = Response(body, status=error.code or 500)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # e.g. Allow on a 405
    return response


async def handle_unauthorized(_error: Unauthorized) -> Response:
    """A signed-out visitor to a protected page is sent to log in, and back afterwards; the
    API's caller gets a 401 that asks for a bearer token."""
    if is_api_path(request.path):
        return token_required()
    return redirect(login_url(return_target()), 302)


async def handle_http_error(error: HTTPException) -> Response:
    return await render_error(error)


async def handle_database_error(error: Exception) -> Response:
    log.error("database or Redis unavailable: %s", type(error).__name__)
    # retry_after: werkzeug sends the Retry-After header, and the page says how long to wait.
    return await render_error(ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS))


async def handle_conflict(error: Exception) -> Response:
    """A constraint violation or a vanished row: a race another request won, not an outage."""
    log.warning(
        "request lost a race on %s %s: %s", request.method, request.path, type(error).__name__
    )
    return await render_error(
        Conflict("Another change to this account happened at the same time: go back and try again.")
    )


async def handle_hash_pool_busy(error: HashPoolBusy) -> Response:
    """Shed inside the app (the pool filled up after the door let the request in)."""
    count_shed()
    count_attempt(policy_of(request.endpoint).counted_as, "shed")
    headers = {"Retry-After": str(error.retry_after_seconds)}
    if is_api_path(request.path):
        return problem(503, "Service Unavailable", BUSY_DETAIL, headers=headers.items())
    return Response(
        busy_page(get_settings().SITE_NAME),
        status=503,
        headers=headers,
        content_type="text/html; charset=utf-8",
    )


async def handle_throttled(error: Throttled) -> Response:
    return await render_error(
        TooManyRequests(
            "Too many attempts came from your network.",  # the page says how long to wait
            retry_after=error.retry_after_seconds,
        )
    )


async def handle_unexpected_error(error: Exception) -> Response:
    where = f"{request.method} {request.path}" if has_request_context() else "a WebSocket"
    log.exception("unhandled error on %s", where, exc_info=error)
    return await render_error(InternalServerError())


async def raise_routing_error() -> None:
    """A path or method no route serves is its 404 or 405 (with Allow) before anything else.

    Quart raises routing errors only after the before-request hooks, so a PUT to a POST-only
    form would first meet the CSRF check and get a misleading 400.
    """
    if request.routing_exception is not None:
        raise request.routing_exception


def init_app(app: Quart) -> None:
    """Call before the other modules' before-request hooks: routing errors come first."""
    app.before_request(raise_routing_error)
    app.register_error_handler(Unauthorized, handle_unauthorized)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(HashPoolBusy, handle_hash_pool_busy)
    app.register_error_handler(Throttled, handle_throttled)
    for error_type in (*DATABASE_ERRORS, RedisError):
        app.register_error_handler(error_type, handle_database_error)
    # More specific than DBAPIError (a DATABASE_ERRORS member): Quart picks these for them.
    for error_type in (IntegrityError, StaleDataError):
        app.register_error_handler(error_type, handle_conflict)
    app.register_error_handler(Exception, handle_unexpected_error)

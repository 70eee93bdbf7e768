"""Bearer tokens on the API: ``Authorization: Bearer <token>`` is the only credential there.

The cookie is never read under ``/api`` (so no CSRF token is needed, and a browser's session can
never drive the API), and a bearer token resolves only sessions of kind "api". A missing,
malformed, expired or revoked token is a 401 with the RFC 6750 challenge.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import g, request
from quart_schema import security_scheme

from quart_app.sessions.current_user import resolve_session
from quart_app.sessions.models import API
from quart_app.sessions.store import SignedIn
from quart_app.state import get_database, get_settings
from quart_app.web.client_ip import request_ip
from quart_app.web.problems import token_required

P = ParamSpec("P")
R = TypeVar("R")
SCHEME = "bearerAuth"  # the OpenAPI security scheme's name
# RFC 6750's b64token, at a length no real token exceeds (ours are 43 characters).
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,256}=*")


def presented_token() -> str | None:
    """The token of a well-formed ``Authorization: Bearer`` header (the scheme in any case)."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not TOKEN.fullmatch(token):
        return None
    return token


def api_session() -> SignedIn:
    """The token's session, in a view under ``@bearer_required``."""
    signed_in: SignedIn = g.api_session
    return signed_in


def bearer_required(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[Any]]:
    """Answer 401 unless the request carries a live API token; documented in the OpenAPI
    document as needing the bearer scheme."""

    @wraps(view)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
        sent = request.headers.get("Authorization")
        if sent is None:
            return token_required()
        token = presented_token()
        signed_in = None
        if token is not None:
            signed_in = await resolve_session(
                get_database(), token, get_settings(), API, seen_from=request_ip
            )
        if signed_in is None:
            return token_required(invalid=True)
        g.api_session = signed_in
        return await view(*args, **kwargs)

    return security_scheme([{SCHEME: []}])(guarded)

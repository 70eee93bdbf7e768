"""CSRF protection: a token tied to the browser's session, and a same-origin check.

Every unsafe request needs the token. SameSite=Lax cookies already stop most cross-site POSTs;
the token also covers older browsers and same-site (sibling subdomain) attackers, and the
Origin / Sec-Fetch-Site check refuses what a browser says came from another site.

Signed in, the token is derived from the sign-in id (an HMAC under the secret key), so it is
bound to that session, changes when its id does, needs no storage and no second cookie: a
signed-in page never opens or re-signs Quart's cookie session. Signed out (the login and
registration forms), it is a random value kept in Quart's cookie session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import NoReturn
from urllib.parse import urlsplit

from quart import Quart, current_app, request, session
from quart_auth import Action, current_user
from werkzeug.exceptions import BadRequest

from quart_app.events.security_log import log_refusal
from quart_app.web.client_ip import request_ip
from quart_app.web.forms import field, read_form
from quart_app.web.problems import is_api_path

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_KEY = "csrf_token"  # Quart's session: the signed-out token
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_DERIVATION_LABEL = b"quart-app csrf token v1:"


class CSRFError(BadRequest):
    description = (
        "This form had expired or came from another site: reload the page and send it again."
    )


def signed_in_id() -> str | None:
    """This request's sign-in id, or None when signed out.

    DELETE: this response clears a dead session's cookie, so the next request comes without it
    and must find a signed-out token.
    """
    if current_user.action is Action.DELETE:
        return None
    return current_user.auth_id


def token_for_session(auth_id: str, secret_key: str | bytes) -> str:
    """The token of the session whose sign-in id is ``auth_id``: an HMAC of it, which reveals
    nothing of the id, under a key only the servers hold."""
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    digest = hmac.new(key, _DERIVATION_LABEL + auth_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _signing_keys() -> Iterable[str | bytes]:
    """The secret key, then its fallbacks: a page served before a key rotation still posts."""
    yield current_app.secret_key or ""
    yield from current_app.config.get("SECRET_KEY_FALLBACKS") or ()


def csrf_token() -> str:
    """This browser's token (a template global for hidden form fields)."""
    auth_id = signed_in_id()
    if auth_id is not None:
        return token_for_session(auth_id, current_app.secret_key or "")
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = session[SESSION_KEY] = new_token()
    return token


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _matches(sent: str, expected: str) -> bool:
    # Constant-time comparison: no timing oracle for guessing the token byte by byte.
    return secrets.compare_digest(sent.encode(), expected.encode())


def is_valid_token(sent: str) -> bool:
    """Whether ``sent`` is this browser's token: derived from its sign-in id under the current
    or a fallback key, or, signed out, the one in its Quart session."""
    auth_id = signed_in_id()
    if auth_id is not None:
        return any(_matches(sent, token_for_session(auth_id, key)) for key in _signing_keys())
    expected = session.get(SESSION_KEY)
    return isinstance(expected, str) and _matches(sent, expected)


def is_cross_site() -> bool:
    """Whether the browser says this request came from another site.

    Sec-Fetch-Site is set by the browser and cannot be forged by a page, and it accounts for
    every hop of a redirect: its "same-origin" settles it. That matters under
    ``Referrer-Policy: no-referrer`` (the pages a mailed link opens), where Chromium sends
    ``Origin: null`` with the page's own form POST. Without it, Origin must name this host;
    "null" (a sandboxed frame, a cross-site redirect) counts as foreign. The host is compared,
    not the scheme, so a proxy that ends TLS in front of the app changes nothing.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site == "cross-site":
        return True
    if fetch_site == "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # older browsers and non-browser clients: the token alone decides
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


async def check_csrf() -> None:
    """Refuse unsafe requests from another site, or whose token is missing or not this
    browser's (another session's, or one that ended). The JSON API needs none: it ignores
    cookies and takes only a bearer token, which no other site can make a browser send."""
    if request.method in SAFE_METHODS or is_api_path(request.path):
        return
    if is_cross_site():
        _refuse()
    sent = request.headers.get(HEADER) or field(await read_form(), FORM_FIELD)
    if not sent or not is_valid_token(sent):
        _refuse()


def _refuse() -> NoReturn:
    """A stale form looks the same as a forged one: logged as OWASP's malicious_csrf."""
    log_refusal("malicious_csrf", source_ip=request_ip())
    raise CSRFError()


def init_app(app: Quart) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

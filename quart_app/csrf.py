"""CSRF protection: a per-session random token, required on every unsafe request."""

from __future__ import annotations

import secrets

from quart import Quart, request, session
from werkzeug.exceptions import BadRequest

from quart_app.forms import field, read_form

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CSRFError(BadRequest):
    description = "The form had expired or did not come from this site. Please try again."


def csrf_token() -> str:
    """This session's token, created on first use (a template global for hidden form fields)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


async def check_csrf() -> None:
    """Refuse unsafe requests whose token is missing or differs from the session's.

    SameSite=Lax cookies already stop most cross-site POSTs; the token also covers older
    browsers and same-site (sibling subdomain) attackers.
    """
    if request.method in SAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    sent = request.headers.get(HEADER) or field(await read_form(), FORM_FIELD)
    if not isinstance(expected, str) or not sent:
        raise CSRFError()
    # Constant-time comparison: no timing oracle for guessing the token byte by byte.
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CSRFError()


def init_app(app: Quart) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

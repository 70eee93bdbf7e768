"""CSRF protection: a random token bound to the signed-in session, and a same-origin check.

Every unsafe request needs the token. SameSite=Lax cookies already stop most cross-site POSTs;
the token also covers older browsers and same-site (sibling subdomain) attackers, and the
Origin / Sec-Fetch-Site check refuses what a browser says came from another site.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

from quart import Quart, request, session
from quart_auth import Action, current_user
from werkzeug.exceptions import BadRequest

from quart_app.web.forms import field, read_form

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_KEY = "csrf_token"
BINDING_KEY = "csrf_for"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CSRFError(BadRequest):
    description = "The form had expired or did not come from this site. Please try again."


def session_binding() -> str:
    """Who the token belongs to: a digest of this request's sign-in id ("" when signed out).

    Stored beside the token in Quart's cookie, so a token (and its cookie) planted from
    another browser's session is refused with this one's sign-in cookie. A digest, not the id:
    that cookie must not carry a copy of the sign-in secret.
    """
    auth_id = current_user.auth_id
    # DELETE: this response clears a dead session's cookie, so the next request comes without.
    if auth_id is None or current_user.action is Action.DELETE:
        return ""
    return binding_for(auth_id)


def binding_for(auth_id: str) -> str:
    """The binding stored beside a token issued to the session whose sign-in id is ``auth_id``."""
    return hashlib.sha256(b"csrf-binding:" + auth_id.encode()).hexdigest()[:32]


def csrf_token() -> str:
    """This session's token, created on first use (a template global for hidden form fields)."""
    token = session.get(SESSION_KEY)
    binding = session_binding()
    if not isinstance(token, str) or session.get(BINDING_KEY) != binding:
        token = new_token()
        session[SESSION_KEY] = token
        session[BINDING_KEY] = binding
    return token


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_cross_site() -> bool:
    """Whether the browser says this request came from another site.

    Sec-Fetch-Site is set by the browser and cannot be forged by a page. Origin must name
    this host; "null" (a sandboxed frame, a cross-site redirect) counts as foreign. The host is
    compared, not the scheme, so a proxy that ends TLS in front of the app changes nothing.
    """
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # older browsers and non-browser clients: the token alone decides
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


async def check_csrf() -> None:
    """Refuse unsafe requests from another site, or whose token is missing, wrong, or bound to
    another session."""
    if request.method in SAFE_METHODS:
        return
    if is_cross_site():
        raise CSRFError()
    expected = session.get(SESSION_KEY)
    sent = request.headers.get(HEADER) or field(await read_form(), FORM_FIELD)
    if not isinstance(expected, str) or not sent:
        raise CSRFError()
    if session.get(BINDING_KEY) != session_binding():
        raise CSRFError()
    # Constant-time comparison: no timing oracle for guessing the token byte by byte.
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CSRFError()


def init_app(app: Quart) -> None:
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

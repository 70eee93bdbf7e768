"""Where to send a user after login: only same-site relative paths (no open redirects)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote, urlsplit

from quart import request, url_for

from quart_app.web.route_policy import policy_of

View = TypeVar("View", bound=Callable[..., object])

NEXT_MAX_LENGTH = 2048


def is_safe_next(target: str | None) -> bool:
    """Whether ``target`` is a path on this site that a browser cannot read as another host.

    Browsers treat "//host", "/\\host" and "\\/host" as protocol-relative, strip tabs and newlines
    before parsing ("/\\t/host"), and accept "https:host" without slashes; each of those has been
    a real bypass (CVE-2021-32618, CVE-2023-49438). So: one leading slash, no backslash, no
    control or space characters, and nothing urlsplit reads as a scheme or host.
    """
    if not target or len(target) > NEXT_MAX_LENGTH or not target.startswith("/"):
        return False
    if target.startswith("//") or "\\" in target:
        return False
    if any(unicodedata.category(char)[0] in "CZ" for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str = "/") -> str:
    return target if target is not None and is_safe_next(target) else default


def login_url(next_path: str) -> str:
    """The login page URL that returns to ``next_path``: "/login?next=/dashboard"."""
    return f"{url_for('auth.login')}?next={quote(next_path, safe='/')}"


def return_target() -> str:
    """Where to return after logging in: this URL when a GET serves it, else its form's page."""
    if request.method in {"GET", "HEAD"}:
        query = request.query_string.decode("latin-1")
        return request.path + (f"?{query}" if query else "")
    rule = request.url_rule
    if rule is not None and "GET" in (rule.methods or ()):
        return request.path  # the form is on this very URL
    endpoint = policy_of(request.endpoint).form_page
    return url_for(endpoint) if endpoint else url_for("main.index")

"""Links in mails: built from ``PUBLIC_URL``, never from the request's Host or X-Forwarded-Host
(a forged Host header would otherwise put an attacker's domain into a reset link)."""

from __future__ import annotations

from typing import Any

from quart import current_app

from quart_app.state import get_settings


def public_link(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` under ``PUBLIC_URL``, in a request or only an app
    context (a background task): the route map builds the path, no request's host is read."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return get_settings().PUBLIC_URL.rstrip("/") + path

"""Security headers on every response."""

from __future__ import annotations

from quart import Quart, Response

# No inline script or style anywhere: an injected <script> cannot run even if escaping fails.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
BASE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # clickjacking, for browsers without frame-ancestors
}
# Two years, the HSTS preload list's minimum is one.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def init_app(app: Quart, *, https_only: bool) -> None:
    headers = dict(BASE_HEADERS)
    if https_only:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY

    async def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    app.after_request(add_security_headers)

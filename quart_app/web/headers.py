"""Security headers on every response."""

from __future__ import annotations

from quart import Quart, Response, request

from quart_app.web.route_policy import policy_of

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


def security_headers(*, https_only: bool) -> dict[str, str]:
    """The headers every response carries (HSTS only where the site is served over HTTPS)."""
    headers = dict(BASE_HEADERS)
    if https_only:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return headers


def init_app(app: Quart, *, https_only: bool) -> None:
    # (lower-case name, name, value). One pass over the response's headers, then plain adds:
    # setdefault for each scanned them all again, five times per response (0.019 ms measured).
    headers = [
        (name.lower(), name, value)
        for name, value in security_headers(https_only=https_only).items()
    ]

    async def add_security_headers(response: Response) -> Response:
        sent = response.headers
        present = {name.lower() for name in sent.keys()}
        for lower, name, value in headers:
            if lower not in present:  # a view's own value (a stricter Referrer-Policy) stays
                sent.add(name, value)
        if not policy_of(request.endpoint).static_content:
            # Pages differ by who is signed in: shared caches must key on the cookie
            # (CVE-2023-30861 was Flask serving one user's session to another without it),
            # and nothing showing account data or a form token may be stored at all.
            if "vary" in present:
                response.vary.add("Cookie")
            else:
                sent.add("Vary", "Cookie")
            sent["Cache-Control"] = "no-store"
        return response

    app.after_request(add_security_headers)

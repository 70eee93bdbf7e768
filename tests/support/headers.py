"""The security headers every response must carry."""

from __future__ import annotations

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def assert_security_headers(headers: object) -> None:
    for name, value in EXPECTED.items():
        assert headers[name] == value  # type: ignore[index]
    policy = headers["Content-Security-Policy"]  # type: ignore[index]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy

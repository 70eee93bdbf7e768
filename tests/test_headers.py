"""Security headers on every response, whatever its status."""

from __future__ import annotations

import pytest
from quart import Quart

from quart_app import create_app
from tests.conftest import AuthActions, Client

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


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/dashboard", 302), ("/nope", 404)])
async def test_headers_on_every_status(client: Client, path: str, status: int) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert_security_headers(response.headers)


async def test_headers_on_csrf_rejection_and_redirect_after_post(
    client: Client, auth: AuthActions
) -> None:
    assert_security_headers((await client.post("/login", form={})).headers)
    assert_security_headers((await auth.register("alice")).headers)


async def test_hsts_only_when_cookies_are_secure(app: Quart, app_config: dict) -> None:
    assert "Strict-Transport-Security" not in (await app.test_client().get("/")).headers
    secure = create_app({**app_config, "COOKIE_SECURE": True})
    async with secure.test_app():
        response = await secure.test_client().get("/", scheme="https")
    max_age = int(response.headers["Strict-Transport-Security"].split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 24 * 3600

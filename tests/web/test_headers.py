"""Security headers on every response, whatever its status."""

from __future__ import annotations

import pytest
from quart import Quart

from quart_app import create_app
from tests.support.auth import AuthActions, Client, csrf_from
from tests.support.headers import assert_security_headers


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


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/dashboard", "/healthz", "/nope"])
async def test_dynamic_responses_vary_on_cookie_and_are_not_stored(
    client: Client, auth: AuthActions, path: str
) -> None:
    await auth.register("alice")
    response = await client.get(path)
    assert "cookie" in response.headers["Vary"].lower()
    assert response.headers["Cache-Control"] == "no-store"


async def test_static_files_may_be_cached(client: Client) -> None:
    response = await client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert_security_headers(response.headers)


async def test_logout_clears_site_data(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    response = await auth.logout()
    assert response.headers["Clear-Site-Data"] == '"cookies", "storage"'


async def test_secure_cookies_use_the_host_prefix(app_config: dict) -> None:
    app = create_app({**app_config, "COOKIE_SECURE": True})
    async with app.test_app():
        client = app.test_client()
        page = await client.get("/register", scheme="https")
        token = csrf_from(await page.get_data(as_text=True))
        form = {"username": "alice", "password": "correct horse battery", "csrf_token": token}
        response = await client.post("/register", form=form, scheme="https")
        cookies = response.headers.getlist("Set-Cookie")
        names = sorted(cookie.split("=", 1)[0] for cookie in cookies)
        assert names == ["__Host-auth", "__Host-flash_csrf"]
        for cookie in cookies:
            assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
        dashboard = await client.get("/dashboard", scheme="https")
        assert dashboard.status_code == 200


def test_insecure_local_cookies_have_no_prefix(app: Quart) -> None:
    assert app.config["QUART_AUTH_COOKIE_NAME"] == "auth"
    assert app.config["SESSION_COOKIE_NAME"] == "flash_csrf"


async def test_headers_on_a_429(app_config: dict) -> None:
    app = create_app({**app_config, "THROTTLE_REGISTER_PER_MINUTE": 1})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        await auth.register("a", "x")
        response = await auth.register("b", "x")
        assert response.status_code == 429
        assert_security_headers(response.headers)
        assert response.headers["Cache-Control"] == "no-store"

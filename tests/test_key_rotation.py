"""SECRET_KEY rotation without signing everybody out: SECRET_KEY_FALLBACKS."""

from __future__ import annotations

from typing import Any

from quart_app import create_app
from tests.support.auth import AuthActions

OLD_KEY = "old-secret-key-" + "o" * 40
NEW_KEY = "new-secret-key-" + "n" * 40


async def signed_in_cookies(config: dict[str, Any]) -> str:
    cookies, _ = await signed_in_cookies_and_token(config)
    return cookies


async def signed_in_cookies_and_token(config: dict[str, Any]) -> tuple[str, str]:
    """Alice's sign-in cookie under OLD_KEY, and the CSRF token of a page she was served."""
    app = create_app({**config, "SECRET_KEY": OLD_KEY})
    async with app.test_app():
        client = app.test_client()
        auth = AuthActions(client)
        response = await auth.register("alice")
        assert response.status_code == 303
        cookies = "; ".join(c.split(";")[0] for c in response.headers.getlist("Set-Cookie"))
        return cookies, await auth.csrf("/account/password")


async def test_old_cookies_survive_rotation_through_fallbacks(app_config: dict[str, Any]) -> None:
    cookies = await signed_in_cookies(app_config)
    rotated = create_app({**app_config, "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY})
    async with rotated.test_app():
        response = await rotated.test_client().get("/dashboard", headers={"Cookie": cookies})
        assert response.status_code == 200
        assert "alice" in await response.get_data(as_text=True)


async def test_old_cookies_are_refused_once_the_fallback_is_dropped(
    app_config: dict[str, Any],
) -> None:
    cookies = await signed_in_cookies(app_config)
    rotated = create_app({**app_config, "SECRET_KEY": NEW_KEY})
    async with rotated.test_app():
        response = await rotated.test_client().get("/dashboard", headers={"Cookie": cookies})
        assert response.status_code == 302


async def test_a_page_served_before_rotation_still_posts(app_config: dict[str, Any]) -> None:
    """The signed-in CSRF token is derived under the secret key: the fallback accepts it too."""
    cookies, token = await signed_in_cookies_and_token(app_config)
    rotated = create_app({**app_config, "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY})
    async with rotated.test_app():
        client = rotated.test_client()
        headers = {"Cookie": cookies}
        response = await client.post("/logout", form={"csrf_token": "x" + token}, headers=headers)
        assert response.status_code == 400
        response = await client.post("/logout", form={"csrf_token": token}, headers=headers)
        assert response.status_code == 303

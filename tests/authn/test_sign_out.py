"""Every way out of a session clears the same things: the row, both cookies, the site's data."""

from __future__ import annotations

import re

import pytest
from quart import Quart

from quart_app.sessions.models import UserSession
from quart_app.testing.plugin import DEFAULT_PASSWORD, MakeUser, SignIn
from tests.support.auth import count_rows


async def _first_session_id(client: object) -> str:
    html = await (await client.get("/account/sessions")).get_data(as_text=True)  # type: ignore[attr-defined]
    # The client signed in first holds the lower id.
    return min(re.findall(r"/account/sessions/(\d+)/revoke", html), key=int)


@pytest.mark.parametrize(
    ("way_out", "message"),
    [
        ("logout", None),
        ("revoke", "This session was ended. You are signed out."),
        ("delete", "Your account and everything stored about it were deleted."),
    ],
)
async def test_each_way_out_clears_the_same_things(
    app: Quart, make_user: MakeUser, signed_in_client: SignIn, way_out: str, message: str | None
) -> None:
    user = await make_user("alice")
    client, other = await signed_in_client(user), await signed_in_client(user)
    if way_out == "logout":
        response = await client.post("/logout", form={})
    elif way_out == "revoke":
        response = await client.post(f"/account/sessions/{await _first_session_id(client)}/revoke")
    else:
        response = await client.post("/account/delete", form={"password": DEFAULT_PASSWORD})

    assert response.status_code == 303
    assert response.headers["Clear-Site-Data"] == '"cookies", "storage"'
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("auth=;") and "Expires=Thu, 01 Jan 1970" in c for c in cookies)
    assert any(c.startswith("flash_csrf=;") for c in cookies)  # CSRF token and flashes gone
    assert (await client.get("/dashboard")).status_code == 302
    # Only this browser's session ended (deleting the account ends them all).
    still_signed_in = 302 if way_out == "delete" else 200
    assert (await other.get("/dashboard")).status_code == still_signed_in
    assert await count_rows(app, UserSession) == (0 if way_out == "delete" else 1)

    landing = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    if message is not None:
        assert message in landing
    assert "were deleted" not in landing or way_out == "delete"


async def test_an_unknown_reason_on_the_home_page_says_nothing(client: object) -> None:
    html = await (await client.get("/?signed_out=<script>")).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "<script>" not in html and 'class="flashes"' not in html

"""An API token in a real browser: created over HTTP, listed on the sessions page by its name,
revoked there with its button, dead at once on the API, and recorded on the activity page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import (
    OpenPage,
    has_horizontal_scroll,
    log_in,
    register,
    unique_password,
    unique_username,
)
from tests.support.servers import LiveServer

Snap = Callable[[Page, str], Path]
TOKEN_NAME = "deploy bot"
# One long word: the sessions page must wrap it, not scroll a phone sideways.
CLIENT_AGENT = "deploy-bot/2.1(+https://ci.example.com/pipelines/nightly-deploy-to-production)"
PHONE_WIDTH = 390


def test_a_token_revoked_on_the_sessions_page_stops_working_at_once(
    open_page: OpenPage, live_server: LiveServer, snap: Snap
) -> None:
    username, password = unique_username("tokener"), unique_password()
    desk, phone = open_page(), open_page(width=PHONE_WIDTH, height=844)
    register(desk, username, password)
    log_in(phone, username, password)

    with httpx.Client(base_url=live_server.base_url, timeout=30) as api:
        created = api.post(
            "/api/v1/tokens",
            json={"username": username, "password": password, "name": TOKEN_NAME},
            headers={"User-Agent": CLIENT_AGENT},
        )
        assert created.status_code == 201, created.text
        assert created.json()["token_type"] == "bearer"
        bearer = {"Authorization": f"Bearer {created.json()['token']}"}
        assert api.get("/api/v1/me", headers=bearer).json()["username"] == username

        phone.goto("/account/sessions")
        expect(phone.get_by_text(f"API token “{TOKEN_NAME}”")).to_be_visible()
        assert not has_horizontal_scroll(phone)
        snap(phone, "phone-sessions")

        desk.goto("/account/sessions")
        token_row = desk.locator("li.session").filter(has_text=f"API token “{TOKEN_NAME}”")
        expect(token_row).to_have_count(1)
        expect(token_row).to_contain_text(f"API token “{TOKEN_NAME}” · deploy-bot")  # by name
        expect(token_row.get_by_title(CLIENT_AGENT)).to_have_count(1)  # in full on hover
        expect(token_row).to_contain_text("127.0.0.1 · last seen just now")
        expect(desk.locator("li.session")).to_have_count(3)  # two browsers and the token
        token_row.get_by_role("button", name="Revoke this token").click()
        expect(desk.get_by_role("status")).to_contain_text("The token was revoked.")
        expect(desk.locator("li.session")).to_have_count(2)
        expect(desk.get_by_text(TOKEN_NAME)).to_have_count(0)
        snap(desk, "token-revoked")

        refused = api.get("/api/v1/me", headers=bearer)
        assert refused.status_code == 401
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert "Bearer" in refused.headers["WWW-Authenticate"]
        assert username not in refused.text

    desk.goto("/account/activity")
    events = desk.locator("table.events tbody")
    for what in ("API token created", "API token revoked"):
        expect(events.get_by_text(what, exact=True)).to_have_count(1)
    phone.goto("/account/activity")
    assert not has_horizontal_scroll(phone)
    phone.goto("/dashboard")
    expect(phone).to_have_url("/dashboard")  # revoking the token left the browsers signed in

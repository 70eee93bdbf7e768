"""Whole journeys in a real browser: register, dashboard, log out, log back in, cookies."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import (
    GENERIC_LOGIN_ERROR,
    OpenPage,
    focused,
    log_in,
    log_out,
    register,
    unique_password,
    unique_username,
)

AUTH_COOKIE = "auth"
REMEMBER_SECONDS = 30 * 24 * 60 * 60  # SESSION_REMEMBER_DURATION's default
Snap = Callable[[Page, str], Path]


def test_register_dashboard_log_out_and_log_back_in_via_next(page: Page, snap: Snap) -> None:
    username, password = unique_username("journey"), unique_password()

    response = register(page, username, password)
    assert response.status == 200 and response.request.redirected_from is not None
    assert response.request.redirected_from.method == "POST"
    expect(page).to_have_url("/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {username}")
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {username}.")
    snap(page, "1-registered")

    page.get_by_role("navigation").get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url("/dashboard")
    expect(page.locator("dd").first).to_have_text(username)
    snap(page, "2-dashboard")

    log_out(page)
    expect(page).to_have_url("/")
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)

    page.goto("/dashboard")
    expect(page).to_have_url("/login?next=/dashboard")
    expect(page.get_by_text(username)).to_have_count(0)
    snap(page, "3-dashboard-needs-login")

    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url("/dashboard")
    expect(page.get_by_role("status")).to_have_text(f"Signed in as {username}.")
    snap(page, "4-back-on-dashboard")


def test_wrong_password_shows_the_generic_message_with_401_and_focuses_a_field(
    page: Page, snap: Snap
) -> None:
    username, password = unique_username("wrong"), unique_password()
    register(page, username, password)
    log_out(page)

    response = log_in(page, username, password + "-typo")

    assert response.status == 401
    expect(page.get_by_role("alert")).to_have_text(GENERIC_LOGIN_ERROR)
    expect(page.get_by_label("Username", exact=True)).to_have_value(username)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")  # never sent back
    assert focused(page) in {"username", "password"}
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    snap(page, "wrong-password")


def test_log_out_clears_every_cookie_of_the_site(page: Page) -> None:
    register(page, unique_username("bye"), unique_password())
    # Signed in, the sign-in cookie is the only one (the CSRF token derives from it); a cookie
    # the site did not set itself must go too.
    assert {cookie["name"] for cookie in page.context.cookies()} == {"auth"}
    page.context.add_cookies([{"name": "preference", "value": "dark", "url": page.url}])
    assert {cookie["name"] for cookie in page.context.cookies()} == {"auth", "preference"}

    log_out(page)

    # Clear-Site-Data: "cookies" made the browser drop all of them, not just the expired one.
    assert page.context.cookies() == []
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    page.goto(page.url.rstrip("/") + "/dashboard")
    assert page.url.endswith("/login?next=/dashboard")


def test_five_wrong_passwords_then_the_form_asks_to_wait_with_429(page: Page, snap: Snap) -> None:
    username, password = unique_username("throttled"), unique_password()
    register(page, username, password)
    log_out(page)
    for _ in range(5):  # THROTTLE_PAIR_LIMIT's default
        assert log_in(page, username, "wrong " + password).status == 401

    response = log_in(page, username, password)  # even the right password waits now

    assert response.status == 429
    assert int(response.header_value("retry-after") or 0) > 0
    expect(page.get_by_role("alert")).to_contain_text(GENERIC_LOGIN_ERROR)
    expect(page.get_by_role("alert")).to_contain_text("Too many attempts")
    expect(page.get_by_role("navigation").get_by_role("link", name="Dashboard")).to_have_count(0)
    snap(page, "throttled")


def test_unknown_user_gets_the_same_message_as_a_wrong_password(page: Page) -> None:
    response = log_in(page, unique_username("nobody"), unique_password())

    assert response.status == 401
    expect(page.get_by_role("alert")).to_have_text(GENERIC_LOGIN_ERROR)


def test_remember_me_unchecked_gives_a_browser_session_cookie(open_page: OpenPage) -> None:
    page = open_page()
    username, password = unique_username("session"), unique_password()
    register(page, username, password)
    log_out(page)

    log_in(page, username, password, remember=False)

    (cookie,) = [c for c in page.context.cookies() if c["name"] == AUTH_COOKIE]
    assert cookie["expires"] == -1  # no Expires / Max-Age: gone when the browser closes
    page.goto("/dashboard")
    expect(page.get_by_text("Ends when you close the browser")).to_be_visible()


def test_remember_me_checked_gives_a_cookie_lasting_30_days(open_page: OpenPage) -> None:
    page = open_page()
    username, password = unique_username("remember"), unique_password()
    register(page, username, password)
    log_out(page)

    log_in(page, username, password, remember=True)

    (cookie,) = [c for c in page.context.cookies() if c["name"] == AUTH_COOKIE]
    assert abs(cookie["expires"] - (time.time() + REMEMBER_SECONDS)) < 3600
    page.goto("/dashboard")
    expect(page.get_by_text("Remembered on this device until")).to_be_visible()


def test_auth_cookie_is_httponly_and_hidden_from_page_scripts(page: Page) -> None:
    register(page, unique_username("httponly"), unique_password())

    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies[AUTH_COOKIE]["httpOnly"] is True  # the browser holds it...
    assert cookies[AUTH_COOKIE]["sameSite"] == "Lax"
    visible_to_scripts = page.evaluate("() => document.cookie")
    assert f"{AUTH_COOKIE}=" not in visible_to_scripts  # ...but page scripts cannot read it
    assert "flash_csrf=" not in visible_to_scripts

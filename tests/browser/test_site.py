"""The frame of every page in Chromium: the account menu without JavaScript, a header that
stays put from page to page at desk and phone widths, and /login for a signed-in browser."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import OpenPage, register, unique_password

SIGNED_IN_PAGES = (
    "/",
    "/dashboard",
    "/account/sessions",
    "/account/activity",
    "/account/password",
    "/account/email",
    "/account/two-factor",
    "/account/passkeys",
    "/account/delete",
    "/security",
)


SIGNED_OUT_PAGES = (
    ("/", 200),
    ("/login", 200),
    ("/register", 200),
    ("/forgot-password", 200),
    ("/security", 200),
    ("/no-such-page", 404),
)


def signed_in(page: Page) -> str:
    username = "u" + secrets.token_hex(6)
    assert register(page, username, unique_password()).ok
    expect(page.get_by_role("navigation").get_by_role("button", name="Log out")).to_be_visible()
    return username


@pytest.mark.parametrize("width", [390, 1280])
def test_the_account_menu_works_without_javascript(open_page: OpenPage, width: int) -> None:
    page = open_page(width=width, javascript=False)
    signed_in(page)
    page.goto("/dashboard")
    menu = page.get_by_role("list", name="Account pages")
    expect(menu).to_be_hidden()
    page.get_by_text("Account", exact=True).click()
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    with page.expect_navigation():
        menu.get_by_role("link", name="Security activity").click()
    assert page.url.endswith("/account/activity")
    expect(page.get_by_role("heading", level=1)).to_contain_text("activity")
    # Log out is one click from the page, outside the menu.
    expect(page.get_by_role("navigation").get_by_role("button", name="Log out")).to_be_visible()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_header_does_not_move_between_pages(open_page: OpenPage, width: int) -> None:
    """Signed out (error pages too), then signed in: the brand and the content column stand
    in the same place on every page."""
    page = open_page(width=width)
    places: dict[str, tuple[float, float, float]] = {}

    def place_of(path: str, status: int) -> tuple[float, float, float]:
        assert (response := page.goto(path)) is not None and response.status == status, path
        brand = page.locator(".brand").bounding_box()
        content = page.locator("#content").bounding_box()
        assert brand is not None and content is not None
        return round(brand["x"]), round(content["x"]), round(content["width"])

    for path, status in SIGNED_OUT_PAGES:
        places[f"signed out {path}"] = place_of(path, status)
    signed_in(page)
    for path in SIGNED_IN_PAGES:
        places[path] = place_of(path, 200)
        logout = page.get_by_role("navigation").get_by_role("button", name="Log out")
        expect(logout).to_be_visible()
    assert len(set(places.values())) == 1, places


def test_a_signed_in_browser_opening_login_is_told_who_it_is(page: Page) -> None:
    username = signed_in(page)
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are already signed in")
    expect(page.locator("#content")).to_contain_text(f"signed in as {username}")
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)
    with page.expect_navigation():
        page.locator("#content").get_by_role("button", name="Log out").click()
    page.goto("/login")
    expect(page.get_by_label("Password", exact=True)).to_be_visible()


def test_every_password_field_has_a_show_password_button(page: Page) -> None:
    page.goto("/login")
    field = page.get_by_label("Password", exact=True)
    toggle = page.get_by_role("button", name="Show password")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    field.fill("a secret phrase")
    expect(field).to_have_attribute("type", "password")
    toggle.click()
    expect(field).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(toggle).to_have_text("Hide")
    expect(field).to_be_focused()  # back to typing
    toggle.click()
    expect(field).to_have_attribute("type", "password")
    page.goto("/register")
    expect(page.get_by_role("button", name="Show password")).to_have_count(1)


def test_a_shown_password_is_sent_and_hidden_again(page: Page) -> None:
    username, password = "u" + secrets.token_hex(6), unique_password()
    register(page, username, password)
    page.get_by_role("navigation").get_by_role("button", name="Log out").click()
    page.goto("/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Show password").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("navigation").get_by_role("button", name="Log out")).to_be_visible()


def test_without_javascript_the_fields_are_plain_password_fields(open_page: OpenPage) -> None:
    page = open_page(javascript=False)
    page.goto("/login")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Show password")).to_have_count(0)


def test_forms_that_ask_only_for_a_password_name_the_account(page: Page) -> None:
    """For password managers (Chromium warns about a password form without a username)."""
    username = signed_in(page)
    for path in (
        "/account/password",
        "/account/delete",
        "/account/email",
        "/account/two-factor/totp",
    ):
        page.goto(path)
        hidden = page.locator('form input[autocomplete="username"]')
        expect(hidden.first).to_have_value(username)
        expect(hidden.first).to_be_hidden()

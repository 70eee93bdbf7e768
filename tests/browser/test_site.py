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
    page = open_page(width=width)
    signed_in(page)
    places: dict[str, tuple[float, float, float]] = {}
    for path in SIGNED_IN_PAGES:
        assert (response := page.goto(path)) is not None and response.status == 200, path
        brand = page.locator(".brand").bounding_box()
        logout = page.get_by_role("navigation").get_by_role("button", name="Log out")
        expect(logout).to_be_visible()
        content = page.locator("#content").bounding_box()
        assert brand is not None and content is not None
        places[path] = (round(brand["x"]), round(content["x"]), round(content["width"]))
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

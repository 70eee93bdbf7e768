"""The forms work with the keyboard alone: focus order, Enter, labels, and focus after errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    ColorScheme,
    OpenPage,
    focus_ring_problems,
    focused,
    log_out,
    register,
    unique_password,
    unique_username,
)

UNLABELLED_FIELDS = """() => [
    ...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((field) => !field.id || !document.querySelector(`label[for="${CSS.escape(field.id)}"]`))
  .map((field) => field.outerHTML)"""


def tab_through(page: Page, presses: int) -> list[str]:
    """Where focus is now, then after each of ``presses`` Tab presses."""
    order = [focused(page)]
    for _ in range(presses):
        page.keyboard.press("Tab")
        order.append(focused(page))
    return order


def test_login_tab_order_is_username_password_show_remember_submit(page: Page) -> None:
    page.goto("/login")
    expect(page.get_by_label("Username", exact=True)).to_be_focused()  # autofocus

    assert tab_through(page, 4) == [
        "username",
        "password",
        "button:Show",  # the show-password toggle (static/password-toggle.js)
        "remember",
        "button:Log in",
    ]


def test_register_tab_order_is_username_email_password_show_submit(page: Page) -> None:
    page.goto("/register")
    expect(page.get_by_label("Username", exact=True)).to_be_focused()

    assert tab_through(page, 4) == [
        "username",
        "email",
        "password",
        "button:Show",
        "button:Create account",
    ]


@pytest.mark.parametrize("path", ["/login", "/register", "/logout"])
def test_every_field_has_a_label_tied_to_it_by_id(page: Page, path: str) -> None:
    page.goto(path)

    assert page.evaluate(UNLABELLED_FIELDS) == []


def test_a_field_without_a_label_would_be_reported(page: Page) -> None:
    """The check above can fail: an input with no label[for] is caught."""
    page.goto("/login")
    page.evaluate("() => document.querySelector('label[for=password]').removeAttribute('for')")

    assert len(page.evaluate(UNLABELLED_FIELDS)) == 1


def test_log_in_with_the_keyboard_alone_enter_submits(page: Page) -> None:
    username, password = unique_username("keys"), unique_password()
    register(page, username, password)
    log_out(page)
    page.goto("/login")
    expect(page.get_by_label("Username", exact=True)).to_be_focused()

    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Tab")  # the show-password button
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.get_by_label("Remember me", exact=False)).to_be_checked()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")  # past the show-password button, back to the password
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page).to_have_url("/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {username}")
    (remembered,) = [c for c in page.context.cookies() if c["name"] == "auth"]
    assert remembered["expires"] > 0  # Space ticked "remember me": a persistent cookie


def test_register_errors_move_focus_to_the_first_invalid_field(page: Page) -> None:
    page.goto("/register")
    expect(page.get_by_label("Username", exact=True)).to_be_focused()

    with page.expect_navigation() as empty_form:
        page.keyboard.press("Enter")

    assert empty_form.value is not None and empty_form.value.status == 400
    username = page.get_by_label("Username", exact=True)
    expect(username).to_be_focused()
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_have_accessible_description(
        re.compile(r"^3 to 32 letters .* underscores\. Error: Enter a username\.$")
    )

    page.keyboard.type(unique_username("focus"))
    page.keyboard.press("Tab")  # the optional address, left empty
    page.keyboard.press("Tab")
    page.keyboard.type("too short")
    with page.expect_navigation() as short_password:
        page.keyboard.press("Enter")

    assert short_password.value is not None and short_password.value.status == 400
    password = page.get_by_label("Password", exact=True)
    expect(password).to_be_focused()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Username", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-errors")).to_have_text("Error: Use at least 12 characters.")


def test_skip_link_shows_on_first_tab_and_jumps_to_the_content(page: Page) -> None:
    page.goto("/")
    skip = page.get_by_role("link", name="Skip to main content")
    assert not skip.is_visible() or (skip.bounding_box() or {"y": -1})["y"] < 0  # off-screen

    page.keyboard.press("Tab")

    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0
    page.keyboard.press("Enter")
    expect(page).to_have_url("/#content")


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_focus_is_visible_on_everything_tab_reaches(
    open_page: OpenPage, color_scheme: ColorScheme
) -> None:
    page = open_page(color_scheme=color_scheme)
    page.goto("/login")
    expect(page.get_by_label("Username", exact=True)).to_be_focused()
    problems: dict[str, list[str]] = {"username": focus_ring_problems(page)}
    seen = ["username"]

    for _ in range(30):  # round the whole page, past its end and back to the top
        page.keyboard.press("Tab")
        where = focused(page)
        if where == seen[0]:
            break
        if where != "body":  # between the last element and the first, nothing has focus
            seen.append(where)
            problems[where] = focus_ring_problems(page)

    assert seen[:5] == ["username", "password", "button:Show", "remember", "button:Log in"]
    assert "a:Skip to main content" in seen and "a:Register" in seen
    assert {where: found for where, found in problems.items() if found} == {}

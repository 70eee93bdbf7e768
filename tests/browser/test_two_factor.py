"""Two-factor sign-in in a real browser: enrolling an authenticator app from its QR page, the
code step after the password (wrong code, right code, a recovery code once), turning it off,
and the two pages on a phone and with the keyboard alone.

The codes come from pyotp, as an app would make them. The server takes each 30-second step's
code once (and one step either side of now), so ``Authenticator`` hands out the code of a step
later than the last one it gave: no test waits for the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import (
    OpenPage,
    log_in,
    log_out,
    register,
    submit,
    unique_password,
    unique_username,
)
from tests.support.browser_two_factor import enrol, enrolled_user, password_step

Snap = Callable[[Page, str], Path]
NOT_CURRENT = "That is not your current password."
PHONE = {"width": 390, "height": 844}
NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def enter_code(page: Page, code: str) -> int:
    page.get_by_label("Code", exact=True).fill(code)
    return submit(page, "Verify").status


def expect_signed_in_as(page: Page, username: str) -> None:
    expect(page.get_by_role("navigation").get_by_role("button", name="Log out")).to_be_visible()
    page.goto("/dashboard")
    expect(page).to_have_url("/dashboard")
    facts = page.locator("dl.facts")
    expect(facts.locator("dt", has_text="Username").locator("+ dd")).to_have_text(username)


def test_enrol_then_sign_in_needs_a_code(page: Page, snap: Snap) -> None:
    user = enrolled_user(page, "enroller")
    snap(page, "recovery-codes")

    page.goto("/account/two-factor")
    expect(page.locator("dl.facts")).to_contain_text("On since")
    expect(page.locator("dl.facts")).to_contain_text("10 of 10")
    log_out(page)

    password_step(page, user)
    page.goto("/dashboard")  # the password alone made no session
    expect(page).to_have_url("/login?next=/dashboard")
    page.goto("/login/two-factor")  # the pending sign-in is still there

    assert enter_code(page, user.app.wrong_code()) == 401
    expect(page).to_have_url("/login/two-factor")
    errors = page.locator("#code-errors")
    expect(errors).to_contain_text("That code is not right. 4 attempts left.")
    code_field = page.get_by_label("Code", exact=True)
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(code_field).to_have_attribute("aria-describedby", re.compile(r"\bcode-errors\b"))
    expect(code_field).to_be_focused()
    snap(page, "wrong-code")
    # The code that turned two-factor on was right, but it has been used: a replay is refused.
    assert enter_code(page, user.app.last_code) == 401
    expect(errors).to_contain_text("That code is not right. 3 attempts left.")

    assert enter_code(page, user.app.code()) == 200
    expect(page.get_by_role("status")).to_contain_text(f"Signed in as {user.username}.")
    expect_signed_in_as(page, user.username)


def test_a_recovery_code_signs_in_once(page: Page, snap: Snap) -> None:
    user = enrolled_user(page, "recoverer")
    log_out(page)

    password_step(page, user)
    saved = user.recovery_codes[3]
    typed = saved.lower().replace("-", " ")  # as read aloud off paper: any case, spaces
    assert enter_code(page, typed) == 200
    status = page.get_by_role("status")
    expect(status).to_contain_text(f"Signed in as {user.username}.")
    expect(status).to_contain_text("You used a recovery code: it will not work again")
    snap(page, "recovery-code-used")
    expect_signed_in_as(page, user.username)
    page.goto("/account/two-factor")
    expect(page.locator("dl.facts")).to_contain_text("9 of 10")

    log_out(page)
    password_step(page, user)
    assert enter_code(page, saved) == 401
    expect(page).to_have_url("/login/two-factor")
    expect(page.locator("#code-errors")).to_contain_text("That code is not right.")
    page.goto("/dashboard")
    expect(page).to_have_url("/login?next=/dashboard")


def test_turning_it_off_needs_the_password_then_the_password_alone_signs_in(
    page: Page, snap: Snap
) -> None:
    user = enrolled_user(page, "disabler")
    page.goto("/account/two-factor")
    disable_password = page.locator("#disable-current-password")

    disable_password.fill("not the password")
    assert submit(page, "Turn two-factor off").status == 400
    expect(page.get_by_text(NOT_CURRENT)).to_be_visible()
    expect(page.locator("#disable-current-password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#disable-current-password")).to_be_focused()
    # The error is the disable form's, not the other form's.
    expect(page.locator("#recovery_codes-current-password")).not_to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("dl.facts")).to_contain_text("On since")
    snap(page, "wrong-password")

    page.locator("#disable-current-password").fill(user.password)
    assert submit(page, "Turn two-factor off").status == 200
    expect(page).to_have_url("/account/two-factor")
    expect(page.get_by_role("status")).to_contain_text("Two-factor sign-in is off.")
    expect(page.locator("dl.facts")).to_contain_text("Off: your password alone signs in")
    expect(page.get_by_role("link", name="Set up an authenticator app")).to_be_visible()
    log_out(page)

    assert log_in(page, user.username, user.password).status == 200
    expect(page).not_to_have_url(re.compile("/login"))
    expect(page.get_by_role("status")).to_contain_text(f"Signed in as {user.username}.")
    expect_signed_in_as(page, user.username)


def test_enrolment_and_code_step_fit_a_phone(open_page: OpenPage, snap: Snap) -> None:
    page = open_page(**PHONE)
    username, password = unique_username("phone"), unique_password()
    assert register(page, username, password).status == 200

    page.goto("/account/two-factor/totp")
    qr = page.locator("figure.qr svg")
    expect(qr).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "the enrolment page scrolls sideways"
    box = qr.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert box["width"] >= 120, f"the QR code is too small to scan: {box}"
    page.get_by_text("Setup link").click()  # the long otpauth URI, opened, wraps too
    expect(page.locator("details p.secret code")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "the opened setup link scrolls sideways"
    snap(page, "enrolment")

    user = enrol(page, username, password)
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "the recovery codes scroll sideways"
    log_out(page)
    password_step(page, user)
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "the code step scrolls sideways"
    enter_code(page, user.app.wrong_code())
    assert page.evaluate(NO_HORIZONTAL_SCROLL), "the code step with its error scrolls sideways"
    snap(page, "code-step")


def test_the_code_step_works_with_the_keyboard_alone(page: Page) -> None:
    user = enrolled_user(page, "typist")
    log_out(page)

    password_step(page, user)
    expect(page.get_by_label("Code", exact=True)).to_be_focused()  # autofocus
    page.keyboard.type(user.app.code())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(f"Signed in as {user.username}.")
    expect_signed_in_as(page, user.username)

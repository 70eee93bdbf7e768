"""Two-factor sign-in in a real browser: enrolling an authenticator app from its QR page, the
code step after the password (wrong code, right code, a recovery code once), turning it off,
and the two pages on a phone and with the keyboard alone.

The codes come from pyotp, as an app would make them. The server takes each 30-second step's
code once (and one step either side of now), so ``Authenticator`` hands out the code of a step
later than the last one it gave: no test waits for the clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from tests.support.browser import (
    OpenPage,
    csp_violations,
    log_in,
    log_out,
    register,
    submit,
    unique_password,
    unique_username,
)

Snap = Callable[[Page, str], Path]
STEP_SECONDS = 30
RECOVERY_CODE = re.compile(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){5}")
NOT_CURRENT = "That is not your current password."
PHONE = {"width": 390, "height": 844}
NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


class Authenticator:
    """An authenticator app holding one secret; every code it gives is for a later time step
    than the one before (the server's replay guard refuses a step twice)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step = -1
        self.last_code = ""

    def _now_step(self) -> int:
        return int(time.time()) // STEP_SECONDS

    def code(self) -> str:
        """The current step's code, or the next step's if this step's was given already."""
        step = max(self._now_step(), self.last_step + 1)
        self.last_step, self.last_code = step, self.totp.generate_otp(step)
        return self.last_code

    def wrong_code(self) -> str:
        """ "000000", unless (one time in a few hundred thousand) it is a code the server would
        take now; then another code that is not."""
        now = self._now_step()
        live = {self.totp.generate_otp(step) for step in range(now - 1, now + 3)}
        return next(code for code in ("000000", "111111", "222222") if code not in live)


@dataclass(frozen=True)
class Enrolled:
    username: str
    password: str
    app: Authenticator
    recovery_codes: list[str]


def enrol(page: Page, username: str, password: str) -> Enrolled:
    """From the dashboard to the enrolment page, the secret read off it into an app, the first
    code and the password sent: the recovery codes page, whose 10 codes are returned."""
    page.goto("/dashboard")
    page.get_by_role("link", name="Two-factor sign-in", exact=True).click()
    expect(page).to_have_url("/account/two-factor")
    page.get_by_role("link", name="Set up an authenticator app").click()
    expect(page).to_have_url("/account/two-factor/totp")

    expect(page.locator("figure.qr svg")).to_be_visible()
    assert csp_violations(page) == []  # the inline SVG needs nothing the CSP blocks
    shown = page.locator("p.secret code").first
    expect(shown).to_be_visible()
    expect(shown).to_have_text(re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4})+$"))
    secret = shown.inner_text().replace(" ", "")
    uri = page.locator("details p.secret code").text_content() or ""
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri, uri

    app = Authenticator(secret)
    page.get_by_label("Code from the app").fill(app.code())
    page.get_by_label("Current password").fill(password)
    assert submit(page, "Turn two-factor on").status == 200
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text("Two-factor sign-in is on.")
    listed = page.locator("ol.recovery-codes li code")
    expect(listed).to_have_count(10)
    codes = listed.all_inner_texts()
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes), codes
    assert len(set(codes)) == 10, codes
    return Enrolled(username, password, app, codes)


def enrolled_user(page: Page, prefix: str) -> Enrolled:
    """A fresh account, registered (so signed in) and enrolled."""
    username, password = unique_username(prefix), unique_password()
    assert register(page, username, password).status == 200
    return enrol(page, username, password)


def password_step(page: Page, user: Enrolled) -> None:
    """Log in with the password: the browser is sent on to the code step."""
    assert log_in(page, user.username, user.password).status == 200
    expect(page).to_have_url("/login/two-factor")
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()


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

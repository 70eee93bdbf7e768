"""Two-factor helpers for browser tests: an authenticator app (pyotp) that never repeats a time
step, enrolment through the account pages, and the password step of a sign-in."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pyotp
from playwright.sync_api import Page, expect

from tests.support.browser import (
    csp_violations,
    log_in,
    register,
    submit,
    unique_password,
    unique_username,
)

STEP_SECONDS = 30
RECOVERY_CODE = re.compile(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){5}")


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

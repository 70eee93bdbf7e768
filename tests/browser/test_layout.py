"""Every page at desk and phone widths, light and dark: no sideways scroll, AA contrast, no CSP
violations from the app's own markup. Screenshots of each land in artifacts/screens/.

With UPDATE_DOCS_SCREENSHOTS=1 the three screenshots the README shows are rewritten in docs/.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    ColorScheme,
    OpenPage,
    contrast_problems,
    csp_violations,
    has_horizontal_scroll,
    log_in,
    log_out,
    register,
    screenshot,
    submit,
    unique_password,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOCS_MAX_BYTES = 150_000
UPDATE_DOCS = os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1"
PHONE, DESK = 360, 1280


def layout_problems(page: Page) -> list[str]:
    problems = contrast_problems(page) + csp_violations(page)
    if has_horizontal_scroll(page):
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        problems.append(f"scrolls sideways: content {widths[0]} px wide in {widths[1]} px")
    return problems


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [PHONE, DESK])
def test_every_page_fits_the_screen_with_readable_contrast(
    open_page: OpenPage, artifacts_dir: Path, width: int, color_scheme: ColorScheme
) -> None:
    page = open_page(width=width, height=740 if width == PHONE else 800, color_scheme=color_scheme)
    screens = artifacts_dir / "screens"
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        screenshot(page, screens / f"{width}-{color_scheme}-{name}.png")
        found = layout_problems(page)
        if found:
            problems[name] = found

    # The longest username there is, with nowhere to break a line.
    username, password = secrets.token_hex(16), unique_password()
    page.goto("/")
    check("home")
    page.goto("/register")
    page.get_by_label("Password", exact=True).fill("too short")
    assert submit(page, "Create account").status == 400
    check("register-errors")
    assert log_in(page, "x" * 120 + secrets.token_hex(4), password).status == 401  # longest
    check("login-error")
    register(page, username, password)
    check("home-signed-in")
    page.goto("/dashboard")
    check("dashboard")
    for account_page in ("sessions", "activity", "delete"):
        page.goto(f"/account/{account_page}")
        check(f"account-{account_page}")
    page.goto("/account/password")
    assert submit(page, "Change password").status == 400
    check("account-password-errors")
    page.goto("/login")
    check("login-signed-in")
    page.goto("/dashboard")
    page.get_by_text("Account", exact=True).click()  # the account menu, open
    check("account-menu")
    page.goto("/logout")
    check("logout")
    log_out(page)
    page.goto("/security")
    check("security")
    assert (response := page.goto("/no-such-page")) is not None and response.status == 404
    check("not-found")
    page.goto("/login")
    page.get_by_label("Username", exact=True).evaluate(
        "(field) => { field.value = 'x'.repeat(70000); }"
    )
    page.get_by_label("Password", exact=True).fill(password)
    assert submit(page, "Log in").status == 413  # over MAX_CONTENT_LENGTH (64 KiB)
    check("too-large")
    page.goto("/login")
    page.context.clear_cookies()  # as if the form had sat open until the session expired
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    assert submit(page, "Log in").status == 400
    check("form-expired")

    assert problems == {}


def test_layout_check_catches_sideways_scroll_and_poor_contrast(page: Page) -> None:
    """The checks above can fail: a too-wide block and grey-on-white text are both reported."""
    page.goto("/")
    page.evaluate(
        """() => {
          const wide = document.createElement("p");
          wide.textContent = "x".repeat(400);
          wide.setAttribute("id", "too-wide");
          document.querySelector("main").append(wide);
          const faint = document.createElement("p");
          faint.id = "faint";
          faint.textContent = "faint";
          faint.style.color = "#aaaaaa";  // CSSOM: the CSP blocks style attributes, not this
          document.querySelector(".card").append(faint);
        }"""
    )

    problems = layout_problems(page)

    assert any(problem.startswith("scrolls sideways") for problem in problems)
    assert any(problem.startswith("p#faint text") for problem in problems)


def test_docs_screenshots_can_be_regenerated(open_page: OpenPage, artifacts_dir: Path) -> None:
    """The README's three pictures; copied into docs/ with UPDATE_DOCS_SCREENSHOTS=1."""
    page = open_page(width=DESK, height=400)  # full-page shots: as tall as the content
    username, password = "alice", unique_password()  # nothing else registers "alice"
    register(page, username, password)
    home = artifacts_dir / "home-signed-in.png"
    screenshot(page, home)
    assert log_in(open_page(), username, password).status == 200  # a second browser
    page.goto("/account/sessions")
    expect(page.locator("li.session")).to_have_count(2)
    sessions = artifacts_dir / "sessions.png"
    screenshot(page, sessions)
    page.get_by_role("navigation").get_by_role("button", name="Log out").click()
    assert log_in(page, username, "not my password").status == 401
    login = artifacts_dir / "login-error.png"
    screenshot(page, login)

    for shot in (home, sessions, login):
        assert shot.stat().st_size < DOCS_MAX_BYTES, shot
        if UPDATE_DOCS:
            DOCS.mkdir(exist_ok=True)
            (DOCS / shot.name).write_bytes(shot.read_bytes())

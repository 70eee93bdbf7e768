"""The account pages in a real browser: password change ends the other browser's session,
sessions and activity are listed, and deleting the account signs out for good."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import (
    OpenPage,
    log_in,
    register,
    submit,
    unique_password,
    unique_username,
)

Snap = Callable[[Page, str], Path]
NEW_PASSWORD = "an entirely new pass phrase"


def test_change_password_signs_out_the_other_browser(open_page: OpenPage, snap: Snap) -> None:
    username, password = unique_username("changer"), unique_password()
    here, elsewhere = open_page(), open_page()
    register(here, username, password)
    assert log_in(elsewhere, username, password).status == 200
    expect(elsewhere).to_have_url("/")

    here.goto("/dashboard")
    here.get_by_role("link", name="Change password").click()
    here.get_by_label("Current password").fill("not the password")
    here.get_by_label("New password").fill(NEW_PASSWORD)
    assert submit(here, "Change password").status == 400
    expect(here.get_by_text("That is not your current password.")).to_be_visible()

    here.get_by_label("Current password").fill(password)
    here.get_by_label("New password").fill(NEW_PASSWORD)
    assert submit(here, "Change password").status == 200
    expect(here.get_by_role("status")).to_contain_text("1 other session signed out")
    snap(here, "password-changed")

    elsewhere.goto("/dashboard")
    expect(elsewhere).to_have_url("/login?next=/dashboard")  # its session was ended
    here.goto("/dashboard")
    expect(here).to_have_url("/dashboard")  # this one continues, under a fresh id


def test_sessions_and_activity_pages(open_page: OpenPage, snap: Snap) -> None:
    username, password = unique_username("lister"), unique_password()
    here, elsewhere = open_page(), open_page()
    register(here, username, password)
    log_in(elsewhere, username, "wrong " + password)
    log_in(elsewhere, username, password)

    here.goto("/account/sessions")
    sessions = here.locator("li.session")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("This session")
    expect(sessions.first).to_contain_text("127.0.0.1 · active now")
    # Chromium by name, not its user-agent string; the exact time on hover.
    expect(sessions.nth(1)).to_contain_text(
        re.compile(r"Chrome on Linux\s+127\.0\.0\.1 · last seen just now")
    )
    expect(sessions.nth(1).locator("time").first).to_have_attribute(
        "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )
    sessions.nth(1).get_by_role("button", name="End this session").click()
    expect(here.locator("li.session")).to_have_count(1)
    snap(here, "sessions")
    elsewhere.goto("/dashboard")
    expect(elsewhere).to_have_url("/login?next=/dashboard")

    here.goto("/account/activity")
    for what in ("Account created", "Failed sign-in", "Signed in", "Session ended"):
        expect(here.get_by_text(what, exact=False).first).to_be_visible()
    newest = here.locator("table.events tbody tr").first
    expect(newest).to_contain_text("just now")
    expect(newest).to_contain_text(re.compile(r"Chrome on Linux"))
    snap(here, "activity")


def test_delete_account_signs_out_and_frees_the_name(page: Page) -> None:
    username, password = unique_username("leaver"), unique_password()
    register(page, username, password)
    page.goto("/account/delete")
    page.get_by_label("Current password").fill(password)
    assert submit(page, "Delete my account").status == 200
    # Clear-Site-Data dropped every cookie, flash included: the reason comes in the URL.
    expect(page).to_have_url("/?signed_out=account-deleted")
    expect(page.get_by_role("status")).to_contain_text(
        "Your account and everything stored about it were deleted."
    )
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    assert log_in(page, username, password).status == 401
    assert register(page, username, unique_password()).status == 200  # the name is free again

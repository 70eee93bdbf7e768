"""Passkeys in a real browser: Chromium's virtual authenticator (CDP's WebAuthn domain) stands
in for a phone or a laptop's screen lock. A passkey is added from the account's page, signs in
with neither username nor password, is refused once removed, and serves as the second factor
after the password; without WebAuthn its buttons stay hidden and the password forms work.

WebAuthn takes the relying party id from the page's host name, which must be a domain (never
an IP address), and the app takes it from PUBLIC_URL: this module runs a server of its own with
PUBLIC_URL=http://localhost:<port>, and every page here is opened at that origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, CDPSession, Page, expect

from quart_app.testing.server import (
    hypercorn_command,
    spawn_server,
    stop_server,
    wait_until_healthy,
)
from tests.support.browser import (
    GENERIC_LOGIN_ERROR,
    OpenPage,
    csp_violations,
    log_in,
    log_out,
    register,
    unique_password,
    unique_username,
)
from tests.support.browser_two_factor import enrol, password_step
from tests.support.servers import (
    HYPERCORN_TOML,
    PROJECT_ROOT,
    TEST_SECRET_KEY,
    LiveServer,
    free_port,
    server_environment,
)
from tests.support.services import server_backing_services

Snap = Callable[[Page, str], Path]
LAPTOP = "Test laptop"
LAST_USED = re.compile(r"last used just now")  # its exact time is in the title


@contextmanager
def localhost_server(instance_path: Path) -> Iterator[LiveServer]:
    """``running_server`` (hypercorn.toml, two workers, access log, this run's database and
    Redis), on a port chosen first so PUBLIC_URL can name it: http://localhost:<port>."""
    port = free_port()
    public_url = f"http://localhost:{port}"
    overrides = {"PUBLIC_URL": public_url}
    with server_backing_services(overrides) as services:
        env = server_environment(
            instance_path, secret_key=TEST_SECRET_KEY, extra=services | overrides
        )
        log_path = instance_path.parent / f"{instance_path.name}-server.log"
        command = hypercorn_command(port=port, config=HYPERCORN_TOML, access_log=True)
        with log_path.open("wb") as log_file:
            process = spawn_server(command, cwd=PROJECT_ROOT, env=env, log_file=log_file)
        try:
            wait_until_healthy(process, f"http://127.0.0.1:{port}", log_path)
            yield LiveServer(public_url, port, process, dict(env), log_path)
        finally:
            stop_server(process)


@pytest.fixture(scope="module")
def live_server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server, answering at http://localhost:<port> (its PUBLIC_URL): the
    browser tests' shared one is opened at 127.0.0.1, an address WebAuthn refuses as RP id.
    ``open_page`` and ``page`` open their contexts at this ``base_url``."""
    with localhost_server(tmp_path_factory.mktemp("passkeys-instance")) as server:
        yield server


@dataclass
class Authenticator:
    """A virtual platform authenticator (resident keys, user verification that succeeds,
    presence given without a touch) attached to one page through CDP."""

    cdp: CDPSession
    id: str

    def credentials(self) -> list[dict[str, Any]]:
        answer = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(answer["credentials"])


def authenticator_for(page: Page) -> Authenticator:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return Authenticator(cdp, added["authenticatorId"])


@pytest.fixture
def console(page: Page) -> list[str]:
    """What ``page``'s console said (errors of the script included), for failure messages."""
    lines: list[str] = []
    page.on("console", lambda message: lines.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: lines.append(f"pageerror: {error}"))
    return lines


def registered(page: Page, prefix: str) -> tuple[str, str]:
    """A fresh account, registered (so signed in, a moment ago)."""
    username, password = unique_username(prefix), unique_password()
    assert register(page, username, password).status == 200
    return username, password


def add_passkey(page: Page, name: str, console: list[str] | None = None) -> None:
    """From the dashboard's "Passkeys" link: name it and add it; back on the list, flashed."""
    page.goto("/dashboard")
    page.get_by_role("link", name="Passkeys", exact=True).click()
    expect(page).to_have_url("/account/passkeys")
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()
    # A sign-in this recent needs no password to add one.
    expect(page.get_by_label("Current password")).to_have_count(0)
    page.get_by_label("Name (to tell your passkeys apart)").fill(name)
    page.get_by_role("button", name="Add a passkey", exact=True).click()
    flashes = page.locator(".flashes")
    expect(flashes, f"console: {console}").to_contain_text(f"Passkey “{name}” added.")
    expect(page).to_have_url("/account/passkeys")
    expect(page.locator("h2.passkey-name")).to_have_text([name])
    expect(page.locator(".passkey-list")).to_contain_text("never used")


def sign_in_with_passkey(page: Page) -> None:
    """Press the login page's passkey button, typing nothing."""
    page.goto("/login")
    expect(page.get_by_label("Username", exact=True)).to_have_value("")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    button = page.get_by_role("button", name="Sign in with a passkey", exact=True)
    expect(button).to_be_visible()
    button.click()


def expect_signed_in_as(page: Page, username: str, console: list[str] | None = None) -> None:
    expect(page, f"console: {console}").to_have_url("/")
    expect(page.get_by_role("status")).to_contain_text(f"Signed in as {username}.")
    expect(page.get_by_role("navigation").get_by_role("button", name="Log out")).to_be_visible()
    page.goto("/dashboard")
    expect(page).to_have_url("/dashboard")
    facts = page.locator("dl.facts")
    expect(facts.locator("dt", has_text="Username").locator("+ dd")).to_have_text(username)


def signed_in_with_a_passkey(page: Page, console: list[str], prefix: str) -> Authenticator:
    """A fresh account with the passkey LAPTOP on ``page``'s authenticator, signed out and
    signed in again with it alone; the authenticator."""
    username, _ = registered(page, prefix)
    authenticator = authenticator_for(page)
    add_passkey(page, LAPTOP, console)
    log_out(page)
    sign_in_with_passkey(page)
    expect_signed_in_as(page, username, console)
    return authenticator


def test_a_passkey_is_added_then_signs_in_without_username_or_password(
    page: Page, console: list[str], snap: Snap
) -> None:
    username, _ = registered(page, "passkeyer")
    authenticator = authenticator_for(page)
    add_passkey(page, LAPTOP, console)
    snap(page, "added")

    stored = authenticator.credentials()
    assert len(stored) == 1, stored
    assert stored[0]["isResidentCredential"] is True, stored
    assert stored[0]["rpId"] == "localhost", stored

    log_out(page)
    sign_in_with_passkey(page)
    expect_signed_in_as(page, username, console)

    page.goto("/account/passkeys")
    listed = page.locator(".passkey-list li")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text(LAPTOP)
    expect(listed).to_contain_text(LAST_USED)
    expect(listed).not_to_contain_text("never used")
    assert len(authenticator.credentials()) == 1  # signing in made no new credential
    snap(page, "last-used")


def test_a_removed_passkey_no_longer_signs_in(page: Page, console: list[str], snap: Snap) -> None:
    authenticator = signed_in_with_a_passkey(page, console, "remover")
    page.goto("/account/passkeys")
    # Signed in a moment ago: removing needs no password either.
    expect(page.get_by_label("Current password")).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("button", name=f"Remove “{LAPTOP}”", exact=True).click()
    expect(page).to_have_url("/account/passkeys")
    expect(page.locator(".flashes")).to_contain_text(f"Passkey “{LAPTOP}” removed.")
    expect(page.locator("h2.passkey-name")).to_have_count(0)
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()
    log_out(page)

    assert len(authenticator.credentials()) == 1  # the authenticator keeps what the site forgot
    sign_in_with_passkey(page)
    alert = page.locator(".passkey-action .form-error[role=alert]")
    expect(alert, f"console: {console}").to_be_visible()
    expect(alert).to_contain_text("not registered")
    expect(page).to_have_url("/login")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_enabled()
    snap(page, "refused")

    page.goto("/dashboard")
    expect(page).to_have_url("/login?next=/dashboard")


def test_a_passkey_serves_as_the_second_factor(page: Page, console: list[str], snap: Snap) -> None:
    username, password = registered(page, "twofactorpasskey")
    user = enrol(page, username, password)
    authenticator_for(page)
    add_passkey(page, LAPTOP, console)
    log_out(page)

    password_step(page, user)
    button = page.get_by_role("button", name="Use a passkey", exact=True)
    expect(button).to_be_visible()
    snap(page, "two-factor-step")
    page.goto("/dashboard")  # the password alone made no session
    expect(page).to_have_url("/login?next=/dashboard")

    # The password step again, with no next: the passkey lands on the home page.
    password_step(page, user)
    button.click()
    expect_signed_in_as(page, username, console)
    page.goto("/account/passkeys")
    expect(page.locator(".passkey-list li")).to_contain_text(LAST_USED)


def test_pages_break_no_csp_rule_and_without_webauthn_the_buttons_stay_hidden(
    page: Page, open_page: OpenPage, console: list[str]
) -> None:
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    assert csp_violations(page) == [], console
    registered(page, "csp")
    page.goto("/account/passkeys")
    expect(page.get_by_role("button", name="Add a passkey")).to_be_visible()
    assert csp_violations(page) == [], console

    plain = open_page()  # a browser without WebAuthn
    plain.context.add_init_script("delete window.PublicKeyCredential")
    plain.goto("/login")
    assert plain.evaluate("() => 'PublicKeyCredential' in window") is False
    expect(plain.get_by_role("button", name="Log in")).to_be_visible()
    expect(plain.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    assert csp_violations(plain) == []

    username, password = registered(plain, "nowebauthn")
    plain.goto("/account/passkeys")
    expect(plain.get_by_role("heading", name="Add a passkey")).to_be_visible()
    expect(plain.get_by_role("button", name="Add a passkey")).to_be_hidden()
    log_out(plain)

    assert log_in(plain, username, "not the password").status == 401
    expect(plain.get_by_text(GENERIC_LOGIN_ERROR)).to_be_visible()
    expect(plain.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    assert log_in(plain, username, password).status == 200
    expect_signed_in_as(plain, username)

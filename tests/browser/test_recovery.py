"""Recovery by mail in a real browser: an address confirmed with its mailed link, and a password
reset by mailed link that ends every session and dies after one use.

The live server's sender delivers over real SMTP to an aiosmtpd server in a thread of this
process (the tests are sync, so the kit's in-loop ``mail_outbox`` cannot serve them), and its
links are built from a PUBLIC_URL that is not the live server's host.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    GENERIC_LOGIN_ERROR,
    OpenPage,
    log_in,
    log_out,
    submit,
    unique_password,
    unique_username,
)
from tests.support.servers import TEST_SECRET_KEY, LiveServer, free_port, running_server

Snap = Callable[[Page, str], Path]
# Not the live server's 127.0.0.1:<port>: a link that works only after swapping its host for
# the server's proves the mail's links come from PUBLIC_URL, never from the request's Host.
PUBLIC_URL = "https://auth.example.test"
MAIL_TIMEOUT_SECONDS = 15.0  # the sender polls every second (MAIL_POLL_INTERVAL=1)
LINK = re.compile(r"https?://[^\s\"'<>]+")
NEW_PASSWORD = "a new pass phrase from the mailed link"


class Mailbox:
    """What an aiosmtpd server in a thread of its own received: ``wait_for(to=…, subject=…)``."""

    def __init__(self, port: int) -> None:
        self.url = f"smtp://127.0.0.1:{port}"
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(
        self, *, to: str, subject: str, timeout: float = MAIL_TIMEOUT_SECONDS
    ) -> EmailMessage:
        """The first mail to ``to`` titled ``subject``; AssertionError after ``timeout``."""

        def matching() -> list[EmailMessage]:
            return [m for m in self.messages if m["To"] == to and m["Subject"] == subject]

        deadline = time.monotonic() + timeout
        with self._arrived:
            while not (found := matching()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [(str(m["To"]), str(m["Subject"])) for m in self.messages]
                    raise AssertionError(
                        f"no mail {subject!r} to {to} within {timeout} s; received: {got}"
                    )
                self._arrived.wait(remaining)
        return found[0]


def link_in(message: EmailMessage, route: str) -> str:
    """The one link of the mail's text/plain part whose path starts with ``route``."""
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None, f"mail {message['Subject']!r} has no text/plain part"
    text = plain.get_content()
    links = [link for link in LINK.findall(text) if urlsplit(link).path.startswith(route)]
    assert len(links) == 1, f"expected one {route} link in {message['Subject']!r}:\n{text}"
    return links[0]


def path_of(link: str) -> str:
    """The link's path, checked to be under PUBLIC_URL, to open against the live server."""
    assert link.startswith(PUBLIC_URL + "/"), f"{link} is not under PUBLIC_URL {PUBLIC_URL}"
    parts = urlsplit(link)
    assert not parts.query and not parts.fragment, link
    return parts.path


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    port = free_port()  # Controller cannot take port 0: it connects to its port to start
    inbox = Mailbox(port)
    # server_hostname: aiosmtpd would otherwise look up this host's FQDN, a blocking DNS call.
    controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def live_server_env(live_server_env: Mapping[str, str], mailbox: Mailbox) -> Mapping[str, str]:
    """The project's settings, plus mail to ``mailbox`` (started first, by this dependency)
    with links under PUBLIC_URL; the sender looks at the outbox every second."""
    return {
        **live_server_env,
        "SMTP_URL": mailbox.url,
        "PUBLIC_URL": PUBLIC_URL,
        "MAIL_POLL_INTERVAL": "1",
    }


@pytest.fixture(scope="module")
def live_server(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, live_server_env: Mapping[str, str]
) -> Iterator[LiveServer]:
    """This module's own server: the browser tests' shared one (tests/browser/conftest.py) is
    started without ``live_server_env``, so it would send no mail anywhere."""
    with running_server(
        tmp_path_factory.mktemp("recovery-instance"),
        secret_key=TEST_SECRET_KEY,
        extra_env=live_server_env,
    ) as server:
        yield server


def register_with_address(page: Page, username: str, password: str, address: str) -> None:
    page.goto("/register")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("E-mail address").fill(address)
    page.get_by_label("Password", exact=True).fill(password)
    assert submit(page, "Create account").status == 200
    expect(page.get_by_role("status")).to_contain_text(f"Check your inbox at {address}")


def confirmed_address(page: Page) -> str:
    """What /account/email says under "Confirmed address"."""
    page.goto("/account/email")
    facts = page.locator("dl.facts")
    return facts.locator("dt", has_text="Confirmed address").locator("+ dd").inner_text()


def confirm(page: Page, mailbox: Mailbox, address: str, snap: Snap | None = None) -> str:
    """Open the confirmation mail's link and press its button; the link's path."""
    mail = mailbox.wait_for(to=address, subject="Confirm your e-mail address")
    path = path_of(link_in(mail, "/confirm-email/"))
    opened = page.goto(path)
    assert opened is not None and opened.status == 200
    # The token is in the URL: no Referer may carry it off, no cache may keep the page.
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in opened.headers["cache-control"]
    expect(page.get_by_role("heading", name="Confirm your e-mail address")).to_be_visible()
    if snap is not None:
        snap(page, "confirm-email")
    # Opening the link changed nothing: mail scanners open links too.
    assert confirmed_address(page).startswith("None yet")
    page.goto(path)
    assert submit(page, f"Confirm {address}").status == 200
    return path


def test_an_address_is_confirmed_by_the_button_behind_its_mailed_link(
    open_page: OpenPage, mailbox: Mailbox, live_server: LiveServer, snap: Snap
) -> None:
    username, password = unique_username("confirmer"), unique_password()
    address = f"{username}@example.org"  # email-validator refuses .test
    page = open_page()
    register_with_address(page, username, password, address)
    assert confirmed_address(page).startswith("None yet")
    expect(page.get_by_text(f"{address} (not confirmed")).to_be_visible()

    mail = mailbox.wait_for(to=address, subject="Confirm your e-mail address")
    link = link_in(mail, "/confirm-email/")
    assert urlsplit(live_server.base_url).netloc not in link  # built from PUBLIC_URL alone

    path = confirm(page, mailbox, address, snap)
    expect(page).to_have_url("/account/email")
    expect(page.get_by_role("status")).to_contain_text(f"{address} is now your account's address.")
    assert confirmed_address(page) == address
    expect(page.get_by_text("Waiting for confirmation")).to_have_count(0)

    used = page.goto(path)
    assert used is not None and used.status == 400
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()


def test_a_mailed_reset_link_sets_the_password_once_and_signs_out_everywhere(
    open_page: OpenPage, mailbox: Mailbox, snap: Snap
) -> None:
    username, password = unique_username("resetter"), unique_password()
    address = f"{username}@example.org"  # email-validator refuses .test
    here, elsewhere = open_page(), open_page()
    register_with_address(here, username, password, address)
    confirm(here, mailbox, address)
    assert log_in(elsewhere, username, password).status == 200
    expect(elsewhere).to_have_url("/")

    log_out(here)
    here.goto("/login")
    here.get_by_role("link", name="Forgot your password?").click()
    expect(here).to_have_url("/forgot-password")
    here.get_by_label("Username or e-mail address").fill(username)
    assert submit(here, "Send the link").status == 200
    expect(here.get_by_role("heading", name="Check your inbox")).to_be_visible()
    snap(here, "check-your-inbox")

    mail = mailbox.wait_for(to=address, subject="Reset your password")
    path = path_of(link_in(mail, "/reset-password/"))
    opened = here.goto(path)
    assert opened is not None and opened.status == 200
    assert opened.headers["referrer-policy"] == "no-referrer"
    expect(here.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(here.get_by_text(f"For the account {username}.")).to_be_visible()
    snap(here, "choose-a-new-password")
    here.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    assert submit(here, "Set the new password").status == 200
    expect(here).to_have_url("/login")
    expect(here.get_by_role("status")).to_contain_text(
        "Your password was reset, and every session signed out. Log in with it."
    )
    mailbox.wait_for(to=address, subject="Your password was reset")

    assert log_in(here, username, password).status == 401  # the old password is gone
    expect(here.get_by_text(GENERIC_LOGIN_ERROR)).to_be_visible()
    assert log_in(here, username, NEW_PASSWORD).status == 200
    expect(here).to_have_url("/")

    elsewhere.goto("/dashboard")
    expect(elsewhere).to_have_url("/login?next=/dashboard")  # its session ended with the reset

    dead = here.goto(path)
    assert dead is not None and dead.status == 400
    expect(here.get_by_role("heading", name="This link does not work")).to_be_visible()
    expect(here.get_by_role("link", name="Ask for a new link")).to_be_visible()
    snap(here, "dead-link")

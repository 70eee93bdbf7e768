"""What the browser enforces: markup typed into forms stays text, and the CSP stops inline code."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, Page, Route, expect

from tests.support.browser import csp_violations, log_in, submit, unique_password

SCRIPT_USERNAME = "<script>document.title='pwned'</script>"
IMAGE_USERNAME = "<img src=x onerror=alert(1)>"  # fits the register form's 32 characters

# Each returns whether the injected code ran. They run through Playwright (DevTools), which the
# CSP does not govern, so they can add code to the page the way an XSS payload would.
INJECTIONS = {
    "inline script element": """() => new Promise((resolve) => {
        window.__ran = false;
        const script = document.createElement("script");
        script.textContent = "window.__ran = true";
        document.body.append(script);  // an allowed inline script runs during append
        resolve(window.__ran);
    })""",
    "inline event handler": """() => new Promise((resolve) => {
        window.__ran = false;
        const image = document.createElement("img");
        image.setAttribute("onerror", "window.__ran = true");
        // Added after the attribute's handler, so it runs after it: the verdict is in.
        image.addEventListener("error", () => resolve(window.__ran));
        image.src = "/no-such-image.png";
        document.body.append(image);
    })""",
}


def record_dialogs(page: Page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def test_markup_typed_as_a_username_at_login_comes_back_as_text(page: Page) -> None:
    response = log_in(page, SCRIPT_USERNAME, unique_password())

    assert response.status == 401
    body = response.text()
    assert SCRIPT_USERNAME not in body
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in body
    expect(page.get_by_label("Username", exact=True)).to_have_value(SCRIPT_USERNAME)
    expect(page).to_have_title("Log in · Latchkey")
    # The app's scripts (passkeys, the password toggle) are files; the typed markup made none.
    expect(page.locator("script:not([src])")).to_have_count(0)
    sources = page.locator("script").evaluate_all("(scripts) => scripts.map((s) => s.src)")
    assert sorted(src.rsplit("/", 1)[-1] for src in sources) == [
        "passkeys.js",
        "password-toggle.js",
    ]
    assert csp_violations(page) == []  # escaping stopped it: nothing even reached the CSP


def test_markup_typed_as_a_username_at_registration_comes_back_as_text(page: Page) -> None:
    dialogs = record_dialogs(page)
    page.goto("/register")
    page.get_by_label("Username", exact=True).fill(IMAGE_USERNAME)
    page.get_by_label("Password", exact=True).fill(unique_password())

    response = submit(page, "Create account")

    assert response.status == 400
    expect(page.get_by_text("Use only letters A–Z")).to_be_visible()
    expect(page.get_by_label("Username", exact=True)).to_have_value(IMAGE_USERNAME)
    expect(page.locator("main img")).to_have_count(0)
    assert dialogs == [] and csp_violations(page) == []


@pytest.mark.parametrize("injection", INJECTIONS)
def test_csp_header_blocks_inline_code_injected_into_an_app_page(
    page: Page, injection: str
) -> None:
    response = page.goto("/login")
    assert response is not None
    policy = response.header_value("content-security-policy") or ""
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy

    ran = page.evaluate(INJECTIONS[injection])

    assert ran is False
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert all(violation.startswith("script-src") for violation in csp_violations(page))


@pytest.mark.parametrize("injection", INJECTIONS)
def test_the_same_injection_runs_once_the_csp_header_is_stripped(
    page: Page, injection: str
) -> None:
    """The control for the test above: the injection works, so only the header stopped it."""

    def without_csp(route: Route) -> None:
        response = route.fetch()
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() != "content-security-policy"
        }
        route.fulfill(response=response, headers=headers)

    page.route("**/login", without_csp)
    page.goto("/login")

    assert page.evaluate(INJECTIONS[injection]) is True
    assert csp_violations(page) == []

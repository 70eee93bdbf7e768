"""Every field a person types into names what it holds (autocomplete tokens), and every form
that asks for a password names the account, so browsers and password managers fill the right
thing and file a new password under the right name."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from quart_app.testing.plugin import MakeUser, SignIn
from tests.support.auth import Client

# The tokens these forms may use (WHATWG autofill field names, plus "off" for free text).
ALLOWED = {"username", "current-password", "new-password", "email", "one-time-code", "off"}
NOT_TYPED = {"hidden", "checkbox", "radio", "submit", "button"}


class Forms(HTMLParser):
    """Each form's inputs as attribute dicts, in page order."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append([])
        elif tag == "input" and self.forms:
            self.forms[-1].append(dict(attrs))


def forms_of(page: str) -> list[list[dict[str, str | None]]]:
    parser = Forms()
    parser.feed(page)
    return [inputs for inputs in parser.forms if inputs]


def check_fields(page: str, path: str) -> int:
    """Assert the rules on every form of ``page``; how many typed fields were checked."""
    checked = 0
    for inputs in forms_of(page):
        typed = [field for field in inputs if field.get("type", "text") not in NOT_TYPED]
        for field in typed:
            token = field.get("autocomplete")
            assert token in ALLOWED, (path, field.get("name"), token)
            checked += 1
        if any(field.get("type") == "password" for field in typed):
            named = [field for field in typed if field.get("autocomplete") == "username"]
            assert named, f"{path}: a password form without a username field"
    return checked


@pytest.mark.parametrize("path", ["/login", "/register", "/forgot-password"])
async def test_signed_out_forms(client: Client, path: str) -> None:
    page = await (await client.get(path)).get_data(as_text=True)
    assert check_fields(page, path) >= 1


@pytest.mark.parametrize(
    "path",
    [
        "/account/password",
        "/account/delete",
        "/account/email",
        "/account/two-factor/totp",
        "/account/passkeys",
    ],
)
async def test_signed_in_forms(make_user: MakeUser, signed_in_client: SignIn, path: str) -> None:
    client = await signed_in_client(await make_user("alice"))
    response = await client.get(path)
    assert response.status_code == 200
    assert check_fields(await response.get_data(as_text=True), path) >= 1


def test_the_check_can_fail() -> None:
    with pytest.raises(AssertionError, match="without a username"):
        check_fields('<form><input type="password" autocomplete="current-password"></form>', "x")
    with pytest.raises(AssertionError):
        check_fields('<form><input name="name" type="text"></form>', "x")

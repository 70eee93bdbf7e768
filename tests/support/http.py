"""Small helpers for driving the real server: form tokens, cookies, and registered accounts."""

from __future__ import annotations

import secrets
from html.parser import HTMLParser

import httpx

AUTH_COOKIE = "auth"
SESSION_COOKIE = "flash_csrf"
# Long enough for the 12-character minimum; unique per call so accounts never collide.
PASSWORD_PREFIX = "correct horse battery "


class _CsrfTokenParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name") == "csrf_token" and attributes.get("value"):
            self.tokens.append(attributes["value"] or "")


def extract_csrf_token(html: str) -> str:
    """The value of the first ``<input name="csrf_token" value="...">`` in ``html``."""
    parser = _CsrfTokenParser()
    parser.feed(html)
    parser.close()
    if not parser.tokens:
        raise AssertionError(f"no csrf_token input in the page:\n{html[:2000]}")
    # Every form on one page carries the same session token.
    assert len(set(parser.tokens)) == 1, parser.tokens
    return parser.tokens[0]


async def fetch_csrf_token(client: httpx.AsyncClient, path: str) -> str:
    """GET ``path`` (which must render a form) and return its CSRF token."""
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return extract_csrf_token(response.text)


def unique_username(prefix: str) -> str:
    """A valid username (3–32 of A–Z, digits, . _ -) no other test uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


def unique_password() -> str:
    return PASSWORD_PREFIX + secrets.token_hex(6)


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    """The response's Set-Cookie header values that set cookie ``name``."""
    return [
        value
        for value in response.headers.get_list("set-cookie")
        if value.split("=", 1)[0].strip() == name
    ]


async def register(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """Submit the registration form (with a fresh CSRF token) and return the response."""
    token = await fetch_csrf_token(client, "/register")
    return await client.post(
        "/register", data={"username": username, "password": password, "csrf_token": token}
    )


async def login(
    client: httpx.AsyncClient,
    username: str,
    password: str,
    *,
    next_path: str | None = None,
    remember: bool = False,
) -> httpx.Response:
    """Submit the login form (with a fresh CSRF token) and return the response."""
    path = "/login" if next_path is None else f"/login?next={next_path}"
    token = await fetch_csrf_token(client, path)
    data = {"username": username, "password": password, "csrf_token": token}
    if remember:
        data["remember"] = "on"
    return await client.post(path, data=data)


async def logout(client: httpx.AsyncClient) -> httpx.Response:
    """Submit the logout form found on the home page (which a signed-in user sees)."""
    token = await fetch_csrf_token(client, "/")
    return await client.post("/logout", data={"csrf_token": token})

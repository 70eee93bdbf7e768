"""Hostile or broken requests get a 4xx page, never a 500, and store nothing."""

from __future__ import annotations

import pytest
from quart import Quart
from sqlalchemy import select

from quart_app.accounts.models import User
from quart_app.state import get_database
from tests.support.auth import PASSWORD, AuthActions, Client, users_and_sessions


def urlencoded(token: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    return (
        b"csrf_token=" + token.encode() + b"&" + body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )


@pytest.mark.parametrize("path", ["/register", "/login"])
async def test_ten_megabyte_body_is_413(
    app: Quart, client: Client, auth: AuthActions, path: str
) -> None:
    token = await auth.csrf(path)
    data, headers = urlencoded(token, b"username=alice&password=" + b"x" * (10 * 1024 * 1024))
    response = await client.post(path, data=data, headers=headers)
    assert response.status_code == 413
    assert "413" in await response.get_data(as_text=True)
    assert await users_and_sessions(app) == (0, 0)


@pytest.mark.parametrize("path", ["/register", "/login"])
async def test_raw_non_utf8_bytes_are_400(
    app: Quart, client: Client, auth: AuthActions, path: str
) -> None:
    token = await auth.csrf(path)
    data, headers = urlencoded(token, b"username=al\xffice&password=pass\xfe\xfdword long enough")
    response = await client.post(path, data=data, headers=headers)
    assert response.status_code == 400
    assert "must be UTF-8 text" in await response.get_data(as_text=True)
    assert await users_and_sessions(app) == (0, 0)


async def test_percent_encoded_invalid_utf8_password_is_400(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    token = await auth.csrf("/register")
    data, headers = urlencoded(token, b"username=alice&password=long+enough+password%FF%FE")
    response = await client.post("/register", data=data, headers=headers)
    assert response.status_code == 400
    assert "not valid UTF-8" in await response.get_data(as_text=True)
    assert await users_and_sessions(app) == (0, 0)


@pytest.mark.parametrize(
    "form",
    [
        {"username": "ali\x00ce", "password": PASSWORD},
        {"username": "alice", "password": "nul\x00 in the password"},
    ],
)
async def test_nul_characters_are_400_on_register(
    app: Quart, auth: AuthActions, client: Client, form: dict[str, str]
) -> None:
    form["csrf_token"] = await auth.csrf("/register")
    response = await client.post("/register", form=form)
    assert response.status_code == 400
    assert await users_and_sessions(app) == (0, 0)


async def test_nul_in_login_is_a_plain_failure(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.login("ali\x00ce", "nul\x00 in the password")
    assert response.status_code == 401
    assert (await users_and_sessions(app))[1] == 0


async def test_json_body_instead_of_form_is_400(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    token = await auth.csrf("/register")
    response = await client.post(
        "/register",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 400
    assert await users_and_sessions(app) == (0, 0)


async def test_multipart_without_boundary_is_400(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.csrf("/register")
    response = await client.post(
        "/register", data=b"junk", headers={"Content-Type": "multipart/form-data"}
    )
    assert response.status_code == 400


async def test_multipart_form_with_file_for_password_is_400(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    token = await auth.csrf("/register")
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="password"; filename="p.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n{PASSWORD}\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await client.post("/register", data=body, headers=headers)
    assert response.status_code == 400
    assert "Enter a password." in await response.get_data(as_text=True)
    assert await users_and_sessions(app) == (0, 0)


async def test_repeated_fields_use_the_first(app: Quart, client: Client, auth: AuthActions) -> None:
    token = await auth.csrf("/register")
    data, headers = urlencoded(
        token, b"username=alice&username=bob&password=long+enough+password&password=x"
    )
    response = await client.post("/register", data=data, headers=headers)
    assert response.status_code == 303
    async with get_database(app).sessionmaker() as db:
        assert (await db.execute(select(User.username))).scalar_one() == "alice"


async def test_huge_username_on_login_is_plain_failure(auth: AuthActions) -> None:
    response = await auth.login("a" * 20000, PASSWORD)
    assert response.status_code == 401


async def test_garbage_cookie_is_ignored(client: Client) -> None:
    response = await client.get("/dashboard", headers={"Cookie": "auth=garbage; flash_csrf=junk"})
    assert response.status_code == 302
    response = await client.get("/", headers={"Cookie": "auth=garbage; flash_csrf=junk"})
    assert response.status_code == 200

"""The API's sign-in for an account with two-factor on: the password answers 401 with a
second_factor_token (no token issued); the code step issues it once."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from quart_app.sessions.models import UserSession
from quart_app.testing.totp import TotpDevice
from tests.support.auth import PASSWORD, Client, count_rows

REQUIRED = "/api/v1/problems/second-factor-required"


@pytest.fixture
async def ann(make_user: Any, totp_device: Any) -> TotpDevice:
    return await totp_device(await make_user("ann"))


async def password_step(client: Client, password: str = PASSWORD) -> Any:
    return await client.post(
        "/api/v1/tokens", json={"username": "ann", "password": password, "name": "ci"}
    )


async def test_the_password_answers_with_a_second_factor_token_and_the_code_issues_the_token(
    app: Quart, client: Client, ann: TotpDevice
) -> None:
    first = await password_step(client)
    assert first.status_code == 401
    assert first.headers["Content-Type"] == "application/problem+json"
    assert first.headers["WWW-Authenticate"].startswith("Bearer")
    body = await first.get_json()
    assert body["type"] == REQUIRED and len(body["second_factor_token"]) >= 43
    assert await count_rows(app, UserSession) == 0

    done = await client.post(
        "/api/v1/tokens/second-factor",
        json={"second_factor_token": body["second_factor_token"], "code": await ann.fresh_code()},
    )
    assert done.status_code == 201
    token = (await done.get_json())["token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    sessions = await client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert [s["name"] for s in await sessions.get_json()] == ["ci"]  # the name from step one

    again = await client.post(
        "/api/v1/tokens/second-factor",
        json={"second_factor_token": body["second_factor_token"], "code": await ann.fresh_code()},
    )
    assert again.status_code == 401  # the second-factor token is used up


async def test_a_wrong_password_gets_the_plain_401_and_no_second_factor_token(
    client: Client, ann: TotpDevice
) -> None:
    refused = await password_step(client, "not the password")
    assert refused.status_code == 401
    body = await refused.get_json()
    assert body["type"] == "about:blank" and "second_factor_token" not in body


async def test_wrong_codes_count_and_the_fifth_ends_the_second_factor_token(
    client: Client, ann: TotpDevice
) -> None:
    pending = (await (await password_step(client)).get_json())["second_factor_token"]
    for left in (4, 3, 2, 1):
        wrong = await client.post(
            "/api/v1/tokens/second-factor", json={"second_factor_token": pending, "code": "000000"}
        )
        assert wrong.status_code == 401
        assert f"{left} attempt" in (await wrong.get_json())["detail"]
    await client.post(
        "/api/v1/tokens/second-factor", json={"second_factor_token": pending, "code": "000000"}
    )
    right = await client.post(
        "/api/v1/tokens/second-factor",
        json={"second_factor_token": pending, "code": await ann.fresh_code()},
    )
    assert right.status_code == 401
    assert "sign in again" in (await right.get_json())["detail"]


async def test_a_browser_pending_sign_in_is_no_api_token_and_back(
    app: Quart, client: Client, ann: TotpDevice
) -> None:
    pending = (await (await password_step(client)).get_json())["second_factor_token"]
    browser = app.test_client()
    async with browser.session_transaction() as session:
        session["pending_sign_in"] = pending  # an API step's token in a browser's cookie
    assert (await browser.get("/login/two-factor")).headers["Location"] == "/login"


@pytest.mark.parametrize(
    "body",
    [{}, {"second_factor_token": "x"}, {"code": "123456"},
     {"second_factor_token": 5, "code": "123456"}, {"second_factor_token": "x", "code": "1" * 65}],
)  # fmt: skip
async def test_a_malformed_body_is_400(client: Client, body: dict[str, object]) -> None:
    response = await client.post("/api/v1/tokens/second-factor", json=body)
    assert response.status_code == 400


async def test_an_unknown_second_factor_token_is_401(client: Client, ann: TotpDevice) -> None:
    response = await client.post(
        "/api/v1/tokens/second-factor",
        json={"second_factor_token": "made-up", "code": await ann.fresh_code()},
    )
    assert response.status_code == 401

"""Fuzzing every form: random fields and random bytes never cause a 5xx or an account change.

Failed logins and throttling write security events and counters by design; what a rejected
request must never change is the account data: users, password hashes, sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart
from sqlalchemy import select

from quart_app import create_app
from quart_app.accounts.models import User
from quart_app.sessions.models import UserSession
from quart_app.state import get_database
from tests.support.auth import PASSWORD, AuthActions, Client

ANONYMOUS_FORMS = {
    "/register": ["username", "password"],
    "/login": ["username", "password", "remember"],
}
SIGNED_IN_FORMS = {
    "/account/password": ["current_password", "new_password"],
    "/account/delete": ["password"],
    "/account/sessions/revoke-others": [],
}
FIELD_NAMES = sorted(
    {name for names in (*ANONYMOUS_FORMS.values(), *SIGNED_IN_FORMS.values()) for name in names}
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
field_values = st.one_of(
    st.text(max_size=64),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=2000),
    st.sampled_from(["", " ", "\x00", "alice", PASSWORD, "a" * 1025, "\ufffd", "<script>"]),
)
forms = st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), field_values)


@pytest.fixture
async def fuzz_app(app_config: dict[str, Any]) -> AsyncIterator[Quart]:
    # Throttling off, so every request reaches the form handling under test.
    limits_off = {
        "THROTTLE_PAIR_LIMIT": 0,
        "THROTTLE_USER_LIMIT": 0,
        "THROTTLE_LOGIN_PER_MINUTE": 0,
        "THROTTLE_REGISTER_PER_MINUTE": 0,
    }
    app = create_app({**app_config, **limits_off})
    async with app.test_app():
        yield app


async def account_state(app: Quart) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with get_database(app).sessionmaker() as db:
        users = (await db.execute(select(User.id, User.username_key, User.password_hash))).all()
        sessions = (await db.execute(select(UserSession.id, UserSession.token_digest))).all()
    return [tuple(row) for row in users], [tuple(row) for row in sessions]


async def signed_in(app: Quart) -> tuple[Client, AuthActions]:
    client = app.test_client()
    auth = AuthActions(client)
    if (await auth.register("fuzzer")).status_code != 303:
        assert (await auth.login("fuzzer")).status_code == 303
    return client, auth


@FUZZ
@given(path=st.sampled_from(sorted(ANONYMOUS_FORMS)), form=forms, with_token=st.booleans())
async def test_random_fields_on_public_forms(
    fuzz_app: Quart, path: str, form: dict[str, str], with_token: bool
) -> None:
    client = fuzz_app.test_client()
    if with_token:
        form = {**form, "csrf_token": await AuthActions(client).csrf("/login")}
    before = await account_state(fuzz_app)
    response = await client.post(path, form=form)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert await account_state(fuzz_app) == before


@FUZZ
@given(path=st.sampled_from(sorted(SIGNED_IN_FORMS)), form=forms, with_token=st.booleans())
async def test_random_fields_on_account_forms(
    fuzz_app: Quart, path: str, form: dict[str, str], with_token: bool
) -> None:
    client, auth = await signed_in(fuzz_app)
    if with_token:
        form = {**form, "csrf_token": await auth.csrf("/login")}
    before = await account_state(fuzz_app)
    response = await client.post(path, form=form)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert await account_state(fuzz_app) == before


@FUZZ
@given(
    path=st.sampled_from(sorted({**ANONYMOUS_FORMS, **SIGNED_IN_FORMS, "/logout": []})),
    body=st.binary(max_size=4096),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/json",
            "application/octet-stream",
        ]
    ),
    with_token=st.booleans(),
)
async def test_random_bytes_to_every_form(
    fuzz_app: Quart, path: str, body: bytes, content_type: str, with_token: bool
) -> None:
    client, auth = await signed_in(fuzz_app)
    headers = {"Content-Type": content_type}
    if with_token:
        headers["X-CSRF-Token"] = await auth.csrf("/login")
    before = await account_state(fuzz_app)
    response = await client.post(path, data=body, headers=headers)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert await account_state(fuzz_app) == before

"""Route policy sits on the route: every view that runs argon2 declares shedding and a per-IP
rate limit, found by walking the URL map and posting to every route (not from a list), the
API's routes with every unsafe method they serve."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from quart import Quart

from quart_app.state import get_hasher
from quart_app.testing.plugin import DEFAULT_PASSWORD, ApiSignIn, MakeUser, SignIn
from quart_app.web.route_policy import policy_of, rate_limited
from tests.support.auth import AuthActions

NEW_PASSWORD = "an entirely new passphrase"
# Every field any form here reads, filled so that a password form goes as far as argon2.
FORM = {
    "username": "newcomer",
    "password": DEFAULT_PASSWORD,
    "current_password": DEFAULT_PASSWORD,
    "new_password": NEW_PASSWORD,
    "confirm": "on",
}
# Forms a signed-in browser is refused (it is told who is signed in): posted signed out.
SIGNED_OUT_FORMS = {"auth.login", "auth.register"}


def count_argon2_runs(app: Quart) -> list[Callable[..., Any]]:
    """Spy on the hash pool: every hash or verify it runs (the real work still happens)."""
    hasher = get_hasher(app)
    runs: list[Callable[..., Any]] = []
    original = hasher._run

    async def spy(function: Callable[..., Any], *args: str) -> Any:
        runs.append(function)
        return await original(function, *args)

    hasher._run = spy  # type: ignore[method-assign]
    return runs


async def test_every_route_that_runs_argon2_declares_its_policy(
    app: Quart, make_user: MakeUser, signed_in_client: SignIn, api_client: ApiSignIn
) -> None:
    """Forms get the form's fields as a signed-in browser (sign-in forms as a signed-out one);
    API routes (every unsafe method) the same fields as JSON with a bearer token."""
    runs = count_argon2_runs(app)
    names = (f"walker{number}" for number in itertools.count())
    hashing: set[str] = set()
    for rule in app.url_map.iter_rules():
        path = rule.build(dict.fromkeys(rule.arguments, 1), append_unknown=False)[1]
        api = path.startswith("/api/")
        for method in sorted(
            (rule.methods or set()) & ({"POST", "PUT", "DELETE"} if api else {"POST"})
        ):
            user = await make_user(next(names))  # a deletion ends its user
            client = await (api_client(user) if api else signed_in_client(user))
            body = {**FORM, "username": next(names)}
            if rule.endpoint in SIGNED_OUT_FORMS:  # a signed-in browser is refused before
                client = app.test_client()
                body["csrf_token"] = await AuthActions(client).csrf(path)
            runs.clear()
            if api:
                response = await client.open(path, method=method, json=body)
            else:
                response = await client.post(path, form=body)
            assert response.status_code < 500, (method, rule.endpoint)
            if runs:
                hashing.add(rule.endpoint)
                policy = policy_of(rule.endpoint, app)
                assert policy.hashes_password, (
                    f"{rule.endpoint} runs argon2 without @hashes_password"
                )
                assert policy.rate_limit_setting, (
                    f"{rule.endpoint} runs argon2 without @rate_limited"
                )
    # The walk reached every route known to hash (a route that stopped early would hide one).
    assert hashing >= {
        "auth.login",
        "auth.register",
        "account.password",
        "account.delete",
        "api.register",
        "api.create_token",
        "api.change_password",
        "api.delete_account",
    }


def test_a_rate_limit_must_name_a_per_minute_setting() -> None:
    with pytest.raises(ValueError, match="THROTTLE_LOGIN_PER_MINUTE"):
        rate_limited("THROTTLE_LOGIN_PER_HOUR")


async def test_static_files_are_marked_static_and_pages_are_not(app: Quart) -> None:
    assert policy_of("static", app).static_content
    assert not policy_of("main.dashboard", app).static_content


class TestAccountFormsArePerIPLimited:
    @pytest.fixture
    def app_config(self, app_config: dict[str, Any]) -> dict[str, Any]:
        return {**app_config, "THROTTLE_ACCOUNT_PER_MINUTE": 2}

    @pytest.mark.parametrize("path", ["/account/password", "/account/delete"])
    async def test_the_third_post_in_a_minute_is_refused(
        self, path: str, make_user: MakeUser, signed_in_client: SignIn
    ) -> None:
        client = await signed_in_client(await make_user("alice"))
        form = {"current_password": "wrong", "new_password": NEW_PASSWORD, "password": "wrong"}
        statuses = [(await client.post(path, form=form)).status_code for _ in range(3)]
        assert statuses == [400, 400, 429]


async def test_login_redirect_is_built_from_the_login_route(auth: AuthActions) -> None:
    response = await auth.client.get("/dashboard")
    assert response.headers["Location"] == "/login?next=/dashboard"

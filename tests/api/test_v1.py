"""The JSON API's routes through Quart's test client: what each answers, and every refusal."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select

from quart_app import create_app
from quart_app.accounts.models import User
from quart_app.events.models import AuthEvent
from quart_app.sessions.models import UserSession
from quart_app.state import get_database, get_hasher, get_sign_in_cookie
from quart_app.testing.plugin import DEFAULT_PASSWORD, ApiClient, ApiSignIn, MakeUser, SignIn
from quart_app.views.auth import GENERIC_LOGIN_ERROR
from tests.support.hashing import GatedHasher

PROBLEM = "application/problem+json"
NEW_PASSWORD = "an entirely new passphrase"
CURRENT = DEFAULT_PASSWORD


async def problem_of(response: Any, status: int) -> dict[str, Any]:
    """The problem document, after checking the status and the media type."""
    assert response.status_code == status, await response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    document: dict[str, Any] = json.loads(await response.get_data(as_text=True))
    assert document["status"] == status and document["type"] == "about:blank"
    assert document["title"]
    return document


def fields(document: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in document["errors"]}


async def events(app: Quart, username: str) -> list[str]:
    async with get_database(app).new_db() as db:
        user = (await db.execute(select(User).where(User.username == username))).scalar_one()
        rows = await db.execute(
            select(AuthEvent.kind).where(AuthEvent.user_id == user.id).order_by(AuthEvent.id)
        )
        return list(rows.scalars())


async def token_for(client: QuartClient, username: str, password: str = DEFAULT_PASSWORD) -> str:
    response = await client.post(
        "/api/v1/tokens", json={"username": username, "password": password, "name": "ci"}
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    token: str = (await response.get_json())["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- register -----------------------------------------------------------------------------


async def test_register_creates_the_account_and_does_not_sign_in(
    app: Quart, client: QuartClient
) -> None:
    response = await client.post(
        "/api/v1/register", json={"username": " Ｚoe ", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert body["username"] == "Zoe" and isinstance(body["id"], int) and body["created_at"]
    assert "Set-Cookie" not in response.headers  # no session, no cookie
    async with get_database(app).new_db() as db:
        assert (await db.execute(select(UserSession))).first() is None
    assert await events(app, "Zoe") == ["registered"]


async def test_register_a_taken_name_is_409(client: QuartClient, make_user: MakeUser) -> None:
    await make_user("alice")
    response = await client.post(
        "/api/v1/register", json={"username": "ALICE", "password": DEFAULT_PASSWORD}
    )
    assert "username" in fields(await problem_of(response, 409))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": DEFAULT_PASSWORD}, "username"),  # missing
        ({"username": 5, "password": DEFAULT_PASSWORD}, "username"),  # mistyped
        ({"username": "bob", "password": ["x"]}, "password"),
        ({"username": "b" * 300, "password": DEFAULT_PASSWORD}, "username"),  # past the schema
        ({"username": "bob", "password": "p" * 5000}, "password"),
        ([], ""),  # not an object
    ],
)
async def test_register_a_body_outside_the_schema_is_400(
    app: Quart, client: QuartClient, body: Any, field: str
) -> None:
    document = await problem_of(await client.post("/api/v1/register", json=body), 400)
    assert field in fields(document)
    async with get_database(app).new_db() as db:
        assert (await db.execute(select(User))).first() is None


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"username": "bob", "password": "password123456"}, "password", "common"),
        ({"username": "bob-the-builder", "password": "bob-the-builder"}, "password", "username"),
        ({"username": "bob", "password": "short"}, "password", "at least"),
        ({"username": "b!", "password": DEFAULT_PASSWORD}, "username", ""),
    ],
)
async def test_register_a_body_a_rule_refuses_is_422(
    client: QuartClient, body: dict[str, str], field: str, says: str
) -> None:
    document = await problem_of(await client.post("/api/v1/register", json=body), 422)
    assert says in fields(document)[field]
    assert body["password"] not in json.dumps(document)  # never echoed


async def test_a_body_that_is_not_json_is_415_or_400(client: QuartClient) -> None:
    form = await client.post("/api/v1/register", form={"username": "bob", "password": "x"})
    await problem_of(form, 415)
    broken = await client.post(
        "/api/v1/register", data=b'{"username": ', headers={"Content-Type": "application/json"}
    )
    await problem_of(broken, 400)
    not_utf8 = await client.post(
        "/api/v1/register",
        data=b'{"username": "\xff"}',
        headers={"Content-Type": "application/json"},
    )
    await problem_of(not_utf8, 400)
    deep = await client.post(
        "/api/v1/register", data=b"[" * 30_000, headers={"Content-Type": "application/json"}
    )
    await problem_of(deep, 400)


# --- tokens -------------------------------------------------------------------------------


async def test_a_token_signs_in_and_is_a_session_on_the_account_page(
    app: Quart, client: QuartClient, make_user: MakeUser, signed_in_client: SignIn
) -> None:
    user = await make_user("alice")
    response = await client.post(
        "/api/v1/tokens",
        json={"username": "Alice", "password": DEFAULT_PASSWORD, "name": "deploy bot"},
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert body["token_type"] == "bearer" and body["expires_at"] and len(body["token"]) >= 43
    assert "Set-Cookie" not in response.headers
    me = await client.get("/api/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert (await me.get_json())["username"] == "alice"
    async with get_database(app).new_db() as db:
        row = (await db.execute(select(UserSession))).scalar_one()
    assert row.kind == "api" and row.name == "deploy bot" and body["token"] not in row.token_digest
    page = await (await signed_in_client(user)).get("/account/sessions")
    assert "API token “deploy bot”" in await page.get_data(as_text=True)
    assert await events(app, "alice") == ["token_created"]


@pytest.mark.parametrize("username", ["alice", "nobody"])
async def test_a_wrong_password_or_unknown_name_is_one_generic_401(
    app: Quart, client: QuartClient, make_user: MakeUser, username: str
) -> None:
    await make_user("alice")
    response = await client.post(
        "/api/v1/tokens", json={"username": username, "password": "not the password"}
    )
    document = await problem_of(response, 401)
    assert document["detail"] == GENERIC_LOGIN_ERROR
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    async with get_database(app).new_db() as db:
        assert (await db.execute(select(UserSession))).first() is None


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "THROTTLE_PAIR_LIMIT": 2}


async def test_repeated_failures_are_throttled_with_retry_after(
    client: QuartClient, make_user: MakeUser
) -> None:
    await make_user("alice")
    wrong = {"username": "alice", "password": "not the password"}
    for _ in range(2):
        await problem_of(await client.post("/api/v1/tokens", json=wrong), 401)
    response = await client.post("/api/v1/tokens", json=wrong)
    await problem_of(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    right = {"username": "alice", "password": DEFAULT_PASSWORD}
    await problem_of(await client.post("/api/v1/tokens", json=right), 429)  # throttled too


async def test_deleting_the_current_token_signs_it_out(
    app: Quart, make_user: MakeUser, api_client: ApiSignIn
) -> None:
    user = await make_user("alice")
    api = await api_client(user)
    response = await api.delete("/api/v1/tokens/current")
    assert response.status_code == 204 and not await response.get_data()
    await problem_of(await api.get("/api/v1/me"), 401)
    assert await events(app, "alice") == ["token_revoked"]


# --- bearer authentication ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "invalid"),
    [
        (None, False),
        ("Basic YWxpY2U6eA==", True),
        ("Bearer", True),
        ("Bearer not a token", True),
        ("Bearer " + "x" * 43, True),  # well formed, but no such token
    ],
)
async def test_without_a_live_token_the_api_answers_401_with_the_challenge(
    client: QuartClient, header: str | None, invalid: bool
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/api/v1/me", headers=headers)
    await problem_of(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    assert ('error="invalid_token"' in challenge) is invalid


async def test_a_browser_cookie_never_drives_the_api(
    make_user: MakeUser, signed_in_client: SignIn
) -> None:
    browser = await signed_in_client(await make_user("alice"))
    await problem_of(await browser.get("/api/v1/me"), 401)  # the cookie is ignored
    # ...and the browser's session id, taken out of its cookie, is no bearer token either.
    headers = bearer(browser.auth_id() or "")
    await problem_of(await browser.get("/api/v1/me", headers=headers), 401)


async def test_an_api_token_never_signs_in_a_browser(
    app: Quart, make_user: MakeUser, api_client: ApiSignIn, signed_in_client: SignIn
) -> None:
    user = await make_user("alice")
    api = await api_client(user)
    browser = await signed_in_client(user)
    browser.set_cookie(
        "localhost",
        app.config["QUART_AUTH_COOKIE_NAME"],
        get_sign_in_cookie(app).dump_token(api.token, app),  # signed with the app's own key
        path="/",
    )
    assert (await browser.get("/dashboard")).status_code == 302  # to the login page


# --- the account, its sessions ------------------------------------------------------------


async def test_sessions_lists_browsers_and_tokens_and_ends_one(
    make_user: MakeUser, api_client: ApiSignIn, signed_in_client: SignIn
) -> None:
    user = await make_user("alice")
    api = await api_client(user, name="laptop script")
    browser = await signed_in_client(user)
    listed = await (await api.get("/api/v1/sessions")).get_json()
    assert [(s["kind"], s["name"], s["current"]) for s in listed] == [
        ("api", "laptop script", True),
        ("browser", None, False),
    ]
    assert [(s["device"], s["ip"]) for s in listed] == [("", ""), ("", "")]  # the test kit's
    browser_id = listed[1]["id"]
    assert (await api.delete(f"/api/v1/sessions/{browser_id}")).status_code == 204
    assert (await browser.get("/dashboard")).status_code == 302  # signed out at once
    await problem_of(await api.delete(f"/api/v1/sessions/{browser_id}"), 404)


async def test_sessions_name_each_client_and_its_address(
    app: Quart, make_user: MakeUser, api_client: ApiSignIn
) -> None:
    await make_user("alice")
    created = await app.test_client().post(
        "/api/v1/tokens",
        json={"username": "alice", "password": DEFAULT_PASSWORD},
        headers={"User-Agent": "curl/8.5.0"},
        scope_base={"client": ("192.0.2.44", 40000)},
    )
    token = (await created.get_json())["token"]
    listed = await (await ApiClient(app, token).get("/api/v1/sessions")).get_json()
    assert [(s["device"], s["ip"], s["user_agent"]) for s in listed] == [
        ("curl", "192.0.2.44", "curl/8.5.0")
    ]


async def test_another_users_session_is_not_found(
    make_user: MakeUser, api_client: ApiSignIn
) -> None:
    alice = await api_client(await make_user("alice"))
    bob = await api_client(await make_user("bob"))
    bobs = (await (await bob.get("/api/v1/sessions")).get_json())[0]["id"]
    await problem_of(await alice.delete(f"/api/v1/sessions/{bobs}"), 404)
    await problem_of(await alice.delete(f"/api/v1/sessions/{2**63}"), 404)  # past any id
    await problem_of(await alice.delete(f"/api/v1/sessions/{2**31}"), 404)  # past PostgreSQL's
    assert (await bob.get("/api/v1/me")).status_code == 200


async def test_a_password_change_ends_every_other_session_and_token(
    app: Quart, client: QuartClient, make_user: MakeUser, api_client: ApiSignIn,
    signed_in_client: SignIn,
) -> None:  # fmt: skip
    user = await make_user("alice")
    api, other = await api_client(user), await api_client(user)
    browser = await signed_in_client(user)
    change = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    assert (await api.put("/api/v1/me/password", json=change)).status_code == 204
    assert (await api.get("/api/v1/me")).status_code == 200  # this token goes on
    await problem_of(await other.get("/api/v1/me"), 401)
    assert (await browser.get("/dashboard")).status_code == 302
    await token_for(client, "alice", NEW_PASSWORD)
    assert "password_changed" in await events(app, "alice")


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"current_password": "not it", "new_password": NEW_PASSWORD}, 403, "current_password"),
        ({"current_password": CURRENT, "new_password": "password123456"}, 422, "new_password"),
        ({"current_password": CURRENT, "new_password": CURRENT}, 422, "new_password"),
        ({"current_password": CURRENT}, 400, "new_password"),
    ],
)  # fmt: skip
async def test_a_refused_password_change_changes_nothing(
    client: QuartClient, make_user: MakeUser, api_client: ApiSignIn,
    change: dict[str, str], status: int, field: str,
) -> None:  # fmt: skip
    api = await api_client(await make_user("alice"))
    document = await problem_of(await api.put("/api/v1/me/password", json=change), status)
    assert field in fields(document)
    await token_for(client, "alice", DEFAULT_PASSWORD)  # the old password still signs in


async def test_deleting_the_account_needs_its_password(
    app: Quart, make_user: MakeUser, api_client: ApiSignIn
) -> None:
    api = await api_client(await make_user("alice"))
    wrong = await api.delete("/api/v1/me", json={"password": "not it"})
    assert "password" in fields(await problem_of(wrong, 403))
    assert (await api.get("/api/v1/me")).status_code == 200
    right = await api.delete("/api/v1/me", json={"password": DEFAULT_PASSWORD})
    assert right.status_code == 204
    await problem_of(await api.get("/api/v1/me"), 401)
    async with get_database(app).new_db() as db:
        assert (await db.execute(select(User))).first() is None


# --- errors are problems, never pages -----------------------------------------------------


async def test_routing_errors_under_the_api_are_problems(client: QuartClient) -> None:
    await problem_of(await client.get("/api/v1/nothing-here"), 404)
    await problem_of(await client.get("/api/elsewhere"), 404)
    response = await client.get("/api/v1/tokens")
    await problem_of(response, 405)
    assert "POST" in response.headers["Allow"]


async def test_a_body_too_large_is_a_413_problem(client: QuartClient) -> None:
    body = json.dumps({"username": "bob", "password": "p" * 70_000}).encode()
    response = await client.post(
        "/api/v1/register", data=body, headers={"Content-Type": "application/json"}
    )
    await problem_of(response, 413)


async def test_the_api_needs_no_csrf_token(client: QuartClient, make_user: MakeUser) -> None:
    """A POST with a cross-site Origin and no token is no CSRF attack here: nothing of the
    browser's is read. The HTML form beside it still refuses the same request."""
    await make_user("alice")
    headers = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    body = {"username": "alice", "password": DEFAULT_PASSWORD}
    assert (await client.post("/api/v1/tokens", json=body, headers=headers)).status_code == 201
    assert (await client.post("/login", form=body, headers=headers)).status_code == 400


# --- the OpenAPI document -----------------------------------------------------------------


SIGNED_OUT_PATHS = {
    "/api/v1/register",
    "/api/v1/tokens",
    "/api/v1/password-reset",
    "/api/v1/password-reset/confirm",
    "/api/v1/tokens/second-factor",
}


async def test_the_openapi_document_describes_the_api_and_only_the_api(
    client: QuartClient,
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = await response.get_json()
    assert spec["openapi"].startswith("3.1")
    assert all(path.startswith("/api/v1/") for path in spec["paths"])
    assert {"/api/v1/register", "/api/v1/tokens", "/api/v1/me", "/api/v1/sessions"} <= set(
        spec["paths"]
    )
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "503" in responses, (method, path)
            for status, answer in responses.items():
                if int(status) >= 400:
                    assert list(answer["content"]) == [PROBLEM], (method, path, status)
                if status == "204":
                    assert "content" not in answer
            if path in SIGNED_OUT_PATHS:
                assert "security" not in operation, (method, path)
            else:
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
    assert spec["paths"]["/api/v1/tokens"]["post"]["responses"]["429"]["headers"]["retry-after"]


async def test_past_the_hash_pool_the_api_is_shed_with_a_problem(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "HASH_POOL_SIZE": 1, "HASH_QUEUE_LIMIT": 0})
    async with app.test_app():
        hasher = get_hasher(app)
        digest = await hasher.hash("correct horse battery")
        gate = threading.Event()
        hasher.hasher = GatedHasher(gate)
        try:
            holding = asyncio.ensure_future(hasher.verify(digest, "correct horse battery"))
            await asyncio.sleep(0)
            body = {"username": "alice", "password": DEFAULT_PASSWORD}
            for path in ("/api/v1/tokens", "/api/v1/register"):
                response = await app.test_client().post(path, json=body)
                await problem_of(response, 503)
                assert response.headers["Retry-After"] in {"1", "2", "3"}
            gate.set()
            assert await holding
        finally:
            gate.set()
        response = await app.test_client().post("/api/v1/register", json=body)
        assert response.status_code == 201  # served once capacity is back

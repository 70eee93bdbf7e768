"""Account pages: password change, sessions, activity, delete (all signed-in, all CSRF'd)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from quart import Quart
from sqlalchemy import select

from quart_app.accounts.models import User
from quart_app.events.log import EventKind, add_operator_event
from quart_app.events.models import AuthEvent
from quart_app.sessions.models import UserSession
from quart_app.state import get_database
from tests.support.auth import PASSWORD, AuthActions, Client, auth_set_cookie, count_rows

NEW_PASSWORD = "a brand new passphrase"


def auth_cookie(response: object) -> str:
    """The auth cookie as a browser sends it back (name=value)."""
    return auth_set_cookie(response).split(";")[0]


def listed_sessions(html: str) -> list[tuple[bool, int]]:
    """(is this session, id) for each session on the sessions page, in page order."""
    pattern = r'<li class="session( current)?">.*?/account/sessions/(\d+)/revoke'
    return [(bool(current), int(i)) for current, i in re.findall(pattern, html, re.S)]


async def post(client: Client, auth: AuthActions, path: str, **form: str) -> object:
    token = await auth.csrf("/login")
    return await client.post(path, form={**form, "csrf_token": token})


@pytest.mark.parametrize(
    "path", ["/account/password", "/account/sessions", "/account/activity", "/account/delete"]
)
async def test_account_pages_need_sign_in(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    "path",
    [
        "/account/password",
        "/account/delete",
        "/account/sessions/1/revoke",
        "/account/sessions/revoke-others",
    ],
)
async def test_account_posts_need_csrf(client: Client, auth: AuthActions, path: str) -> None:
    await auth.register("alice")
    response = await client.post(path, form={"password": PASSWORD, "current_password": PASSWORD})
    assert response.status_code == 400
    assert await count_rows(auth.client.app, User) == 1  # type: ignore[attr-defined]


# --- password change ------------------------------------------------------------------------


async def test_password_change_with_wrong_current_password_is_400_and_changes_nothing(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await post(
        client, auth, "/account/password", current_password="wrong one!!", new_password=NEW_PASSWORD
    )
    assert response.status_code == 400
    assert "That is not your current password." in await response.get_data(as_text=True)
    await auth.logout()
    assert (await auth.login("alice", PASSWORD)).status_code == 303


@pytest.mark.parametrize(
    ("new", "message"),
    [("short", "Use at least 12"), ("peanutbutter", "most common"), (PASSWORD, "different")],
)
async def test_password_change_refuses_bad_new_password(
    client: Client, auth: AuthActions, new: str, message: str
) -> None:
    await auth.register("alice")
    response = await post(
        client, auth, "/account/password", current_password=PASSWORD, new_password=new
    )
    assert response.status_code == 400
    assert message in await response.get_data(as_text=True)


async def test_password_change_ends_other_sessions_and_rotates_this_one(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    before = auth_cookie(await auth.login("alice"))
    other = AuthActions(app.test_client())
    stolen = auth_cookie(await other.login("alice"))
    response = await post(
        client, auth, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD
    )
    assert response.status_code == 303
    after = auth_cookie(response)
    assert after != before  # a fresh session id for the current session
    html = await (await client.get("/account/password")).get_data(as_text=True)
    assert "Your password was changed. 1 other session signed out." in html
    assert (await client.get("/dashboard")).status_code == 200
    for old_cookie in (stolen, before):  # the stolen cookie and this session's old id: refused
        thief = app.test_client()
        assert (await thief.get("/dashboard", headers={"Cookie": old_cookie})).status_code == 302
    assert await count_rows(app, UserSession) == 1
    await auth.logout()
    assert (await auth.login("alice", PASSWORD)).status_code == 401
    assert (await auth.login("alice", NEW_PASSWORD)).status_code == 303


async def test_wrong_current_passwords_are_throttled(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    statuses = []
    for _ in range(6):
        response = await post(
            client,
            auth,
            "/account/password",
            current_password="guess guess!",
            new_password=NEW_PASSWORD,
        )
        statuses.append(response.status_code)
    assert statuses == [400] * 5 + [429]


# --- sessions -------------------------------------------------------------------------------


async def test_sessions_page_lists_this_and_other_sessions(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    other = app.test_client()
    await AuthActions(other).login("alice")
    html = await (
        await client.get("/account/sessions", headers={"User-Agent": "TestBrowser/1"})
    ).get_data(as_text=True)
    assert [current for current, _ in listed_sessions(html)] == [True, False]
    assert "TestBrowser/1" not in html  # the listing shows each session's own browser


CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def peer(address: str) -> dict[str, object]:
    """A request from ``address`` (Quart's test client sends no peer address of its own)."""
    return {"client": (address, 40000)}


async def login_from(app: Quart, address: str, user_agent: str) -> Client:
    """A new browser of alice's that signs in from ``address``, naming itself ``user_agent``."""
    browser = app.test_client()
    token = await AuthActions(browser).csrf("/login")
    response = await browser.post(
        "/login",
        form={"username": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"User-Agent": user_agent},
        scope_base=peer(address),
    )
    assert response.status_code == 303
    return browser


async def test_sessions_page_names_each_browser_with_its_address_and_times(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await login_from(app, "203.0.113.9", CHROME_LINUX)
    async with get_database(app).sessionmaker() as db:
        other = (await db.scalars(select(UserSession).order_by(UserSession.id.desc()))).first()
        assert other is not None and other.ip == "203.0.113.9"  # recorded at sign-in
        other.last_seen_at -= timedelta(minutes=5, seconds=10)
        other.created_at -= timedelta(hours=2, minutes=1)
        await db.commit()
        seen = other.last_seen_at
    html = await (await client.get("/account/sessions")).get_data(as_text=True)
    this, listed_other = html.split('<li class="session">')
    assert "This session" in this and "active now" in this
    assert "Chrome on Linux" in listed_other and "203.0.113.9" in listed_other
    assert f'last seen <time datetime="{seen.isoformat()}"' in listed_other
    assert f'title="{seen:%Y-%m-%d %H:%M:%S} UTC">5 minutes ago</time>' in listed_other
    assert ">2 hours ago</time>" in listed_other  # signed in
    assert f'title="{CHROME_LINUX}"' in listed_other  # the whole string, on hover
    assert "Unknown browser" in this  # the test client names no browser


async def test_a_sessions_address_follows_it_when_it_is_next_seen(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    browser = await login_from(app, "203.0.113.9", CHROME_LINUX)
    async with get_database(app).sessionmaker() as db:
        row = (await db.scalars(select(UserSession).order_by(UserSession.id.desc()))).first()
        assert row is not None
        row.last_seen_at -= timedelta(minutes=2)  # past SESSION_TOUCH_INTERVAL (60 s)
        await db.commit()
        row_id = row.id
    assert (await browser.get("/dashboard", scope_base=peer("198.51.100.7"))).status_code == 200
    async with get_database(app).sessionmaker() as db:
        moved = await db.get(UserSession, row_id)
        assert moved is not None and moved.ip == "198.51.100.7"
    # Within the touch interval nothing is written, the address included.
    assert (await browser.get("/dashboard", scope_base=peer("192.0.2.1"))).status_code == 200
    async with get_database(app).sessionmaker() as db:
        assert (await db.get(UserSession, row_id)).ip == "198.51.100.7"  # type: ignore[union-attr]


async def test_an_api_token_is_listed_with_its_name_and_client(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    created = await app.test_client().post(
        "/api/v1/tokens",
        json={"username": "alice", "password": PASSWORD, "name": "deploy bot"},
        headers={"User-Agent": "curl/8.5.0"},
        scope_base=peer("192.0.2.44"),
    )
    assert created.status_code == 201
    html = await (await client.get("/account/sessions")).get_data(as_text=True)
    listed = html.split('<li class="session">')[1]
    assert "API token “deploy bot” · <span" in listed and ">curl</span>" in listed
    assert "192.0.2.44" in listed and "Revoke this token" in listed
    async with get_database(app).sessionmaker() as db:
        token = (await db.scalars(select(UserSession).where(UserSession.kind == "api"))).one()
    assert token.ip == "192.0.2.44"
    # API_TOKEN_LIFETIME is 30 days, a moment less by the time the page is made.
    assert f'title="{token.expires_at:%Y-%m-%d %H:%M:%S} UTC">in 29 days</time>' in listed


async def test_sessions_page_leaves_out_expired_sessions(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    idle, remembered = app.test_client(), app.test_client()
    await AuthActions(idle).login("alice")
    await AuthActions(remembered).login("alice", remember=True)
    async with get_database(app).sessionmaker() as db:
        rows = (await db.execute(select(UserSession).order_by(UserSession.id))).scalars().all()
        assert len(rows) == 3  # this one (registration), the idle one, the remembered one
        for row in rows[1:]:  # both quiet for an hour: past the 30-minute idle timeout
            row.last_seen_at -= timedelta(hours=1)
        await db.commit()
        ids = [row.id for row in rows]
    listed = listed_sessions(await (await client.get("/account/sessions")).get_data(as_text=True))
    # Remembered sessions have no idle timeout; the idle one is over and not shown.
    assert listed == [(True, ids[0]), (False, ids[2])]


async def test_revoke_another_session(app: Quart, client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    other = app.test_client()
    await AuthActions(other).login("alice")
    listed = listed_sessions(await (await client.get("/account/sessions")).get_data(as_text=True))
    [other_id] = [session_id for current, session_id in listed if not current]
    response = await post(client, auth, f"/account/sessions/{other_id}/revoke")
    assert response.status_code == 303
    assert (await other.get("/dashboard")).status_code == 302
    assert (await client.get("/dashboard")).status_code == 200


async def test_revoke_current_session_signs_out(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    html = await (await client.get("/account/sessions")).get_data(as_text=True)
    [session_id] = re.findall(r"/account/sessions/(\d+)/revoke", html)
    response = await post(client, auth, f"/account/sessions/{session_id}/revoke")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?signed_out=session-ended"
    assert (await client.get("/dashboard")).status_code == 302


async def test_another_users_session_is_404_and_untouched(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    bob = AuthActions(app.test_client())
    await bob.register("bob")
    bob_html = await (await bob.client.get("/account/sessions")).get_data(as_text=True)
    [bob_session] = re.findall(r"/account/sessions/(\d+)/revoke", bob_html)
    await auth.register("alice")
    response = await post(client, auth, f"/account/sessions/{bob_session}/revoke")
    assert response.status_code == 404
    assert (await bob.client.get("/dashboard")).status_code == 200
    alice_html = await (await client.get("/account/sessions")).get_data(as_text=True)
    assert f"/account/sessions/{bob_session}/revoke" not in alice_html
    assert (await post(client, auth, "/account/sessions/999999/revoke")).status_code == 404
    # Past PostgreSQL's 32-bit ids: no session either, not a value the driver refuses (a 503).
    assert (await post(client, auth, f"/account/sessions/{2**31}/revoke")).status_code == 404


async def test_revoke_others_keeps_only_this_session(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    others = [app.test_client() for _ in range(2)]
    for other in others:
        await AuthActions(other).login("alice")
    response = await post(client, auth, "/account/sessions/revoke-others")
    assert response.status_code == 303
    assert await count_rows(app, UserSession) == 1
    for other in others:
        assert (await other.get("/dashboard")).status_code == 302
    assert (await client.get("/dashboard")).status_code == 200


# --- activity -------------------------------------------------------------------------------


async def test_activity_lists_security_events(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    await auth.login("alice", "wrong password here")
    await auth.login("alice")
    html = await (
        await client.get("/account/activity", headers={"User-Agent": "Probe/2"})
    ).get_data(as_text=True)
    for label in ("Account created", "Signed out", "Failed sign-in", "Signed in"):
        assert label in html
    assert html.index("Signed in<") < html.index("Failed sign-in")  # newest first
    assert html.count(">just now</time>") == 4 and ' UTC">just now' in html


async def test_activity_names_browsers_and_operator_commands(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await login_from(app, "203.0.113.9", CHROME_LINUX)
    async with get_database(app).sessionmaker() as db:
        alice_id = (await db.execute(select(User.id).where(User.username == "alice"))).scalar_one()

        await add_operator_event(db, alice_id, EventKind.ACCOUNT_UNLOCKED, "users unlock")
        await db.commit()
    html = await (await client.get("/account/activity")).get_data(as_text=True)
    unlocked, signed_in = html.split("<tr>")[2:4]
    assert "The users unlock command" in unlocked and "—" in unlocked  # no address
    assert "Chrome on Linux" in signed_in and "203.0.113.9" in signed_in


async def test_activity_shows_only_the_last_fifty_and_only_mine(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    bob = AuthActions(app.test_client())
    await bob.register("bob")
    await auth.register("alice")
    for _ in range(3):
        await bob.login("bob")
    html = await (await client.get("/account/activity")).get_data(as_text=True)
    assert html.count("<tr>") == 1 + 1  # header row + alice's one event
    async with get_database(app).sessionmaker() as db:
        alice_id = (await db.execute(select(User.id).where(User.username == "alice"))).scalar_one()
        from quart_app.core.clock import utcnow

        for _ in range(60):
            db.add(AuthEvent(user_id=alice_id, kind="login_succeeded", created_at=utcnow()))
        await db.commit()
    html = await (await client.get("/account/activity")).get_data(as_text=True)
    assert html.count("<tr>") == 1 + 50


# --- delete ---------------------------------------------------------------------------------


async def test_delete_with_wrong_password_is_400_and_keeps_everything(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await post(client, auth, "/account/delete", password="not my password")
    assert response.status_code == 400
    assert await count_rows(app, User) == 1
    assert (await client.get("/dashboard")).status_code == 200


async def test_delete_removes_user_sessions_events_and_signs_out(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    other = app.test_client()
    await AuthActions(other).login("alice")
    response = await post(client, auth, "/account/delete", password=PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/?signed_out=account-deleted"
    for model in (User, UserSession, AuthEvent):
        assert await count_rows(app, model) == 0
    assert (await client.get("/dashboard")).status_code == 302
    assert (await other.get("/dashboard")).status_code == 302
    landing = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    assert "Your account and everything stored about it were deleted." in landing
    assert (await auth.register("alice")).status_code == 303  # the name is free again


@pytest.mark.parametrize(
    ("path", "form_page"),
    [
        ("/account/sessions/1/revoke", "/account/sessions"),
        ("/account/sessions/revoke-others", "/account/sessions"),
        ("/account/password", "/account/password"),
        ("/account/delete", "/account/delete"),
    ],
)
async def test_a_signed_out_post_returns_to_the_form_after_login(
    client: Client, auth: AuthActions, path: str, form_page: str
) -> None:
    """Not to the POST-only URL itself, where the browser would land on a 405."""
    token = await auth.csrf("/login")
    response = await client.post(path, form={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={form_page}"

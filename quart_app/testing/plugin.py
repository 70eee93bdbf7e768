"""pytest fixtures for async test suites of this app and apps built on it.

Every test gets a fresh app on a fresh SQLite database with the fast-hash profile (refused
outside TESTING). Users are made without the forms and signed in by issuing a session row
directly, so a test that is about a signed-in page spends no time on argon2 or form round trips.
Override ``app_config`` (function scope) or ``live_server_env`` (module scope) to change settings;
an override may take the fixture it replaces as an argument and extend it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from quart import Quart
from quart.testing import QuartClient

from quart_app import create_app
from quart_app.accounts.models import User
from quart_app.accounts.users import normalise_username, username_key
from quart_app.config import FAST_TEST_HASHING
from quart_app.mail.backends import SmtpBackend
from quart_app.mail.smtp_url import parse_smtp_url
from quart_app.sessions.models import API
from quart_app.sessions.store import issue_session, new_session
from quart_app.state import (
    get_database,
    get_hasher,
    get_mail_sender,
    get_settings,
    get_sign_in_cookie,
)
from quart_app.testing.server import (
    DEFAULT_APP,
    WORKERS,
    LiveServer,
    run_server,
    server_environment,
)
from quart_app.testing.smtp import SmtpInbox
from quart_app.testing.totp import TotpDevice, enrol_totp
from quart_app.web import csrf

DEFAULT_PASSWORD = "correct horse battery staple"  # noqa: S105 - the tests' password
TEST_SECRET_KEY = "test-kit-secret-key-" + "k" * 32
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

MakeUser = Callable[..., Awaitable[User]]
SignIn = Callable[..., Awaitable["SignedInClient"]]
ApiSignIn = Callable[..., Awaitable["ApiClient"]]
ReadToken = Callable[[QuartClient, str], Awaitable[str]]
EnrolTotp = Callable[..., Awaitable[TotpDevice]]


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Settings for ``app`` (the option names of the README's table)."""
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
        "SECRET_KEY": TEST_SECRET_KEY,
        "COOKIE_SECURE": False,  # the test client speaks plain HTTP
        "TESTING": True,
        "HASH_PROFILE": FAST_TEST_HASHING,
        "HASH_POOL_SIZE": 2,
    }


@pytest_asyncio.fixture
async def app(app_config: dict[str, Any]) -> AsyncIterator[Quart]:
    """A fresh app, started as a server starts it (its before/after_serving hooks run)."""
    application = create_app(app_config)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


@pytest_asyncio.fixture
async def mail_outbox(app: Quart) -> AsyncIterator[SmtpInbox]:
    """The mails ``app`` sends, received by a real SMTP server (aiosmtpd) in the test's loop:
    ``mail_outbox.messages``, ``await mail_outbox.wait_for(2)``, ``mail_outbox.clear()``.

    The app's own sender delivers to it over SMTP from the outbox, as in production; only
    its destination changes (from ``SMTP_URL``, or the log when unset)."""
    inbox = await SmtpInbox.start_new()
    target = parse_smtp_url(inbox.url)
    sender = get_mail_sender(app)
    original, sender.backend = sender.backend, SmtpBackend(target, timeout=10.0)
    try:
        yield inbox
    finally:
        sender.backend = original
        await inbox.stop()


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    """Hashes ``make_user`` computed, by password: each password is hashed once per test run."""
    return {}


@pytest.fixture
def make_user(app: Quart, password_hashes: dict[str, str]) -> MakeUser:
    """``await make_user("alice", password="…")``: a user row, committed, without the form."""

    async def make(username: str, *, password: str = DEFAULT_PASSWORD) -> User:
        if password not in password_hashes:
            password_hashes[password] = await get_hasher(app).hash(password)
        name = normalise_username(username)
        user = User(
            username=name, username_key=username_key(name), password_hash=password_hashes[password]
        )
        async with get_database(app).new_db() as db:
            db.add(user)
            await db.commit()
        return user

    return make


class SignedInClient(QuartClient):
    """A test client signed in as one user. Unsafe requests carry this session's CSRF token (as
    the ``csrf_token`` form field, or the X-CSRF-Token header for other bodies) unless the
    request names one itself, so ``await client.post(url, form={...})`` passes the CSRF check,
    also after the app rotated the session id (a password change does)."""

    async def open(self, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if str(kwargs.get("method", "GET")).upper() in UNSAFE_METHODS:
            token = await self.csrf_token()
            if (form := kwargs.get("form")) is not None:
                kwargs["form"] = {csrf.FORM_FIELD: token, **form}
            else:
                kwargs["headers"] = {csrf.HEADER: token, **dict(kwargs.get("headers") or {})}
        return await super().open(path, *args, **kwargs)

    async def csrf_token(self) -> str:
        """The token a form page would give this client now: derived from its sign-in id, or,
        signed out, the one in its cookie session (made and stored if it has none)."""
        auth_id = self.auth_id()
        if auth_id is not None:
            return csrf.token_for_session(auth_id, self.app.secret_key or "")
        async with self.session_transaction() as session:
            token = session.get(csrf.SESSION_KEY)
            if not isinstance(token, str):
                token = session[csrf.SESSION_KEY] = csrf.new_token()
        return token

    def auth_id(self) -> str | None:
        """The sign-in id in this client's cookie now (the app rotates it at re-authentication)."""
        name = self.app.config["QUART_AUTH_COOKIE_NAME"]
        signed = next((cookie.value for cookie in self.cookie_jar if cookie.name == name), None)
        if not signed:
            return None
        return get_sign_in_cookie(self.app).load_token(signed, self.app)


@pytest.fixture
def signed_in_client(app: Quart) -> SignIn:
    """``await signed_in_client(user, remember=False)``: a new client signed in as ``user``.

    The session row is issued directly (as a login would, minus argon2 and the form), and the
    client gets quart-auth's signed cookie for it.
    """

    async def sign_in(
        user: User,
        *,
        remember: bool = False,
        user_agent: str = "quart-app test kit",
        ip: str = "",
    ) -> SignedInClient:
        async with get_database(app).new_db() as db:
            token, _ = await issue_session(
                db,
                user=user,
                remember=remember,
                user_agent=user_agent,
                settings=get_settings(app),
                ip=ip,
            )
            await db.commit()
        signed_in = SignedInClient(app)
        signed_in.set_cookie(
            "localhost",
            app.config["QUART_AUTH_COOKIE_NAME"],
            get_sign_in_cookie(app).dump_token(token, app),
            path="/",
            httponly=True,
        )
        return signed_in

    return sign_in


class ApiClient(QuartClient):
    """A test client of the JSON API holding one bearer token (``token``), sent as
    ``Authorization: Bearer`` on every request that names no Authorization header itself.
    API requests need no CSRF token: the API reads no cookie."""

    def __init__(self, app: Quart, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def open(self, path: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = dict(kwargs.get("headers") or {})
        if not any(name.lower() == "authorization" for name in headers):
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs["headers"] = headers
        return await super().open(path, *args, **kwargs)


@pytest.fixture
def api_client(app: Quart) -> ApiSignIn:
    """``await api_client(user, name="…")``: a new client of the API with a token of ``user``.

    The token's session row (kind "api") is issued directly, as ``POST /api/v1/tokens`` would
    issue it, minus argon2.
    """

    async def sign_in(user: User, *, name: str = "quart-app test kit") -> ApiClient:
        new = new_session(
            user=user,
            remember=True,
            user_agent="quart-app test kit",
            settings=get_settings(app),
            kind=API,
            name=name,
        )
        async with get_database(app).new_db() as db:
            await db.execute(new.write.statement, new.write.values)
            await db.commit()
        return ApiClient(app, new.token)

    return sign_in


@pytest.fixture
def totp_device(app: Quart) -> EnrolTotp:
    """``device = await totp_device(user)``: two-factor on for ``user`` with a new
    authenticator app and recovery codes (``device.recovery_codes``), without the pages;
    ``await device.fresh_code()`` is a code the app accepts now (``quart_app.testing.totp``)."""

    async def enrol(user: User, *, with_recovery_codes: bool = True) -> TotpDevice:
        return await enrol_totp(app, user, with_recovery_codes=with_recovery_codes)

    return enrol


@pytest.fixture
def csrf_token() -> ReadToken:
    """``await csrf_token(client, "/path")``: the CSRF token of the form on that page."""

    async def read(client: QuartClient, path: str) -> str:
        response = await client.get(path)
        match = CSRF_INPUT.search(await response.get_data(as_text=True))
        assert match, f"{path} answered {response.status_code} without a csrf_token field"
        return match.group(1)

    return read


@pytest.fixture(scope="module")
def live_server_env() -> Mapping[str, str]:
    """Settings for ``live_server`` beyond the kit's (fast hashing, plain HTTP, no per-IP limits);
    override to add some, e.g. ``{"THROTTLE_LOGIN_PER_MINUTE": "30"}``."""
    return {}


@pytest.fixture(scope="module")
def live_server_app() -> str:
    """The ASGI app ``live_server`` runs (``module:attribute``, as hypercorn takes it)."""
    return DEFAULT_APP


@pytest.fixture(scope="module")
def live_server_config() -> Path | None:
    """A hypercorn config file for ``live_server`` (None: hypercorn's defaults); the kit always
    binds a free loopback port and runs two workers."""
    return None


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory,
    live_server_env: Mapping[str, str],
    live_server_app: str,
    live_server_config: Path | None,
) -> Iterator[LiveServer]:
    """A real hypercorn (two workers) on a free loopback port, for the module's tests; its
    ``base_url`` is where it answers. Stopped, workers and all, when the module is done."""
    instance_path = tmp_path_factory.mktemp("live-server")
    env = server_environment(instance_path, secret_key=TEST_SECRET_KEY, extra=live_server_env)
    log_path = instance_path.parent / f"{instance_path.name}.log"
    with run_server(
        live_server_app,
        env=env,
        log_path=log_path,
        config=live_server_config,
        workers=WORKERS,
        access_log=True,
    ) as server:
        yield server

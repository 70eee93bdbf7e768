"""Register, log in, log out: the forms and what happens when they are sent."""

from __future__ import annotations

from datetime import timedelta

from quart import Blueprint, flash, redirect, render_template, request, session
from quart_auth import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.auth_user import AccountGone, end_session, start_session
from quart_app.client_ip import client_ip
from quart_app.db import get_db
from quart_app.events import EventKind, record_event, record_event_unless_recent
from quart_app.forms import field, read_form
from quart_app.passwords import password_problems
from quart_app.redirects import is_safe_next, safe_next
from quart_app.state import get_hasher, get_settings, get_throttle, get_trusted_proxies
from quart_app.throttle import Throttled
from quart_app.users import (
    UsernameTaken,
    authenticate,
    create_user,
    find_user,
    normalise_username,
    username_problems,
)

bp = Blueprint("auth", __name__)

GENERIC_LOGIN_ERROR = "Invalid username or password."
# At most one "login_throttled" line per account this often, however many attempts are refused.
THROTTLED_EVENT_INTERVAL = timedelta(minutes=15)
Page = str | tuple[str, int] | tuple[str, int, dict[str, str]] | WerkzeugResponse


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")


def _fresh_browser_session() -> None:
    """Drop everything kept in the Quart session (CSRF token, flashes) when identity changes."""
    session.clear()


async def _register_page(status: int = 200, **context: object) -> tuple[str, int]:
    return await render_template("auth/register.html", **context), status


async def _login_page(
    status: int = 200, headers: dict[str, str] | None = None, **context: object
) -> tuple[str, int, dict[str, str]]:
    next_target = request.args.get("next")
    context.setdefault("next", next_target if is_safe_next(next_target) else None)
    return await render_template("auth/login.html", **context), status, headers or {}


@bp.route("/register", methods=["GET", "POST"])
async def register() -> Page:
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await _register_page()
    form = await read_form()
    username = normalise_username(field(form, "username"))
    password = field(form, "password")
    settings = get_settings()
    errors = {
        "username": username_problems(username),
        "password": password_problems(
            password,
            min_length=settings.PASSWORD_MIN_LENGTH,
            max_length=settings.PASSWORD_MAX_LENGTH,
            username=username,
        ),
    }
    if any(errors.values()):
        return await _register_page(400, username=username, errors=errors)
    hasher = get_hasher()
    try:
        user = await create_user(get_db(), username=username, password=password, hasher=hasher)
    except UsernameTaken:
        errors["username"] = ["That username is taken. Choose another one."]
        return await _register_page(409, username=username, errors=errors)
    _fresh_browser_session()
    await start_session(user, remember=False, user_agent=_user_agent(), event=EventKind.REGISTERED)
    await flash(f"Welcome, {user.username}. Your account is ready.", "success")
    return redirect("/", 303)


@bp.route("/login", methods=["GET", "POST"])
async def login() -> Page:
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await _login_page()
    form = await read_form()
    username = field(form, "username")
    password = field(form, "password")
    remember = field(form, "remember") in {"on", "1", "true", "yes"}
    errors = {
        "username": [] if username.strip() else ["Enter your username."],
        "password": [] if password else ["Enter your password."],
    }
    if any(errors.values()):
        return await _login_page(400, username=username, remember=remember, errors=errors)
    settings = get_settings()
    ip = client_ip(get_trusted_proxies())
    throttle = get_throttle()
    try:
        pair_has_failures = await throttle.check_login(ip, username)
    except Throttled as throttled:
        # Refused before any argon2 work: guessing gets no cheaper by hammering.
        if (user := await find_user(get_db(), username)) is not None:
            await record_event_unless_recent(
                user.id, EventKind.LOGIN_THROTTLED, THROTTLED_EVENT_INTERVAL
            )
        return await _login_page(
            429,
            {"Retry-After": str(throttled.retry_after_seconds)},
            username=username,
            login_error=GENERIC_LOGIN_ERROR,
            retry_after=throttled.retry_after_seconds,
        )
    attempt = await authenticate(
        get_db(),
        username=username,
        password=password,
        hasher=get_hasher(),
        max_password_length=settings.PASSWORD_MAX_LENGTH,
    )
    if not attempt.ok or attempt.user is None:
        await throttle.record_failure(ip, username)
        if attempt.user is not None:
            await record_event(attempt.user.id, EventKind.LOGIN_FAILED)
        return await _login_page(
            401, username=username, remember=remember, login_error=GENERIC_LOGIN_ERROR
        )
    if pair_has_failures:
        await throttle.record_success(ip, username)
    _fresh_browser_session()
    try:
        await start_session(
            attempt.user,
            remember=remember,
            user_agent=_user_agent(),
            event=EventKind.LOGIN_SUCCEEDED,
        )
    except AccountGone:  # deleted while the password was checked: nobody to sign in
        return await _login_page(
            401, username=username, remember=remember, login_error=GENERIC_LOGIN_ERROR
        )
    await flash(f"Signed in as {attempt.user.username}.", "success")
    return redirect(safe_next(request.args.get("next")), 303)


@bp.route("/logout", methods=["GET", "POST"])
async def logout() -> Page:
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        # Old links to GET /logout still land somewhere useful, but only a POST (with its CSRF
        # token) signs out: a cross-site <img src="/logout"> must not end anybody's session.
        return await render_template("auth/logout.html")
    if (active := await current_user.load()) is not None:
        await record_event(active.user_id, EventKind.LOGGED_OUT)
    await end_session(current_user)
    _fresh_browser_session()
    response = redirect("/", 303)
    # Ask the browser to drop every cookie and storage of this site (a shared computer's next
    # user). No flash message: a browser that obeys clears the cookie it would travel in; the
    # home page, signed out, is the confirmation.
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    return response

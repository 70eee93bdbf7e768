"""Register, log in, log out: the forms and what happens when they are sent."""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request, session, url_for
from quart_auth import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.accounts.models import User
from quart_app.accounts.users import UsernameTaken, create_user
from quart_app.authn.flow import AttemptThrottled, PasswordRefused, check_password
from quart_app.authn.second_factor import PENDING_SIGN_IN, begin_second_factor
from quart_app.authn.sign_in import AccountGone, start_session
from quart_app.authn.sign_out import SignOutReason, sign_out
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, add_event, request_user_agent
from quart_app.metrics.instruments import count_login
from quart_app.recovery.email_confirmation import offer_address
from quart_app.sessions.models import BROWSER
from quart_app.state import get_hasher, get_settings
from quart_app.validation import InputRejected, LoginInput, RegisterInput, check
from quart_app.web.forms import form_input, read_form
from quart_app.web.pages import PageWithHeaders, page_with_headers
from quart_app.web.redirects import is_safe_next, safe_next
from quart_app.web.route_policy import counted_as, hashes_password, rate_limited

bp = Blueprint("auth", __name__)

GENERIC_LOGIN_ERROR = "Invalid username or password."
USERNAME_TAKEN = "That username is taken. Choose another one."
Page = str | tuple[str, int] | PageWithHeaders | WerkzeugResponse


def _fresh_browser_session() -> None:
    """Drop everything kept in the Quart session (CSRF token, flashes) when identity changes."""
    session.clear()


async def _register_page(status: int = 200, **context: object) -> tuple[str, int]:
    return await render_template("auth/register.html", **context), status


async def _login_page(
    status: int = 200, headers: dict[str, str] | None = None, **context: object
) -> PageWithHeaders:
    next_target = request.args.get("next")
    context.setdefault("next", next_target if is_safe_next(next_target) else None)
    return page_with_headers(await render_template("auth/login.html", **context), status, headers)


async def _already_signed_in(*, registering: bool) -> tuple[str, int]:
    """Instead of the form (200), or of acting on one a signed-in browser sent (403, nothing
    changed): who it is, a way on, and a way out first. Signing in or registering here would
    replace the session without saying so."""
    next_target = request.args.get("next")
    page = await render_template(
        "auth/signed_in.html",
        registering=registering,
        next=next_target if is_safe_next(next_target) else url_for("main.dashboard"),
    )
    return page, 200 if request.method != "POST" else 403


@bp.route("/register", methods=["GET", "POST"])
@hashes_password
@counted_as("registration")
@rate_limited("THROTTLE_REGISTER_PER_MINUTE")
async def register() -> Page:
    if await current_user.is_authenticated:
        return await _already_signed_in(registering=True)
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await _register_page()
    sent = form_input(await read_form(), RegisterInput)
    try:
        entered = check(RegisterInput, sent, settings=get_settings())
    except InputRejected as rejected:
        # The name as understood (NFKC, trimmed) when only the rules refused it, else as sent.
        shown = getattr(rejected.value, "username", sent["username"])
        return await _register_page(
            400, username=shown, email=sent["email"], errors=rejected.by_field()
        )
    hasher = get_hasher()
    db = get_db()
    try:
        user = await create_user(
            db, username=entered.username, password=entered.password, hasher=hasher
        )
    except UsernameTaken:
        await db.rollback()
        errors = {"username": [USERNAME_TAKEN]}
        return await _register_page(
            409, username=entered.username, email=entered.email, errors=errors
        )
    await add_event(db, user.id, EventKind.REGISTERED)
    if entered.address:
        await offer_address(db, user, entered.address)  # its link, in the account's transaction
    await db.commit()  # the account and its first event; the session is written on its own
    _fresh_browser_session()
    await start_session(user, remember=False, user_agent=request_user_agent(), event=None)
    welcome = f"Welcome, {user.username}. Your account is ready."
    if entered.address:
        welcome += f" Check your inbox at {entered.address}: the link in it confirms the address."
    await flash(welcome, "success")
    return redirect("/", 303)


@bp.route("/login", methods=["GET", "POST"])
@hashes_password
@counted_as("login")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
async def login() -> Page:
    if await current_user.is_authenticated:
        return await _already_signed_in(registering=False)
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await _login_page()
    sent = form_input(await read_form(), LoginInput)
    try:
        entered = check(LoginInput, sent, settings=get_settings())
    except InputRejected as rejected:
        refill = {"username": sent["username"], "remember": sent["remember"]}
        if rejected.stage == "schema":
            # Longer than any username or password can be: no account matches, as for a wrong
            # password (the same 401 and message), only without the argon2 work.
            return await _login_page(401, None, login_error=GENERIC_LOGIN_ERROR, **refill)
        return await _login_page(400, None, errors=rejected.by_field(), **refill)
    username, password, remember = entered.username, entered.password, entered.remember
    outcome = await check_password(username, password)
    if isinstance(outcome, AttemptThrottled):
        return await _login_page(
            429,
            {"Retry-After": str(outcome.retry_after_seconds)},
            username=username,
            login_error=GENERIC_LOGIN_ERROR,
            retry_after=outcome.retry_after_seconds,
        )
    if isinstance(outcome, PasswordRefused):
        return await _login_page(
            401, username=username, remember=remember, login_error=GENERIC_LOGIN_ERROR
        )
    if outcome.user.two_factor_since is not None:
        try:
            return await _ask_for_second_factor(outcome.user, remember=remember)
        except AccountGone:  # deleted while the password was checked
            return await _login_page(
                401, username=username, remember=remember, login_error=GENERIC_LOGIN_ERROR
            )
    _fresh_browser_session()
    try:
        await start_session(
            outcome.user,
            remember=remember,
            user_agent=request_user_agent(),
            event=EventKind.LOGIN_SUCCEEDED,
        )
    except AccountGone:  # deleted while the password was checked: nobody to sign in
        return await _login_page(
            401, username=username, remember=remember, login_error=GENERIC_LOGIN_ERROR
        )
    await flash(f"Signed in as {outcome.user.username}.", "success")
    return redirect(safe_next(request.args.get("next")), 303)


async def _ask_for_second_factor(user: User, *, remember: bool) -> WerkzeugResponse:
    """The password was right and the account has two-factor on: no session yet, only a
    pending sign-in that remembers the account, ``next`` and "remember me" server-side."""
    next_target = request.args.get("next")
    db = get_db()
    token = await begin_second_factor(
        db,
        user,
        kind=BROWSER,
        next_path=next_target if is_safe_next(next_target) else None,
        remember=remember,
    )
    try:
        await db.commit()
    except IntegrityError:  # the account's row is gone: its foreign key refused the step
        await db.rollback()
        raise AccountGone() from None
    count_login("second_factor_required")
    _fresh_browser_session()
    session[PENDING_SIGN_IN] = token
    return redirect(url_for("second_factor.login_step"), 303)


@bp.route("/logout", methods=["GET", "POST"])
async def logout() -> Page:
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        # Old links to GET /logout still land somewhere useful, but only a POST (with its CSRF
        # token) signs out: a cross-site <img src="/logout"> must not end anybody's session.
        return await render_template("auth/logout.html")
    if (active := await current_user.load()) is not None:
        await add_event(get_db(), active.user_id, EventKind.LOGGED_OUT)
    return await sign_out(SignOutReason.LOGGED_OUT)

"""Passkeys: the account's list (add, remove), signing in with one, and one as the second
factor after a password. The ceremonies' options and answers travel as JSON between the
app's script (static/passkeys.js) and these routes; every POST carries the CSRF token in the
X-CSRF-Token header. Adding and removing need the current password, or a sign-in less than
RECENT_SIGN_IN old. Everything else on these pages works without JavaScript."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from quart import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from quart_auth import login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.accounts.models import User
from quart_app.accounts.users import get_user
from quart_app.authn.factor_change import finish_factor_change
from quart_app.authn.second_factor import (
    PENDING_SIGN_IN,
    SecondFactorPassed,
    complete_pending,
    pending_step,
)
from quart_app.authn.sign_in import AccountGone, start_session
from quart_app.core.clock import utcnow
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, request_user_agent
from quart_app.mfa.passkeys import (
    NAME_MAX,
    SECOND_FACTOR,
    SIGN_IN,
    PasskeyRefused,
    RelyingParty,
    add_passkey,
    authentication_options,
    list_passkeys,
    registration_options,
    remove_passkey,
    use_passkey,
)
from quart_app.sessions.models import BROWSER
from quart_app.sessions.store import SignedIn
from quart_app.state import get_settings
from quart_app.validation.inputs import NOT_CURRENT, PASSWORD_INPUT_MAX
from quart_app.views.signed_in import (
    active_session,
    current_password_refused,
    signed_in_account,
    signed_out_elsewhere,
)
from quart_app.web.forms import field, read_form
from quart_app.web.redirects import is_safe_next, safe_next
from quart_app.web.route_policy import form_page, hashes_password, rate_limited

bp = Blueprint("passkeys", __name__)
RECENT_SIGN_IN = timedelta(minutes=5)
JsonAnswer = Response | tuple[Response, int]
Page = str | tuple[str, int] | WerkzeugResponse
ENTER_CURRENT = "Enter your current password."


def _refused(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": message}), status


async def _json_object() -> dict[str, Any] | None:
    """The body as a JSON object, or None (not JSON, or not an object)."""
    body = await request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _relying_party() -> RelyingParty:
    return RelyingParty.of(get_settings())


def _signed_in_recently(active: SignedIn) -> bool:
    return utcnow() - active.created_at < RECENT_SIGN_IN


async def _confirmed(active: SignedIn, user: User, password: object) -> str | None:
    """None when the current password (or a recent sign-in) allows a change; else the error."""
    if isinstance(password, str) and password:
        if len(password) > PASSWORD_INPUT_MAX or await current_password_refused(user, password):
            return NOT_CURRENT
        return None
    return None if _signed_in_recently(active) else ENTER_CURRENT


# --- the account's passkeys -----------------------------------------------------------------


@bp.get("/account/passkeys")
@login_required
async def manage() -> Page:
    return await _manage_page(await active_session())


async def _manage_page(active: SignedIn, status: int = 200, **context: object) -> Page:
    db = get_db()
    passkeys = await list_passkeys(db, active.user_id)
    await db.commit()
    page = await render_template(
        "account/passkeys.html",
        passkeys=passkeys,
        recent=_signed_in_recently(active),
        name_max=NAME_MAX,
        **context,
    )
    return page, status


@bp.post("/account/passkeys/options")
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def add_options() -> JsonAnswer:
    active = await active_session()
    user = await signed_in_account(active)
    body = await _json_object()
    if body is None:
        return _refused("Send a JSON object.")
    name = body.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if len(name) > NAME_MAX:
        return _refused(f"Use at most {NAME_MAX} characters for the name.")
    if (problem := await _confirmed(active, user, body.get("current_password"))) is not None:
        return _refused(problem, 403)
    db = get_db()
    options = await registration_options(
        db,
        _relying_party(),
        user_id=user.id,
        username=user.username,
        session_id=active.id,
        name=name or "Passkey",
    )
    await db.commit()
    return jsonify(options)


@bp.post("/account/passkeys")
@login_required
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def add() -> JsonAnswer:
    active = await active_session()
    body = await _json_object()
    if body is None or not isinstance(body.get("credential"), dict):
        return _refused("Send the ceremony and the authenticator's credential.")
    db = get_db()
    try:
        name = await add_passkey(
            db,
            _relying_party(),
            user_id=active.user_id,
            session_id=active.id,
            ceremony=body.get("ceremony"),  # type: ignore[arg-type]  # checked there
            credential=body["credential"],
        )
    except PasskeyRefused as refused:
        await db.commit()  # the ceremony is used up all the same
        return _refused(str(refused))
    user = await get_user(db, active.user_id)
    if user is None:
        await db.rollback()
        return _refused("The account no longer exists.", 401)
    ended = await finish_factor_change(db, active, user, EventKind.PASSKEY_ADDED, passkey_name=name)
    await flash(f"Passkey “{name}” added. {signed_out_elsewhere(ended)}", "success")
    return jsonify({"redirect": url_for("passkeys.manage")})


@bp.post("/account/passkeys/<int(max=2147483647):passkey_id>/remove")
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
@form_page("passkeys.manage")
async def remove(passkey_id: int) -> Page:
    active = await active_session()
    user = await signed_in_account(active)
    password = field(await read_form(), "current_password")
    if (problem := await _confirmed(active, user, password)) is not None:
        errors = {"current_password": [problem]}
        return await _manage_page(active, 400, errors=errors, failed_passkey=passkey_id)
    db = get_db()
    name = await remove_passkey(db, user_id=user.id, passkey_id=passkey_id)
    if name is None:
        await db.rollback()
        await flash("That passkey was removed already.", "error")
        return redirect(url_for("passkeys.manage"), 303)
    ended = await finish_factor_change(
        db, active, user, EventKind.PASSKEY_REMOVED, passkey_name=name
    )
    await flash(f"Passkey “{name}” removed. {signed_out_elsewhere(ended)}", "success")
    return redirect(url_for("passkeys.manage"), 303)


# --- signing in with one --------------------------------------------------------------------


@bp.post("/login/passkey/options")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
async def sign_in_options() -> JsonAnswer:
    db = get_db()
    options = await authentication_options(db, _relying_party(), purpose=SIGN_IN)
    await db.commit()
    return jsonify(options)


@bp.post("/login/passkey")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
async def sign_in() -> JsonAnswer:
    """A passkey with user verification is a full sign-in: neither password nor code."""
    body = await _json_object()
    if body is None or not isinstance(body.get("credential"), dict):
        return _refused("Send the ceremony and the authenticator's credential.")
    db = get_db()
    try:
        used = await use_passkey(
            db,
            _relying_party(),
            purpose=SIGN_IN,
            ceremony=body.get("ceremony"),  # type: ignore[arg-type]  # checked there
            credential=body["credential"],
        )
    except PasskeyRefused as refused:
        await db.commit()
        return _refused(str(refused), 401)
    user = await get_user(db, used.user_id)
    await db.commit()
    if user is None or user.locked_at is not None:  # gone, or locked by an operator
        return _refused("That passkey cannot sign in here.", 401)
    return await _start(user, remember=False, next_path=request.args.get("next"))


async def _start(user: User, *, remember: bool, next_path: str | None) -> JsonAnswer:
    session.clear()  # a fresh browser session: no pending sign-in, a new CSRF token
    try:
        await start_session(
            user,
            remember=remember,
            user_agent=request_user_agent(),
            event=EventKind.LOGIN_SUCCEEDED,
        )
    except AccountGone:
        return _refused("That passkey is not registered here.", 401)
    await flash(f"Signed in as {user.username}.", "success")
    target = next_path if is_safe_next(next_path) else None
    return jsonify({"redirect": safe_next(target)})


# --- a passkey as the second factor ---------------------------------------------------------


@bp.post("/login/two-factor/passkey/options")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
async def second_factor_options() -> JsonAnswer:
    token = session.get(PENDING_SIGN_IN)
    db = get_db()
    step = await pending_step(db, token, BROWSER) if isinstance(token, str) else None
    if step is None:
        await db.commit()
        return _refused("That sign-in has expired. Sign in again.", 401)
    options = await authentication_options(
        db, _relying_party(), purpose=SECOND_FACTOR, user_id=step.user_id
    )
    await db.commit()
    return jsonify(options)


@bp.post("/login/two-factor/passkey")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
async def second_factor() -> JsonAnswer:
    token = session.get(PENDING_SIGN_IN)
    body = await _json_object()
    if body is None or not isinstance(body.get("credential"), dict):
        return _refused("Send the ceremony and the authenticator's credential.")
    db = get_db()
    step = await pending_step(db, token, BROWSER) if isinstance(token, str) else None
    if step is None or not isinstance(token, str):
        await db.commit()
        return _refused("That sign-in has expired. Sign in again.", 401)
    try:
        await use_passkey(
            db,
            _relying_party(),
            purpose=SECOND_FACTOR,
            ceremony=body.get("ceremony"),  # type: ignore[arg-type]  # checked there
            credential=body["credential"],
            user_id=step.user_id,
        )
    except PasskeyRefused as refused:
        await db.commit()
        return _refused(str(refused), 401)
    outcome = await complete_pending(db, token, BROWSER, step)
    if not isinstance(outcome, SecondFactorPassed):
        return _refused("That sign-in has expired. Sign in again.", 401)
    return await _start(outcome.user, remember=step.remember, next_path=step.next_path)

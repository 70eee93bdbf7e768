"""Account pages: password, e-mail address, sessions, activity, delete. Signed-in only."""

from __future__ import annotations

from quart import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from quart_auth import Unauthorized, login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.accounts.users import delete_user, get_user
from quart_app.authn.flow import reauthenticate
from quart_app.authn.password_change import stage_password_change
from quart_app.authn.sign_in import resume_session
from quart_app.authn.sign_out import SignOutReason, sign_out
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, add_event, recent_events
from quart_app.events.notices import queue_notice
from quart_app.recovery.email_confirmation import offer_address, pending_address, resend_wait
from quart_app.sessions.models import API
from quart_app.sessions.store import (
    SignedIn,
    ended_event,
    list_user_sessions,
    revoke_other_sessions,
    revoke_user_session,
    rotate_session_token,
)
from quart_app.state import get_settings
from quart_app.validation import (
    AccountDeleteInput,
    EmailChangeInput,
    InputRejected,
    PasswordChangeInput,
    check,
    enforce,
    parse,
)
from quart_app.validation.inputs import CONFIRM_DELETION, NOT_CURRENT
from quart_app.views.signed_in import (
    active_session,
    current_password_refused,
    signed_in_account,
    signed_out_elsewhere,
)
from quart_app.web.forms import form_input, read_form
from quart_app.web.route_policy import form_page, hashes_password, rate_limited

bp = Blueprint("account", __name__, url_prefix="/account")
Page = str | tuple[str, int] | WerkzeugResponse


@bp.route("/password", methods=["GET", "POST"])
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def password() -> Page:
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await render_template("account/password.html")
    active = await active_session()
    user = await signed_in_account(active)
    settings = get_settings()
    try:
        entered = parse(
            PasswordChangeInput,
            form_input(await read_form(), PasswordChangeInput),
            settings=settings,
        )
        refused = await current_password_refused(user, entered.current_password)
        enforce(
            entered, settings=settings, username=user.username, current_password_refused=refused
        )
    except InputRejected as rejected:
        return await render_template("account/password.html", errors=rejected.by_field()), 400
    db = get_db()
    ended = await stage_password_change(db, user, entered.new_password, keep_session_id=active.id)
    if ended is None:
        # Another change (or a deletion) committed since the current password was checked.
        await db.rollback()
        if await get_user(db, active.user_id) is None:
            raise Unauthorized()  # signed out meanwhile: to the login page
        errors = {"current_password": [NOT_CURRENT]}
        return await render_template("account/password.html", errors=errors), 400
    token = await rotate_session_token(db, active.id)  # a copy of the old cookie dies too
    await db.commit()  # the new hash, the ended sessions, the new id, the event: one transaction
    resume_session(token, active)
    await flash(f"Your password was changed. {signed_out_elsewhere(ended)}", "success")
    return redirect(url_for("account.password"), 303)


@bp.route("/email", methods=["GET", "POST"])
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def email() -> Page:
    active = await active_session()
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await _email_page(active)
    user = await signed_in_account(active)
    settings = get_settings()
    try:
        entered = parse(
            EmailChangeInput, form_input(await read_form(), EmailChangeInput), settings=settings
        )
        refused = await current_password_refused(user, entered.current_password)
        enforce(entered, settings=settings, current_password_refused=refused)
    except InputRejected as rejected:
        sent = getattr(rejected.value, "email", None)
        return await _email_page(active, 400, errors=rejected.by_field(), entered=sent)
    address = entered.address
    db = get_db()
    await offer_address(db, user, address)
    await db.commit()
    # The same answer whoever holds the address: the page tells nobody who has an account.
    await flash(f"Check your inbox at {address}: the link in it confirms the address.", "success")
    return redirect(url_for("account.email"), 303)


@bp.post("/email/resend")
@login_required
@form_page("account.email")
async def resend_email() -> WerkzeugResponse:
    active = await active_session()
    db = get_db()
    pending = await pending_address(db, active.user_id)
    wait = await resend_wait(db, active.user_id)
    if pending is None:
        await db.commit()
        await flash("There is no address waiting for confirmation.", "error")
    elif wait:
        await db.commit()
        await flash(f"The link was sent moments ago. Send it again in {wait} seconds.", "error")
    else:
        user = await get_user(db, active.user_id)
        if user is None:
            raise Unauthorized()
        await offer_address(db, user, pending)
        await db.commit()
        await flash(f"A new link is on its way to {pending}.", "success")
    return redirect(url_for("account.email"), 303)


async def _email_page(active: SignedIn, status: int = 200, **context: object) -> tuple[str, int]:
    db = get_db()
    user = await get_user(db, active.user_id)
    pending = await pending_address(db, active.user_id)
    await db.commit()
    if user is None:
        raise Unauthorized()
    page = await render_template(
        "account/email.html", address=user.email, pending=pending, **context
    )
    return page, status


@bp.get("/sessions")
@login_required
async def sessions() -> str:
    active = await active_session()
    listings = await list_user_sessions(
        get_db(),
        user_id=active.user_id,
        current_id=active.id,
        settings=get_settings(),
    )
    return await render_template("account/sessions.html", sessions=listings)


# max: a larger id is no session of anybody's (a 404), not an integer the database overflows on:
# sessions.id is an INTEGER, 32 bits on PostgreSQL, where asyncpg refuses a wider value (a 503).
@bp.post("/sessions/<int(max=2147483647):session_id>/revoke")
@login_required
@form_page("account.sessions")
async def revoke(session_id: int) -> WerkzeugResponse:
    active = await active_session()
    # Scoped by user: another user's session id is "not found", never revoked or revealed.
    db = get_db()
    kind = await revoke_user_session(db, user_id=active.user_id, session_id=session_id)
    if kind is None:
        abort(404)
    await add_event(db, active.user_id, ended_event(kind))
    if session_id == active.id:
        return await sign_out(SignOutReason.SESSION_ENDED)  # commits the revocation and event
    await db.commit()
    await flash("The token was revoked." if kind == API else "The session was ended.", "success")
    return redirect(url_for("account.sessions"), 303)


@bp.post("/sessions/revoke-others")
@login_required
@form_page("account.sessions")
async def revoke_others() -> WerkzeugResponse:
    active = await active_session()
    db = get_db()
    ended = await revoke_other_sessions(db, user_id=active.user_id, keep_id=active.id)
    if ended:
        await add_event(db, active.user_id, EventKind.SESSION_REVOKED)
    await db.commit()
    await flash(signed_out_elsewhere(ended), "success")
    return redirect(url_for("account.sessions"), 303)


@bp.get("/activity")
@login_required
async def activity() -> str:
    active = await active_session()
    events = await recent_events(get_db(), active.user_id)
    return await render_template("account/activity.html", events=events)


@bp.route("/delete", methods=["GET", "POST"])
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def delete() -> Page:
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await render_template("account/delete.html")
    user = await signed_in_account(await active_session())
    try:
        entered = check(
            AccountDeleteInput,
            form_input(await read_form(), AccountDeleteInput),
            settings=get_settings(),
        )
    except InputRejected as rejected:
        return await render_template("account/delete.html", errors=rejected.by_field()), 400
    if not await reauthenticate(user, entered.password):
        errors = {"password": [CONFIRM_DELETION]}
        return await render_template("account/delete.html", errors=errors), 400
    db = get_db()
    if user.email:  # the notice has no tie to the account: it outlives it, in the same commit
        await queue_notice(db, "account_deleted", to=user.email, username=user.username)
    await delete_user(db, user.id)
    return await sign_out(SignOutReason.ACCOUNT_DELETED)  # one commit: the account and this session

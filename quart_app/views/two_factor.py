"""Two-factor on the account pages: its state, enrolling an authenticator app, replacing the
recovery codes, turning it off. Every change needs the current password, is an activity event
and a mailed notice, and ends the account's other sessions (this one gets a new id)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import segno
from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart_auth import login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.accounts.models import User
from quart_app.accounts.users import get_user
from quart_app.authn.factor_change import finish_factor_change
from quart_app.core.database import get_db
from quart_app.events.log import EventKind
from quart_app.mfa import totp
from quart_app.mfa.authenticator import confirm_enrolment, enrolment_secret, turn_off
from quart_app.mfa.passkeys import count_passkeys
from quart_app.mfa.recovery_codes import codes_left, replace_codes
from quart_app.sessions.store import SignedIn
from quart_app.state import get_secret_box, get_settings
from quart_app.validation import (
    CurrentPasswordInput,
    InputRejected,
    TotpConfirmInput,
    enforce,
    parse,
)
from quart_app.views.signed_in import (
    active_session,
    current_password_refused,
    signed_in_account,
    signed_out_elsewhere,
)
from quart_app.web.forms import form_input, read_form
from quart_app.web.route_policy import form_page, hashes_password, rate_limited

bp = Blueprint("two_factor", __name__, url_prefix="/account/two-factor")
Page = str | tuple[str, int] | WerkzeugResponse
CODE_NOT_RIGHT = (
    "That code is not right. Check that the time on your device is set automatically, "
    "then enter the code it shows now."
)


@bp.get("")
@login_required
async def overview() -> Page:
    return await _overview_page(await active_session())


async def _overview_page(active: SignedIn, status: int = 200, **context: object) -> Page:
    db = get_db()
    user = await get_user(db, active.user_id)
    left = await codes_left(db, active.user_id)
    passkey_count = await count_passkeys(db, active.user_id)
    await db.commit()
    if user is None:
        return redirect(url_for("auth.login"), 303)
    page = await render_template(
        "account/two_factor.html",
        since=user.two_factor_since,
        codes_left=left,
        passkey_count=passkey_count,
        **context,
    )
    return page, status


@bp.route("/totp", methods=["GET", "POST"])
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def enrol() -> Page:
    active = await active_session()
    user = await signed_in_account(active)
    if user.two_factor_since is not None:
        await flash("Two-factor sign-in is already on.", "error")
        return redirect(url_for("two_factor.overview"), 303)
    username = user.username  # the row expires if a refused code rolls the transaction back
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        return await _enrolment_page(active, username)
    settings = get_settings()
    try:
        entered = parse(
            TotpConfirmInput, form_input(await read_form(), TotpConfirmInput), settings=settings
        )
        refused = await current_password_refused(user, entered.current_password)
        enforce(entered, settings=settings, current_password_refused=refused)
    except InputRejected as rejected:
        return await _enrolment_page(active, username, 400, errors=rejected.by_field())
    db = get_db()
    code = totp.normalise_code(entered.code) or ""
    if not await confirm_enrolment(
        db, session_id=active.id, user_id=user.id, code=code, box=get_secret_box()
    ):
        await db.rollback()
        return await _enrolment_page(active, username, 400, errors={"code": [CODE_NOT_RIGHT]})
    codes = await replace_codes(db, user.id)
    ended = await finish_factor_change(db, active, user, EventKind.TWO_FACTOR_ENABLED)
    await flash(f"Two-factor sign-in is on. {signed_out_elsewhere(ended)}", "success")
    return await render_template("account/recovery_codes.html", codes=codes, first_set=True)


async def _enrolment_page(
    active: SignedIn, username: str, status: int = 200, **context: object
) -> tuple[str, int]:
    db = get_db()
    secret = await enrolment_secret(
        db, session_id=active.id, user_id=active.user_id, box=get_secret_box()
    )
    await db.commit()
    issuer = urlsplit(get_settings().PUBLIC_URL).hostname or "quart_app"
    uri = totp.provisioning_uri(secret, account=username, issuer=issuer)
    qr_svg = await asyncio.to_thread(_qr_svg, uri)  # some milliseconds of pure Python
    page = await render_template(
        "account/totp.html",
        qr_svg=qr_svg,
        secret=totp.grouped(secret),
        uri=uri,
        **context,
    )
    return page, status


def _qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (an <img> with a data: URL is blocked by the CSP);
    dark on a light quiet zone, so dark mode does not invert it into something unreadable."""
    return segno.make(uri, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title="QR code for your authenticator app"
    )


@bp.post("/recovery-codes")
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
@form_page("two_factor.overview")
async def recovery_codes() -> Page:
    active = await active_session()
    user = await signed_in_account(active)
    if (refused := await _password_refused(active, user)) is not None:
        return refused
    if user.two_factor_since is None:
        await flash("Turn two-factor sign-in on first.", "error")
        return redirect(url_for("two_factor.overview"), 303)
    db = get_db()
    codes = await replace_codes(db, user.id)
    ended = await finish_factor_change(db, active, user, EventKind.RECOVERY_CODES_REPLACED)
    await flash(f"New recovery codes made. {signed_out_elsewhere(ended)}", "success")
    return await render_template("account/recovery_codes.html", codes=codes, first_set=False)


@bp.post("/disable")
@login_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
@form_page("two_factor.overview")
async def disable() -> Page:
    active = await active_session()
    user = await signed_in_account(active)
    if (refused := await _password_refused(active, user)) is not None:
        return refused
    db = get_db()
    if not await turn_off(db, user.id):
        await db.rollback()
        await flash("Two-factor sign-in was already off.", "error")
        return redirect(url_for("two_factor.overview"), 303)
    ended = await finish_factor_change(db, active, user, EventKind.TWO_FACTOR_DISABLED)
    await flash(f"Two-factor sign-in is off. {signed_out_elsewhere(ended)}", "success")
    return redirect(url_for("two_factor.overview"), 303)


async def _password_refused(active: SignedIn, user: User) -> Page | None:
    """The overview page with the error when the current password is missing or wrong."""
    settings = get_settings()
    try:
        entered = parse(
            CurrentPasswordInput,
            form_input(await read_form(), CurrentPasswordInput),
            settings=settings,
        )
        refused = await current_password_refused(user, entered.current_password)
        enforce(entered, settings=settings, current_password_refused=refused)
    except InputRejected as rejected:
        form = request.endpoint.rsplit(".", 1)[-1] if request.endpoint else ""
        return await _overview_page(active, 400, errors=rejected.by_field(), failed_form=form)
    return None

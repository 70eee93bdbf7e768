"""Recovery pages: asking for a reset link, and the pages mailed links open (confirming an
address, setting a new password).

A GET only shows a page with a button: mail scanners open links, and must not use them up.
The button POSTs (with the CSRF token) to the same URL, which is the only thing that does.
"""

from __future__ import annotations

from quart import Blueprint, current_app, flash, redirect, render_template, request, session
from quart_auth import current_user, logout_user
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.core.database import get_db
from quart_app.events.notices import notice_context
from quart_app.recovery.email_confirmation import ConfirmationRefused, confirm_address
from quart_app.recovery.models import CONFIRM_EMAIL, RESET_PASSWORD
from quart_app.recovery.password_reset import account_of_link, finish_reset, request_reset
from quart_app.recovery.tokens import peek_token
from quart_app.state import get_settings
from quart_app.validation import InputRejected, PasswordResetInput, check
from quart_app.web.client_ip import request_ip
from quart_app.web.forms import field, form_input, read_form
from quart_app.web.pages import PageWithHeaders, page_with_headers
from quart_app.web.route_policy import hashes_password, rate_limited

bp = Blueprint("recovery", __name__)
Page = str | PageWithHeaders | WerkzeugResponse
# The token is in the URL: no Referer may carry it to another site, and no cache may keep it.
LINK_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


async def _link_page(template: str, status: int = 200, **context: object) -> Page:
    return page_with_headers(await render_template(template, **context), status, LINK_PAGE_HEADERS)


@bp.route("/confirm-email/<string(maxlength=100):token>", methods=["GET", "POST"])
async def confirm_email(token: str) -> Page:
    db = get_db()
    if request.method != "POST":  # GET, and HEAD: only the page with its button
        live = await peek_token(db, token, CONFIRM_EMAIL)
        await db.commit()
        if live is None:
            return await _link_page("recovery/link_invalid.html", 400, purpose=CONFIRM_EMAIL)
        return await _link_page("recovery/confirm_email.html", address=live.email)
    try:
        confirmed = await confirm_address(db, token)
    except ConfirmationRefused as refused:
        await db.rollback()
        return await _link_page(
            "recovery/link_invalid.html", 409 if refused.taken else 400,
            purpose=CONFIRM_EMAIL, taken=refused.taken,
        )  # fmt: skip
    await db.commit()
    await flash(f"{confirmed.address} is now your account's address.", "success")
    signed_in = await current_user.is_authenticated
    return redirect("/account/email" if signed_in else "/login", 303)


# Limited per IP and per account per hour after the response (RESET_REQUESTS_PER_*), never with
# a 429: the page is the same whatever was typed, and however often.
@bp.route("/forgot-password", methods=["GET", "POST"])
async def forgot_password() -> Page:
    if request.method != "POST":  # GET, and HEAD: only the form
        return await _link_page("recovery/forgot_password.html")
    login = field(await read_form(), "login")
    if login.strip():
        # After the response: the page and its timing are the same whoever was named.
        current_app.add_background_task(request_reset, login, notice_context())
    return await _link_page("recovery/forgot_password_sent.html")


@bp.route("/reset-password/<string(maxlength=100):token>", methods=["GET", "POST"])
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
async def reset_password(token: str) -> Page:
    db = get_db()
    user = await account_of_link(db, token)
    await db.commit()  # end the read: no transaction stays open while argon2 runs
    if user is None:
        return await _link_page("recovery/link_invalid.html", 400, purpose=RESET_PASSWORD)
    if request.method != "POST":  # GET, and HEAD: the form; the token is not used up
        return await _link_page("recovery/reset_password.html", username=user.username)
    try:
        entered = check(
            PasswordResetInput,
            form_input(await read_form(), PasswordResetInput),
            settings=get_settings(),
            username=user.username,
        )
    except InputRejected as rejected:
        return await _link_page(
            "recovery/reset_password.html", 400,
            username=user.username, errors=rejected.by_field(),
        )  # fmt: skip
    ip = request_ip()
    if await finish_reset(db, token, entered.new_password, notice_context(), ip) is None:
        return await _link_page("recovery/link_invalid.html", 400, purpose=RESET_PASSWORD)
    if current_user.auth_id is not None:
        logout_user()  # whoever this browser was signed in as, that session has just ended
    session.clear()
    await flash("Your password was reset, and every session signed out. Log in with it.", "success")
    return redirect("/login", 303)

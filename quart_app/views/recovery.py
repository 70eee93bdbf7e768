"""The pages a mailed link opens: confirming an address (and, next, resetting a password).

A GET only shows a page with a button: mail scanners open links, and must not use them up.
The button POSTs (with the CSRF token) to the same URL, which is the only thing that does.
"""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request
from quart_auth import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.core.database import get_db
from quart_app.recovery.email_confirmation import ConfirmationRefused, confirm_address
from quart_app.recovery.models import CONFIRM_EMAIL
from quart_app.recovery.tokens import peek_token

bp = Blueprint("recovery", __name__)
Page = str | tuple[str, int, dict[str, str]] | WerkzeugResponse
# The token is in the URL: no Referer may carry it to another site, and no cache may keep it.
LINK_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


async def _link_page(template: str, status: int = 200, **context: object) -> Page:
    return await render_template(template, **context), status, LINK_PAGE_HEADERS


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

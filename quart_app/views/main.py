"""Public home page, the security and privacy page, and the signed-in dashboard."""

from __future__ import annotations

from quart import Blueprint, flash, render_template, request
from quart_auth import current_user, login_required

from quart_app.authn.sign_out import signed_out_message

bp = Blueprint("main", __name__)


@bp.get("/")
async def index() -> str:
    # Set after a sign-out whose Clear-Site-Data would have dropped a flash (authn.sign_out).
    if (message := signed_out_message(request.args.get("signed_out"))) is not None:
        await flash(message, "info")
    return await render_template("main/index.html")


@bp.get("/dashboard")
@login_required
async def dashboard() -> str:
    return await render_template("main/dashboard.html", session_info=await current_user.load())


@bp.get("/security")
async def security() -> str:
    """How accounts are protected and what is kept about their use, in plain words. (Not
    static content: its header shows who is signed in.)"""
    return await render_template("main/security.html")

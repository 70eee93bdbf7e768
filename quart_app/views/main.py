"""Public home page and the signed-in dashboard."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_auth import current_user, login_required

bp = Blueprint("main", __name__)


@bp.get("/")
async def index() -> str:
    return await render_template("main/index.html")


@bp.get("/dashboard")
@login_required
async def dashboard() -> str:
    return await render_template("main/dashboard.html", session_info=await current_user.load())

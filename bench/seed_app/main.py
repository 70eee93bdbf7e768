"""The tutorial's home page and its protected dashboard."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("main", __name__)


@bp.route("/")
def index() -> str:
    return render_template("index.html")


@bp.route("/dashboard")
@login_required
def dashboard() -> str:
    return render_template("dashboard.html")

"""The sync seed: the Flask-Login tutorial app this project is the asynchronous form of, for the
benchmark's comparison (bench/seed.py runs it under gunicorn with sync workers).

Faithful to the tutorial: Flask-SQLAlchemy, a ``User(db.Model, UserMixin)`` with werkzeug
password hashes, a ``user_loader`` that loads the user from the database on every request, the
login form signing in with ``login_user``, ``@login_required`` on /dashboard. Its templates mark
up about what this app's base and dashboard do: a nav with the username, a card of facts.

Configured from the environment: SEED_DATABASE_URI (SQLAlchemy URL) and SEED_SECRET_KEY, the
same for every worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
login_manager = LoginManager()
login_manager.login_view = "auth.login"  # Redirect here if not logged in


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("SEED_SECRET_KEY", ""),
        SQLALCHEMY_DATABASE_URI=os.environ.get("SEED_DATABASE_URI", "sqlite://"),
    )
    app.config.update(config or {})
    db.init_app(app)
    login_manager.init_app(app)

    from bench.seed_app import auth, main, models  # noqa: F401 - models: the user_loader

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    return app

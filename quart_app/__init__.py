"""An asynchronous user-authentication web app on Quart."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from quart import Quart
from quart_auth import QuartAuth

from quart_app import api, cli, maintenance
from quart_app.config import Settings
from quart_app.core import database
from quart_app.core.secret_key import load_or_create_secret_key
from quart_app.mail import serving as mail
from quart_app.metrics import serving as metrics_serving
from quart_app.mfa.encryption import SecretBox
from quart_app.passwords import hasher
from quart_app.passwords import policy as password_policy
from quart_app.sessions.current_user import SessionUser
from quart_app.state import SECRET_BOX, SETTINGS, SIGN_IN_COOKIE, TRUSTED_PROXIES, set_state
from quart_app.throttle import policy as throttle_policy
from quart_app.views import (
    account,
    auth,
    health,
    main,
    metrics,
    passkeys,
    recovery,
    second_factor,
    two_factor,
)
from quart_app.web import (
    admission,
    csrf,
    errors,
    headers,
    request_id,
    route_policy,
    templating,
)
from quart_app.web.client_ip import parse_networks
from quart_app.web.request_completion import CompletingHTTPConnection

__all__ = ["Settings", "create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Quart:
    """Build the app from the environment, with ``config`` (same option names) taking precedence."""
    overrides = dict(config or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("INSTANCE_PATH") or None
    settings = cli.load_settings(overrides)  # a bad value: one line from a command
    # Templates, static files and migrations are package data: a wheel install runs as is.
    app = Quart(__name__, instance_path=instance_path)
    app.asgi_http_class = CompletingHTTPConnection  # a client that leaves cancels no handler
    app.config.update(quart_config(settings, app.instance_path))
    set_state(app, SETTINGS, settings)
    set_state(app, TRUSTED_PROXIES, parse_networks(settings.TRUSTED_PROXIES))
    secret_box = SecretBox.for_app(
        settings.MFA_ENCRYPTION_KEYS, app.config["SECRET_KEY"], settings.SECRET_KEY_FALLBACKS
    )
    set_state(app, SECRET_BOX, secret_box)
    metrics_serving.init_app(app, settings.METRICS_ALLOW)  # first: its clock starts first

    database.init_app(
        app,
        settings.DATABASE_URL or database.default_database_url(app.instance_path),
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
    )
    hasher.init_app(app, settings)
    password_policy.init_app(app)
    set_state(app, SIGN_IN_COOKIE, QuartAuth(app, user_class=SessionUser))
    errors.init_app(app)  # first of the before-request hooks: 404 and 405 need no other work
    throttle_policy.init_app(app, settings)  # before CSRF: a flood is refused before any other work
    maintenance.init_app(app, settings)
    mail.init_app(app, settings)
    csrf.init_app(app)
    headers.init_app(app, https_only=settings.COOKIE_SECURE)
    templating.init_app(app, settings)

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(second_factor.bp)
    app.register_blueprint(two_factor.bp)
    app.register_blueprint(passkeys.bp)
    api.init_app(app)
    route_policy.mark_static_files(app)
    cli.init_app(app)
    admission.init_app(app, headers.security_headers(https_only=settings.COOKIE_SECURE))
    templating.drop_sync_context_processors(app)
    request_id.init_app(app)  # outermost: every answer carries the id, a shed 503 too
    return app


def quart_config(settings: Settings, instance_path: str) -> dict[str, Any]:
    """Quart's and quart-auth's own settings, derived from ours and set deliberately."""
    # __Host- (only when Secure): the browser then refuses the cookie unless it is Secure, Path=/
    # and has no Domain, so a sibling subdomain cannot plant or overwrite it.
    prefix = "__Host-" if settings.COOKIE_SECURE else ""
    return {
        "SECRET_KEY": settings.SECRET_KEY or load_or_create_secret_key(instance_path),
        "SECRET_KEY_FALLBACKS": list(settings.SECRET_KEY_FALLBACKS),
        "MAX_CONTENT_LENGTH": settings.MAX_CONTENT_LENGTH,
        "BODY_TIMEOUT": settings.REQUEST_BODY_TIMEOUT,
        # Quart's own cookie (CSRF token, flashed messages) defaults to SameSite=None, not Secure.
        "SESSION_COOKIE_NAME": f"{prefix}flash_csrf",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.COOKIE_SECURE,
        "QUART_AUTH_COOKIE_NAME": f"{prefix}auth",
        "QUART_AUTH_COOKIE_HTTP_ONLY": True,
        "QUART_AUTH_COOKIE_SAMESITE": "Lax",
        "QUART_AUTH_COOKIE_SECURE": settings.COOKIE_SECURE,
        # quart-auth's default is a year; the signature may live as long as a remembered session.
        # A cookie without "remember" is a browser-session cookie and its row expires far sooner.
        "QUART_AUTH_DURATION": settings.SESSION_REMEMBER_DURATION,
    }

"""The one place that reads and writes ``app.extensions``: typed accessors for the app's state.

Each worker's app holds its settings, database, hashing pool, throttle and trusted proxies
here. Reading them by string key elsewhere loses the types and spreads the key names; every
module asks this one instead. Without ``app``, the accessors use the current app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Quart, current_app

if TYPE_CHECKING:
    from quart_auth import QuartAuth

    from quart_app.config import Settings
    from quart_app.core.database import Database
    from quart_app.mail.sender import MailSender
    from quart_app.mfa.encryption import SecretBox
    from quart_app.passwords.hasher import PasswordHasherPool
    from quart_app.throttle.policy import LoginThrottle
    from quart_app.web.client_ip import Network

(
    SETTINGS,
    DATABASE,
    HASHER,
    THROTTLE,
    TRUSTED_PROXIES,
    SIGN_IN_COOKIE,
    MAIL_SENDER,
    SECRET_BOX,
    METRICS_NETWORKS,
) = (
    "settings",
    "database",
    "passwords",
    "throttle",
    "trusted_proxies",
    "sign_in_cookie",
    "mail_sender",
    "secret_box",
    "metrics_networks",
)


def _extensions(app: Quart | None) -> dict[str, Any]:
    return (current_app if app is None else app).extensions


def get_settings(app: Quart | None = None) -> Settings:
    return _extensions(app)[SETTINGS]


def get_database(app: Quart | None = None) -> Database:
    return _extensions(app)[DATABASE]


def get_hasher(app: Quart | None = None) -> PasswordHasherPool:
    """The app's hashing pool (one per worker process)."""
    return _extensions(app)[HASHER]


def get_throttle(app: Quart | None = None) -> LoginThrottle:
    """The login throttle; set in before_serving (its store may need the database started)."""
    return _extensions(app)[THROTTLE]


def find_throttle(app: Quart) -> LoginThrottle | None:
    """The throttle if serving has started, else None (shutdown after a failed start)."""
    return _extensions(app).get(THROTTLE)


def get_trusted_proxies(app: Quart | None = None) -> tuple[Network, ...]:
    return _extensions(app)[TRUSTED_PROXIES]


def get_metrics_networks(app: Quart | None = None) -> tuple[Network, ...]:
    """Where /metrics may be read from without the token (METRICS_ALLOW, parsed)."""
    return _extensions(app)[METRICS_NETWORKS]


def get_sign_in_cookie(app: Quart | None = None) -> QuartAuth:
    """quart-auth's extension: it signs and reads the sign-in cookie."""
    return _extensions(app)[SIGN_IN_COOKIE]


def get_mail_sender(app: Quart | None = None) -> MailSender:
    """This worker's outbox sender; set while the app serves."""
    return _extensions(app)[MAIL_SENDER]


def get_secret_box(app: Quart | None = None) -> SecretBox:
    """What seals and opens authenticator-app secrets (``mfa.encryption``)."""
    return _extensions(app)[SECRET_BOX]


def set_state(app: Quart, key: str, value: object) -> None:
    """Store one piece of state (create_app and the modules' init_app call this)."""
    app.extensions[key] = value

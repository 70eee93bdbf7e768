"""What every template can see: the signed-in viewer and the policy numbers forms explain."""

from __future__ import annotations

from typing import Any

from quart import Quart

from quart_app.config import Settings
from quart_app.sessions import current_session_context


def init_app(app: Quart, settings: Settings) -> None:
    policy = {
        "config_password_min": settings.PASSWORD_MIN_LENGTH,
        "config_password_max": settings.PASSWORD_MAX_LENGTH,
        "idle_minutes": settings.SESSION_IDLE_TIMEOUT // 60,
        "remember_days": settings.SESSION_REMEMBER_DURATION // 86400,
    }

    def policy_context() -> dict[str, Any]:
        return policy

    app.context_processor(policy_context)
    app.context_processor(current_session_context)

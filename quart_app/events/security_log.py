"""Security events as log lines for a log pipeline, named in OWASP's logging vocabulary
(Logging Vocabulary Cheat Sheet: ``authn_login_fail``, ``session_revoked`` …).

An event of the activity log is logged once its transaction has committed (an event rolled
back did not happen): ``stage`` keeps the row's values on the database session and a listener
writes them after the commit. The hot path's writes (a sign-in's row and event, committed on the
driver) are logged by their caller with ``log_event``. Refusals that leave no row (a bad CSRF
token, a per-IP rate) are logged at once with ``log_refusal``.

Each line carries the event name, our own kind, user_id, source_ip and user_agent; never a
password, token, code, cookie or link (none of them is in an event's values).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from quart import has_request_context, request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger("quart_app.security")
_STAGED = "security_log_staged"

# Our event kinds (events.log.EventKind values) in OWASP's words; the kind travels beside it.
OWASP_NAMES: dict[str, str] = {
    "login_succeeded": "authn_login_success",
    "login_failed": "authn_login_fail",
    "login_throttled": "authn_login_lock",  # the failed-login limit blocks it for a while
    "login_locked": "authn_login_fail",  # the right password for an account an operator locked
    "second_factor_failed": "authn_login_fail",
    "logged_out": "session_expired",  # OWASP's reason: logout
    "session_revoked": "session_revoked",
    "token_created": "authn_token_created",
    "token_revoked": "authn_token_revoked",
    "registered": "user_created",
    "password_changed": "authn_password_change",
    "password_reset": "authn_password_change",
    "email_changed": "user_updated",
    "two_factor_enabled": "user_updated",
    "two_factor_disabled": "user_updated",
    "two_factor_reset": "user_updated",
    "recovery_codes_replaced": "user_updated",
    "recovery_code_used": "user_updated",  # one code used up (its sign-in has its own line)
    "passkey_added": "user_updated",
    "passkey_removed": "user_updated",
    "account_locked": "authn_login_lock",
    "account_unlocked": "user_updated",
}
WARNINGS = frozenset({"authn_login_fail", "authn_login_lock"})


def log_event(values: Mapping[str, Any]) -> None:
    """One committed event row (``events.log`` writes' values) as a log line."""
    kind = str(values["kind"])
    name = OWASP_NAMES.get(kind, kind)
    user_id = values.get("user_id")
    log.log(
        logging.WARNING if name in WARNINGS else logging.INFO,
        "%s:%s",
        name,
        user_id,
        extra={
            "event": name,
            "kind": kind,
            "user_id": user_id,
            "source_ip": values.get("ip") or None,
            "user_agent": values.get("user_agent") or None,
        },
    )


def log_refusal(name: str, *, source_ip: str) -> None:
    """A request refused before it did anything (``malicious_csrf``,
    ``excess_rate_limit_exceeded``): there is no account to name."""
    user_agent = request.headers.get("User-Agent") if has_request_context() else None
    log.warning(
        "%s",
        name,
        extra={"event": name, "user_id": None, "source_ip": source_ip, "user_agent": user_agent},
    )


def stage(db: AsyncSession, values: Mapping[str, Any]) -> None:
    """Log this event row once ``db`` commits (dropped if it rolls back)."""
    db.sync_session.info.setdefault(_STAGED, []).append(dict(values))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for values in session.info.pop(_STAGED, ()):
        log_event(values)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_STAGED, None)

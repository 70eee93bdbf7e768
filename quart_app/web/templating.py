"""What every template can see: the site's name and version, the account menu, the signed-in
viewer, the policy numbers forms explain, and filters naming times and devices."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from quart import Quart, url_for

from quart_app.config import Settings
from quart_app.sessions.current_user import current_session_context
from quart_app.web.relative_time import exact_time, relative_time
from quart_app.web.user_agents import describe_user_agent

# The account menu in every signed-in page's header: (endpoint, label).
ACCOUNT_PAGES = (
    ("account.sessions", "Sessions"),
    ("account.activity", "Security activity"),
    ("account.password", "Password"),
    ("account.email", "E-mail address"),
    ("two_factor.overview", "Two-factor sign-in"),
    ("passkeys.manage", "Passkeys"),
    ("account.delete", "Delete account"),
)


def app_version() -> str:
    """The installed package's version, for the footer (a source tree run without installing
    has none)."""
    try:
        return version("quart-app")
    except PackageNotFoundError:
        return "unreleased"


def _fixed_links() -> Callable[..., str]:
    """``link(endpoint, **literals)``: url_for for a link that is the same on every request,
    built the first time and kept. The dashboard has fourteen such links, and url_for was a fifth
    of its render (measured in process, cProfile). Only for arguments written in a template
    (never a value from the request, which would grow the cache without end); the app is served
    under one root path, so a kept URL never goes stale."""
    built: dict[tuple[object, ...], str] = {}

    def link(endpoint: str, **values: str) -> str:
        key = (endpoint, *sorted(values.items()))
        url = built.get(key)
        if url is None:
            url = built[key] = url_for(endpoint, **values)
        return url

    return link


def _account_menu(link: Callable[..., str]) -> Callable[[], tuple[tuple[str, str, str], ...]]:
    """The header's account menu as (endpoint, URL, label), built on the first signed-in page."""
    built: tuple[tuple[str, str, str], ...] | None = None

    def menu() -> tuple[tuple[str, str, str], ...]:
        nonlocal built
        if built is None:
            built = tuple((end, link(end), label) for end, label in ACCOUNT_PAGES)
        return built

    return menu


def init_app(app: Quart, settings: Settings) -> None:
    link = _fixed_links()
    app.jinja_env.globals.update(
        site_name=settings.SITE_NAME,
        app_version=app_version(),
        link=link,
        account_menu=_account_menu(link),
    )
    app.jinja_env.filters.update(
        relative_time=relative_time, exact_time=exact_time, device_name=describe_user_agent
    )
    policy = {
        "config_password_min": settings.PASSWORD_MIN_LENGTH,
        "config_password_max": settings.PASSWORD_MAX_LENGTH,
        "idle_minutes": settings.SESSION_IDLE_TIMEOUT // 60,
        "remember_days": settings.SESSION_REMEMBER_DURATION // 86400,
    }

    # async on purpose: Quart runs a sync context processor in a thread, a hop on every page.
    async def policy_context() -> dict[str, Any]:
        return policy

    app.context_processor(policy_context)
    app.context_processor(current_session_context)


def drop_sync_context_processors(app: Quart) -> None:
    """Unregister the sync context processors that libraries add and these templates never use.

    Quart runs a sync processor in a thread on every render, which costs more than the rest of
    the template context together. quart-auth adds one exposing ``current_user`` (whose async
    ``is_authenticated`` a template cannot await; templates use ``viewer``), and Flask's base
    Blueprint copies in Flask's default one, which finds no Flask context and returns nothing.
    """
    for processors in app.template_context_processors.values():
        processors[:] = [p for p in processors if inspect.iscoroutinefunction(p)]

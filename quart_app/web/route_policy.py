"""Policy declared on the view it governs, read by the plumbing that enforces it.

``@hashes_password``: the route runs argon2, so admission control sheds it (503) while the hash
pool is full. ``@rate_limited("SETTING")``: its POSTs count against a per-IP allowance per
minute, the named setting. ``@form_page("endpoint")``: a POST-only view whose form lives on
another page (a signed-out POST is sent to log in and then there). ``static_content``: responses
the same for everybody, which caches may keep. ``@counted_as("login")``: the route is a sign-in
or a registration, so the metrics count its refusals (shed, throttled) under that name. Kept on
the view, a renamed or new route keeps or declares its policy where it is written;
``tests/web/test_route_policy.py`` walks the URL map and fails when a route that hashes a
password lacks its markers.

Put the markers under ``@bp.route`` (which registers the function it is given); under or over
``@login_required`` both work (functools.wraps copies the marks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from quart import Quart, current_app

from quart_app.config import Settings

View = TypeVar("View", bound=Callable[..., Any])
CountedAs = Literal["login", "registration"]
ATTRIBUTE = "route_policy"
RATE_SETTINGS = frozenset(
    option.name
    for option in dataclasses.fields(Settings)
    if option.name.startswith("THROTTLE_") and option.name.endswith("_PER_MINUTE")
)


@dataclass(frozen=True)
class RoutePolicy:
    hashes_password: bool = False
    rate_limit_setting: str | None = None  # a Settings field: POSTs per IP per minute
    form_page: str | None = None  # endpoint of the page holding this POST-only view's form
    static_content: bool = False
    counted_as: CountedAs | None = None  # the metric family its attempts belong to


NO_POLICY = RoutePolicy()


def _mark(view: View, **changes: Any) -> View:
    current = getattr(view, ATTRIBUTE, NO_POLICY)
    setattr(view, ATTRIBUTE, dataclasses.replace(current, **changes))
    return view


def hashes_password(view: View) -> View:
    """This route runs argon2: shed it while the hash pool and its queue are full."""
    return _mark(view, hashes_password=True)


def rate_limited(setting: str) -> Callable[[View], View]:
    """Count this route's POSTs per client IP against ``setting`` per minute (0: no limit)."""
    if setting not in RATE_SETTINGS:
        raise ValueError(
            f"{setting!r} is not a per-minute throttle setting: {sorted(RATE_SETTINGS)}"
        )
    return lambda view: _mark(view, rate_limit_setting=setting)


def form_page(endpoint: str) -> Callable[[View], View]:
    """A POST-only view whose form is on ``endpoint``'s page (log in, then return there: back
    to the POST's own URL it would land on a 405)."""
    return lambda view: _mark(view, form_page=endpoint)


def counted_as(family: CountedAs) -> Callable[[View], View]:
    """The route's attempts are sign-ins or registrations (auth_logins_total and
    auth_registrations_total count its refusals too, wherever they are made)."""
    return lambda view: _mark(view, counted_as=family)


def static_content(view: View) -> View:
    """Responses the same for everybody: no ``Vary: Cookie``, no ``Cache-Control: no-store``."""
    return _mark(view, static_content=True)


def policy_of(endpoint: str | None, app: Quart | None = None) -> RoutePolicy:
    """The policy declared on ``endpoint``'s view (none declared: the defaults)."""
    view = (app or current_app).view_functions.get(endpoint or "")
    return getattr(view, ATTRIBUTE, NO_POLICY)


def mark_static_files(app: Quart) -> None:
    """Quart's own ``static`` view (a bound method, which takes no attributes) gets a marked
    wrapper, so static files carry their policy like every other view."""
    serve = app.view_functions.get("static")
    if serve is None:
        return

    async def static(filename: str) -> Any:
        return await serve(filename)

    app.view_functions["static"] = static_content(static)

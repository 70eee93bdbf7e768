"""http_request_duration_seconds{route,method,status}, and the outcome of each registration.

The route label is the URL rule's template (``/account/sessions/<int:session_id>/revoke``),
never the path: some paths hold tokens, and raw paths would be a series per scanner probe.
A method outside the standard set counts as "other", for the same reason.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from quart import Quart, Response, g, request

from quart_app.metrics.instruments import RegistrationOutcome, count_registration
from quart_app.web.route_policy import policy_of

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from the app's first hook to its response, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route: a 404, or a 405's wrong method
# What a registration's answer says happened; 429 and 503 are counted where they are refused.
REGISTRATION_BY_STATUS: dict[int, RegistrationOutcome] = {
    201: "success",
    303: "success",
    409: "taken",
    400: "invalid",
    413: "invalid",
    415: "invalid",
    422: "invalid",
}
_STARTED = "metrics_request_started"


def init_app(app: Quart) -> None:
    """Call first in create_app: the clock starts before any other hook runs."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.after_request(_observe)  # after-request hooks run last-registered first: this is last


async def _start_clock() -> None:
    setattr(g, _STARTED, time.perf_counter())


async def _observe(response: Response) -> Response:
    started: float | None = getattr(g, _STARTED, None)
    if started is None:
        return response
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else "other"
    status = response.status_code
    REQUEST_SECONDS.labels(route, method, str(status)).observe(time.perf_counter() - started)
    if request.method == "POST" and policy_of(request.endpoint).counted_as == "registration":
        outcome = REGISTRATION_BY_STATUS.get(status)
        if outcome is not None:
            count_registration(outcome)
    return response

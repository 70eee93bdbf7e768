"""The app's metrics, one object each, shared by every app in the process (prometheus_client
keeps values per process; a scrape sums the workers' files). Features call the small functions
below rather than the objects, so a label value is spelled in one place.

Every label value is one of a fixed set written here, never a request's own text: a label from
user input would let anyone add time series without end.
"""

from __future__ import annotations

from typing import Literal, get_args

from prometheus_client import Counter, Gauge, Histogram, values

from quart_app.web.route_policy import CountedAs

# The package's __init__ has prepared PROMETHEUS_MULTIPROC_DIR. If something imported
# prometheus_client before it (an app built on this one that has metrics of its own), the
# value class was chosen without the directory: choose again, before any metric exists here.
values.ValueClass = values.get_value_class()

LoginOutcome = Literal[
    "success", "failed", "throttled", "shed", "second_factor_required", "second_factor_failed"
]
RegistrationOutcome = Literal["success", "invalid", "taken", "throttled", "shed"]
ThrottleScope = Literal["ip", "login", "second_factor", "hourly"]
HashOperation = Literal["hash", "verify"]
MailOutcome = Literal["sent", "retried", "failed"]

LOGIN_OUTCOMES: tuple[LoginOutcome, ...] = get_args(LoginOutcome)
REGISTRATION_OUTCOMES: tuple[RegistrationOutcome, ...] = get_args(RegistrationOutcome)
THROTTLE_SCOPES: tuple[ThrottleScope, ...] = get_args(ThrottleScope)
HASH_OPERATIONS: tuple[HashOperation, ...] = get_args(HashOperation)
MAIL_OUTCOMES: tuple[MailOutcome, ...] = get_args(MailOutcome)

# registry=None: in multiprocess mode a scrape reads the files, not a registry of objects.
LOGINS = Counter(
    "auth_logins", "Sign-in attempts (browser and API) by outcome.", ["outcome"], registry=None
)
REGISTRATIONS = Counter(
    "auth_registrations", "Registration attempts by outcome.", ["outcome"], registry=None
)
THROTTLED = Counter(
    "auth_throttled",
    "Requests refused by a throttle: ip (per-IP rates), login (failed-login limits), "
    "second_factor (wrong codes), hourly (reset requests).",
    ["scope"],
    registry=None,
)
SHED = Counter(
    "auth_shed", "Requests refused with 503 while the password-hash pool was full.", registry=None
)
HASH_SECONDS = Histogram(
    "auth_password_hash_seconds",
    "Time of one argon2 run in the hash pool's thread.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=None,
)
HASH_QUEUE_DEPTH = Gauge(
    "auth_hash_queue_depth",
    "Password hashes running or waiting for a thread, summed over the live workers.",
    multiprocess_mode="livesum",
    registry=None,
)
MAIL = Counter(
    "auth_mail",
    "Delivery attempts of outbox mails: sent, retried (failed, tried again later), "
    "failed (the last attempt failed).",
    ["outcome"],
    registry=None,
)

# Every label value exists from the start: a rate over a series that appears late is wrong.
for _outcome in LOGIN_OUTCOMES:
    LOGINS.labels(_outcome)
for _registration in REGISTRATION_OUTCOMES:
    REGISTRATIONS.labels(_registration)
for _scope in THROTTLE_SCOPES:
    THROTTLED.labels(_scope)
for _operation in HASH_OPERATIONS:
    HASH_SECONDS.labels(_operation)
for _mail in MAIL_OUTCOMES:
    MAIL.labels(_mail)


def count_login(outcome: LoginOutcome) -> None:
    LOGINS.labels(outcome).inc()


def count_registration(outcome: RegistrationOutcome) -> None:
    REGISTRATIONS.labels(outcome).inc()


def count_attempt(family: CountedAs | None, outcome: Literal["shed", "throttled"]) -> None:
    """A refusal made before the view ran (shed, throttled by IP), counted for the family its
    route is marked with (``@counted_as``); unmarked routes count in no family."""
    if family == "login":
        count_login(outcome)
    elif family == "registration":
        count_registration(outcome)


def count_throttled(scope: ThrottleScope) -> None:
    THROTTLED.labels(scope).inc()


def count_shed() -> None:
    SHED.inc()


def observe_hash(operation: HashOperation, seconds: float) -> None:
    HASH_SECONDS.labels(operation).observe(seconds)


def set_hash_queue_depth(depth: int) -> None:
    HASH_QUEUE_DEPTH.set(depth)


def count_mail(outcome: MailOutcome) -> None:
    MAIL.labels(outcome).inc()

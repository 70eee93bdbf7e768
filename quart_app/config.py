"""Settings: every option with its default and environment variable, parsed and validated once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio.connection import parse_url as parse_redis_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from quart_app.mail.smtp_url import parse_smtp_url
from quart_app.mfa.encryption import is_fernet_key
from quart_app.web.client_ip import parse_networks

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# A short key can be brute-forced offline from one signed cookie, and then any cookie forged.
MIN_SECRET_KEY_LENGTH = 32
LOG_FORMATS = ("text", "json")
SITE_NAME_MAX = 60
# The app runs on asyncio: a sync driver would block the event loop (SQLAlchemy refuses it).
ASYNC_DATABASE_EXAMPLES = "sqlite+aiosqlite:///app.db or postgresql+asyncpg://user@host/db"
REDIS_SCHEMES = ("redis", "rediss", "unix")  # what redis-py's from_url accepts
FAST_TEST_HASHING = "fast-tests"
MAX_LIST_ENTRIES = 20  # a list setting longer than this is a mistake (e.g. retries for weeks)
HASH_PROFILES = ("standard", FAST_TEST_HASHING)
# argon2's minimal cost: what HASH_PROFILE=fast-tests hashes with.
FAST_TEST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class ConfigError(ValueError):
    """A setting has a value the app cannot run with; raised at start-up, never per request."""

    def report(self) -> str:
        """The one line a server or command prints before it stops: it names the setting."""
        return f"configuration error: {self}"


def _option(default: Any, minimum: int | None = None, maximum: int | None = None) -> Any:
    return field(default=default, metadata={"min": minimum, "max": maximum})


@dataclass(frozen=True)
class Settings:
    """The app's options; field names are the environment variables (the deployment contract)."""

    SECRET_KEY: str | None = None
    SECRET_KEY_FALLBACKS: tuple[str, ...] = ()
    DATABASE_URL: str | None = None
    # Connections each worker keeps open (SQLAlchemy's pool_size) and may open beyond them in a
    # burst (max_overflow; those are closed when given back). A pool smaller than the requests a
    # worker serves at once opens and closes connections all the time: measured on PostgreSQL,
    # one new backend per three /dashboard requests with SQLAlchemy's default of 5.
    # Mind the server's limit, hosts x workers x (both) <= max_connections: 16 + 4 lets the
    # README's two hosts of two workers use 80 of PostgreSQL's default 100.
    DATABASE_POOL_SIZE: int = _option(16, minimum=1, maximum=1000)
    DATABASE_MAX_OVERFLOW: int = _option(4, minimum=0, maximum=1000)
    # Cross-request state kept outside the database (today: the throttle counters).
    REDIS_URL: str | None = None
    # Every key this app writes in Redis starts with it, so several deployments (staging and
    # production, two apps) can share one Redis database without counting each other's hits.
    REDIS_KEY_PREFIX: str = "quart_app:"
    COOKIE_SECURE: bool = True
    # Password policy: ASVS 4.0.3 §2.1.1 (at least 12) and §2.1.2 (allow at least 64, here 1024).
    PASSWORD_MIN_LENGTH: int = _option(12, minimum=8, maximum=1024)
    PASSWORD_MAX_LENGTH: int = _option(1024, minimum=64, maximum=4096)
    # argon2id at OWASP's Password Storage Cheat Sheet baseline (m=19 MiB, t=2, p=1): the cheapest
    # setting OWASP accepts, so a 2-core box still verifies dozens of logins a second; p=1 because
    # parallelism comes from the thread pool serving several logins at once, not from one hash.
    ARGON2_TIME_COST: int = _option(2, minimum=1)
    ARGON2_MEMORY_COST: int = _option(19456, minimum=8)  # KiB
    ARGON2_PARALLELISM: int = _option(1, minimum=1)
    # "standard" uses the ARGON2_* values above. "fast-tests" hashes at argon2's minimal cost
    # (t=1, 8 KiB) so a test suite can make hundreds of hashes; it needs TESTING=true and the
    # app refuses to start with it otherwise, so a copied test setting cannot weaken production.
    HASH_PROFILE: str = "standard"
    # A test suite is running this app (the test kit sets it); only the fast-hash profile reads it.
    TESTING: bool = False
    # One hashing thread per core per worker: argon2-cffi releases the GIL, more threads only queue.
    HASH_POOL_SIZE: int = _option(os.cpu_count() or 1, minimum=1, maximum=256)
    # Hashes allowed to wait for a thread, per worker; past it a login is shed at once with 503
    # and Retry-After, so a login storm queues a bounded amount of work (and argon2 memory).
    # 64: a storm of 64 clients is queued, not shed, even when the kernel hands every
    # connection to one worker (it does not balance them).
    HASH_QUEUE_LIMIT: int = _option(64, minimum=0, maximum=100_000)
    # Failed-login throttling (NIST SP 800-63B §5.2.2): per (IP, user) and per user from anywhere,
    # with exponential backoff from THROTTLE_BACKOFF_BASE seconds; 0 turns a limit off.
    THROTTLE_PAIR_LIMIT: int = _option(5, minimum=0)
    THROTTLE_PAIR_WINDOW: int = _option(15 * 60, minimum=1)
    THROTTLE_USER_LIMIT: int = _option(20, minimum=0)
    THROTTLE_USER_WINDOW: int = _option(60 * 60, minimum=1)
    THROTTLE_BACKOFF_BASE: int = _option(60, minimum=1)
    # POSTs per IP per minute to the login and registration forms; 0 turns a limit off.
    THROTTLE_LOGIN_PER_MINUTE: int = _option(30, minimum=0)
    THROTTLE_REGISTER_PER_MINUTE: int = _option(10, minimum=0)
    # POSTs per IP per minute to the signed-in forms that verify and hash (password change,
    # account deletion): a success costs two argon2 runs, and only failures meet the login throttle.
    THROTTLE_ACCOUNT_PER_MINUTE: int = _option(30, minimum=0)
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For hop may be believed.
    TRUSTED_PROXIES: tuple[str, ...] = ()
    # ASVS 4.0.3 §3.3.2: 30 minutes idle or 12 hours in all, unless the user asked to be remembered.
    SESSION_IDLE_TIMEOUT: int = _option(30 * 60, minimum=60)
    SESSION_ABSOLUTE_TIMEOUT: int = _option(12 * 60 * 60, minimum=60)
    SESSION_REMEMBER_DURATION: int = _option(30 * 24 * 60 * 60, minimum=60)
    # An API bearer token's whole lifetime; it has no idle timeout (a script may run weekly).
    API_TOKEN_LIFETIME: int = _option(30 * 24 * 60 * 60, minimum=60)
    # last_seen is written at most this often per session: a write per request serialises SQLite.
    SESSION_TOUCH_INTERVAL: int = _option(60, minimum=1)
    # Seconds between purges of expired session rows and finished throttle counters.
    PURGE_INTERVAL: int = _option(10 * 60, minimum=1)
    # Auth forms are a few hundred bytes; anything near this limit is abuse (answered with 413).
    MAX_CONTENT_LENGTH: int = _option(64 * 1024, minimum=1024)
    # Seconds a request's whole body may take to arrive, then 408: a form of a few hundred bytes
    # trickled a byte at a time would otherwise hold its connection and handler for a minute.
    REQUEST_BODY_TIMEOUT: int = _option(10, minimum=1, maximum=600)
    # Mail. Unset: mails are not sent but written, rendered, to the log at INFO (zero set-up).
    # smtp://[user:password@]host:port (STARTTLS when offered; ?starttls=require refuses to send
    # without it) or smtps://… (TLS from the start). Certificates are always verified.
    SMTP_URL: str | None = None
    MAIL_FROM: str = "no-reply@localhost"
    # The site's external base URL: every link in a mail is built from it, never from the
    # request's Host or X-Forwarded-Host (a forged Host must not put its domain in a link).
    PUBLIC_URL: str = "http://localhost:8000"
    PASSWORD_RESET_LIFETIME: int = _option(60 * 60, minimum=300, maximum=24 * 60 * 60)
    EMAIL_CONFIRM_LIFETIME: int = _option(24 * 60 * 60, minimum=300, maximum=7 * 24 * 60 * 60)
    # Password-reset requests per client IP and per account per hour, past which no more links
    # are sent; the page says the same either way (0 turns a limit off).
    RESET_REQUESTS_PER_IP: int = _option(20, minimum=0)
    RESET_REQUESTS_PER_ACCOUNT: int = _option(3, minimum=0)
    # Mail a notice when an account with a confirmed address signs in from a browser (user
    # agent) none of its earlier sign-ins used.
    NOTIFY_NEW_SIGN_IN: bool = True
    # One SMTP delivery, connection to QUIT, at most this long; then it is retried later.
    MAIL_SEND_TIMEOUT: int = _option(30, minimum=1, maximum=600)
    # Seconds between a sender's looks at the outbox (a worker that queues a mail wakes its own).
    MAIL_POLL_INTERVAL: int = _option(5, minimum=1, maximum=3600)
    # Seconds before each retry of a failed delivery (±10 %), after which the mail is marked
    # failed: the default makes five attempts over about an hour.
    MAIL_RETRY_DELAYS: tuple[int, ...] = _option((60, 300, 900, 2400), minimum=1, maximum=86400)
    # Two-factor. Fernet keys (comma-separated) that encrypt authenticator-app secrets at rest:
    # the first encrypts, every one decrypts; `quart --app quart_app rotate-mfa-keys` re-encrypts
    # under the first. Unset: a key derived from SECRET_KEY (and one from each fallback).
    MFA_ENCRYPTION_KEYS: tuple[str, ...] = ()
    # Wrong second-factor codes per account within the window, across all its pending sign-ins;
    # past the limit, 429 with Retry-After until the window ends.
    SECOND_FACTOR_LIMIT: int = _option(10, minimum=1, maximum=1000)
    SECOND_FACTOR_WINDOW: int = _option(15 * 60, minimum=60, maximum=24 * 60 * 60)
    # GET /metrics (Prometheus) answers clients in these networks (the address X-Forwarded-For
    # gives through TRUSTED_PROXIES), or any client sending "Authorization: Bearer" with
    # METRICS_TOKEN; everyone else gets a 404. Unset token: no bearer access.
    METRICS_ALLOW: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    METRICS_TOKEN: str | None = None
    # "text": readable lines; "json": one JSON object per line, for a log pipeline.
    LOG_FORMAT: str = "text"
    # The product's name in every page's header, title and footer.
    SITE_NAME: str = "Latchkey"

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Read options from ``environ`` (default ``os.environ``), then apply ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for option in dataclasses.fields(cls):
            if overrides is not None and option.name in overrides:
                raw = overrides[option.name]
            elif environ.get(option.name, "") != "":
                raw = environ[option.name]
            else:
                continue
            values[option.name] = _parse(option, raw)
        unknown = set(overrides or {}) - {option.name for option in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
            if key is not None and len(key) < MIN_SECRET_KEY_LENGTH:
                raise ConfigError(
                    f"SECRET_KEY and SECRET_KEY_FALLBACKS need at least {MIN_SECRET_KEY_LENGTH} "
                    "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        for name in ("TRUSTED_PROXIES", "METRICS_ALLOW"):
            try:
                parse_networks(getattr(settings, name))
            except ValueError as error:
                raise ConfigError(f"{name}: {error}") from None
        if (
            settings.METRICS_TOKEN is not None
            and len(settings.METRICS_TOKEN) < MIN_SECRET_KEY_LENGTH
        ):
            # Not echoed: it is a secret.
            raise ConfigError(
                f"METRICS_TOKEN needs at least {MIN_SECRET_KEY_LENGTH} characters (e.g. python "
                "-c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if (
            not 0 < len(settings.SITE_NAME.strip()) <= SITE_NAME_MAX
            or not settings.SITE_NAME.isprintable()
        ):
            raise ConfigError(f"SITE_NAME must be 1 to {SITE_NAME_MAX} printable characters")
        if settings.LOG_FORMAT not in LOG_FORMATS:
            raise ConfigError(
                f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}; got {settings.LOG_FORMAT!r}"
            )
        if settings.HASH_PROFILE not in HASH_PROFILES:
            raise ConfigError(
                f"HASH_PROFILE must be one of {', '.join(HASH_PROFILES)}; "
                f"got {settings.HASH_PROFILE!r}"
            )
        if settings.HASH_PROFILE == FAST_TEST_HASHING and not settings.TESTING:
            raise ConfigError(
                f"HASH_PROFILE={FAST_TEST_HASHING} is for test suites only: it needs "
                "TESTING=true, and a production server must not set either"
            )
        if settings.PASSWORD_MIN_LENGTH > settings.PASSWORD_MAX_LENGTH:
            raise ConfigError("PASSWORD_MIN_LENGTH must not exceed PASSWORD_MAX_LENGTH")
        if settings.DATABASE_URL:
            _check_database_url(settings.DATABASE_URL)
        if settings.REDIS_URL:
            _check_redis_url(settings.REDIS_URL)
        if settings.SMTP_URL:
            try:
                parse_smtp_url(settings.SMTP_URL)
            except ValueError as error:
                raise ConfigError(f"SMTP_URL: {error}") from None
        _check_public_url(settings.PUBLIC_URL)
        for number, key in enumerate(settings.MFA_ENCRYPTION_KEYS, start=1):
            if not is_fernet_key(key):
                # Not echoed: it is a secret.
                raise ConfigError(
                    f"MFA_ENCRYPTION_KEYS: key {number} is not a Fernet key (make one with "
                    "python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())')"
                )
        return settings


# Neither check echoes the URL: it may carry a password, and the message goes to the logs.
def _check_database_url(url: str) -> None:
    """Refuse a URL the engine would fail on later, deep inside a worker's start-up."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(
            f"DATABASE_URL is not a database URL (e.g. {ASYNC_DATABASE_EXAMPLES})"
        ) from None
    driver = parsed.drivername
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(f"DATABASE_URL names no database SQLAlchemy knows: {driver!r}") from None
    if not dialect.is_async:
        raise ConfigError(
            f"DATABASE_URL needs an async driver (e.g. {ASYNC_DATABASE_EXAMPLES}); got {driver!r}"
        )
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise ConfigError(
            f"DATABASE_URL's driver {driver!r} is not installed (no module {error.name!r})"
        ) from None


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"PUBLIC_URL must be an http:// or https:// URL with a host; got {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"PUBLIC_URL must have no query or fragment; got {url!r}")


def _check_redis_url(url: str) -> None:
    """Refuse a URL redis-py would reject when the first worker connects."""
    scheme = urlsplit(url).scheme
    if scheme not in REDIS_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://; got {shown}")
    try:
        parse_redis_url(url)
    except ValueError:  # a port that is not a number, a bad query option
        raise ConfigError("REDIS_URL is not a Redis URL redis-py can parse") from None


def _parse(option: dataclasses.Field[Any], raw: Any) -> Any:
    name, kind = option.name, option.type
    if kind == "bool":
        return _parse_bool(name, raw)
    if kind == "int":
        return _parse_int(name, raw, option.metadata.get("min"), option.metadata.get("max"))
    if kind == "tuple[str, ...]":
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return tuple(str(part) for part in raw)
    if kind == "tuple[int, ...]":
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        bounds = option.metadata.get("min"), option.metadata.get("max")
        values = tuple(_parse_int(name, part, *bounds) for part in parts if str(part).strip())
        if len(values) > MAX_LIST_ENTRIES:
            raise ConfigError(f"{name} takes at most {MAX_LIST_ENTRIES} values; got {len(values)}")
        return values
    if raw is None and "None" in kind:
        return None
    if not isinstance(raw, str):
        raise ConfigError(f"{name} must be a string")
    return raw


def _parse_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of true/false, yes/no, on/off, 1/0; got {raw!r}")


def _parse_int(name: str, raw: Any, minimum: int | None, maximum: int | None) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a whole number; got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}; got {value}")
    return value

"""Login throttling (NIST SP 800-63B §5.2.2, ASVS 2.2.1) on counters every worker shares.

Counters live in the database, or in Redis when REDIS_URL is set, never in a worker's memory: with
two workers, per-process counters would let through twice the limit, and a restart would
forgive every attacker.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from quart import Quart, request

from quart_app.accounts.users import username_key
from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.events.security_log import log_refusal
from quart_app.metrics.instruments import count_attempt, count_throttled
from quart_app.state import (
    THROTTLE,
    find_throttle,
    get_database,
    get_settings,
    get_throttle,
    set_state,
)
from quart_app.throttle.database_store import DatabaseThrottleStore
from quart_app.throttle.redis_store import RedisThrottleStore
from quart_app.web.client_ip import request_ip
from quart_app.web.route_policy import policy_of

# Per worker: how many over-the-limit IPs are remembered (a few hundred KiB at most).
REFUSAL_MEMO_SIZE = 10_000
HOURLY_WINDOW = 60 * 60  # seconds: within_hourly_limit's window


class Throttled(Exception):
    """Too many attempts: answer 429 with Retry-After, and do no argon2 work."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = max(1, retry_after_seconds)


def _name_digest(username: str) -> str:
    # Hashed: people type passwords into the username field, and keys stay a fixed size.
    return hashlib.sha256(username_key(username).encode()).hexdigest()[:32]


def _second_factor_key(user_id: int) -> str:
    return f"fail:second-factor:{user_id}"


def _seconds_until(moment: datetime, now: datetime) -> int:
    return math.ceil((moment - now).total_seconds())


class LoginThrottle:
    """The policy: per-IP POST rates, and failed-login limits with exponential backoff."""

    def __init__(
        self, store: DatabaseThrottleStore | RedisThrottleStore, settings: Settings
    ) -> None:
        self.store = store
        self.settings = settings
        # Keys this worker has seen over their limit, with the end of that window. Only ever
        # used to refuse (never to admit), so it cannot let more through than the shared count;
        # it spares the database a write per refused request during a flood.
        self._refusing_until: dict[str, datetime] = {}

    async def check_ip_rate(self, action: str, ip: str, per_minute: int) -> None:
        """Count this POST against the IP's per-minute allowance; raise Throttled past it."""
        if per_minute <= 0:
            return
        key = f"ip:{action}:{ip}"
        now = utcnow()
        refusing_until = self._refusing_until.get(key)
        if refusing_until is not None and now < refusing_until:
            count_throttled("ip")
            raise Throttled(_seconds_until(refusing_until, now))
        counter = await self.store.increment(key, timedelta(minutes=1), now)
        if counter.hits > per_minute:
            window_end = counter.window_started_at + timedelta(minutes=1)
            self._remember_refusal(key, window_end, now)
            count_throttled("ip")
            raise Throttled(_seconds_until(window_end, now))

    def _remember_refusal(self, key: str, until: datetime, now: datetime) -> None:
        if len(self._refusing_until) >= REFUSAL_MEMO_SIZE:  # bounded: drop what has expired
            self._refusing_until = {k: t for k, t in self._refusing_until.items() if t > now}
        if len(self._refusing_until) < REFUSAL_MEMO_SIZE:
            self._refusing_until[key] = until

    def _keys(self, ip: str, username: str) -> tuple[str, str]:
        name = _name_digest(username)
        return f"fail:pair:{ip}:{name}", f"fail:user:{name}"

    async def check_login(self, ip: str, username: str) -> bool:
        """Raise Throttled while the (IP, user) pair or the user is blocked.

        Returns whether the pair has recorded failures (so a success knows to reset it).
        """
        settings = self.settings
        if settings.THROTTLE_PAIR_LIMIT <= 0 and settings.THROTTLE_USER_LIMIT <= 0:
            return False
        pair_key, user_key = self._keys(ip, username)
        counters = await self.store.read([pair_key, user_key])
        now = utcnow()
        blocks = [c.blocked_until for c in counters.values() if c.blocked_until is not None]
        latest = max(blocks, default=None)
        if latest is not None and latest > now:
            count_throttled("login")
            raise Throttled(_seconds_until(latest, now))
        return pair_key in counters

    async def record_failure(self, ip: str, username: str) -> None:
        """Count a failed login for the pair and the user; block past the limits, doubling."""
        pair_key, user_key = self._keys(ip, username)
        settings = self.settings
        for key, limit, window in (
            (pair_key, settings.THROTTLE_PAIR_LIMIT, settings.THROTTLE_PAIR_WINDOW),
            (user_key, settings.THROTTLE_USER_LIMIT, settings.THROTTLE_USER_WINDOW),
        ):
            if limit <= 0:
                continue
            now = utcnow()
            counter = await self.store.increment(key, timedelta(seconds=window), now)
            if counter.hits >= limit:
                # Exponential backoff: 1, 2, 4 … × the base, never longer than the window.
                exponent = min(counter.hits - limit, 30)
                seconds = min(settings.THROTTLE_BACKOFF_BASE * 2**exponent, window)
                await self.store.block(key, now + timedelta(seconds=seconds))

    async def within_hourly_limit(self, key: str, limit: int) -> bool:
        """Count one request against ``key``'s hourly allowance; whether it is still within it
        (0: no limit). For limits nobody is told about, such as password-reset requests."""
        if limit <= 0:
            return True
        window = timedelta(seconds=HOURLY_WINDOW)
        counter = await self.store.increment(f"hourly:{key}", window, utcnow())
        if counter.hits > limit:
            count_throttled("hourly")
            return False
        return True

    async def check_second_factor(self, user_id: int) -> None:
        """Raise Throttled while the account's wrong second-factor codes are over the limit."""
        counter = (await self.store.read([_second_factor_key(user_id)])).get(
            _second_factor_key(user_id)
        )
        now = utcnow()
        if counter is not None and counter.blocked_until and counter.blocked_until > now:
            count_throttled("second_factor")
            raise Throttled(_seconds_until(counter.blocked_until, now))

    async def record_second_factor_failure(self, user_id: int) -> None:
        """Count a wrong code against the account (every pending sign-in of it together: a new
        password step does not buy new guesses); at the limit, block to the window's end."""
        window = timedelta(seconds=self.settings.SECOND_FACTOR_WINDOW)
        key, now = _second_factor_key(user_id), utcnow()
        counter = await self.store.increment(key, window, now)
        if counter.hits >= self.settings.SECOND_FACTOR_LIMIT:
            await self.store.block(key, counter.window_started_at + window)

    async def forgive_account(self, ip: str, username: str) -> None:
        """After a password reset: the account's own failure count and this IP's pair are
        cleared; other IPs' pairs stay blocked (they guessed at a password nobody has now)."""
        pair_key, user_key = self._keys(ip, username)
        await self.store.reset(pair_key)
        await self.store.reset(user_key)

    async def forgive_user(self, username: str, user_id: int) -> None:
        """An operator unlocked the account: its own failure counts (sign-ins and second
        factors) are cleared. Per-IP pairs stay: they count guesses from those addresses."""
        _, user_key = self._keys("", username)
        await self.store.reset(user_key)
        await self.store.reset(_second_factor_key(user_id))

    async def record_success(self, ip: str, username: str) -> None:
        """A success forgives the pair's failures (not the user-wide count: that is the
        evidence of a distributed guessing attack)."""
        pair_key, _ = self._keys(ip, username)
        await self.store.reset(pair_key)


def init_app(app: Quart, settings: Settings) -> None:
    """Counters in Redis when REDIS_URL is set (several hosts), else in the database."""

    async def start() -> None:
        store: DatabaseThrottleStore | RedisThrottleStore
        if settings.REDIS_URL:
            store = RedisThrottleStore.from_url(settings.REDIS_URL, settings.REDIS_KEY_PREFIX)
        else:
            store = DatabaseThrottleStore(get_database(app))
        set_state(app, THROTTLE, LoginThrottle(store, settings))

    async def stop() -> None:
        throttle = find_throttle(app)
        if throttle is not None:
            await throttle.store.close()

    app.before_serving(start)
    app.after_serving(stop)
    app.before_request(check_ip_rates)


async def check_ip_rates() -> None:
    """Per-IP POST allowances of the views marked ``@rate_limited`` (before any other work)."""
    if request.method != "POST":
        return
    policy = policy_of(request.endpoint)
    setting = policy.rate_limit_setting
    if setting is not None and request.endpoint is not None:
        per_minute: int = getattr(get_settings(), setting)
        ip = request_ip()
        try:
            await get_throttle().check_ip_rate(request.endpoint, ip, per_minute)
        except Throttled:
            count_attempt(policy.counted_as, "throttled")
            log_refusal("excess_rate_limit_exceeded", source_ip=ip)
            raise

"""Throttle counters in Redis (REDIS_URL): shared by every worker on every host.

The same fixed-window semantics as the database store, each change one atomic Lua script, and
keys that expire by themselves once their window and block are over (no purge needed).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from quart_app.throttle.database_store import Counter

# Under the deployment's REDIS_KEY_PREFIX: <prefix>throttle:<counter key>.
KEY_NAMESPACE = "throttle:"
# Bounded waits: a Redis that stops answering becomes a 503, never a hung request.
SOCKET_TIMEOUT_SECONDS = 2.0

# KEYS[1] counter; ARGV: now (epoch s), window (s). Returns hits, window start, blocked-until.
_INCREMENT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local start = tonumber(redis.call('HGET', KEYS[1], 'start') or '-1')
local hits
if start < 0 or start <= now - window then
  redis.call('HSET', KEYS[1], 'start', ARGV[1], 'hits', 1)
  hits = 1
  start = now
else
  hits = redis.call('HINCRBY', KEYS[1], 'hits', 1)
end
local blocked = redis.call('HGET', KEYS[1], 'blocked')
local ttl = redis.call('TTL', KEYS[1])
local keep = math.ceil(start + window - now) + 1
if ttl < keep then redis.call('EXPIRE', KEYS[1], keep) end
return {hits, tostring(start), blocked or ''}
"""
# KEYS[1] counter; ARGV: until (epoch s), seconds to keep the key at least.
_BLOCK = """
redis.call('HSET', KEYS[1], 'blocked', ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def _moment(epoch: str | bytes | None) -> datetime | None:
    if epoch in (None, b"", ""):
        return None
    return datetime.fromtimestamp(float(epoch), UTC)  # type: ignore[arg-type]


class RedisThrottleStore:
    """DatabaseThrottleStore's interface, on Redis."""

    def __init__(self, client: Redis, key_prefix: str) -> None:
        self.client = client
        self.key_prefix = key_prefix + KEY_NAMESPACE
        self._increment = client.register_script(_INCREMENT)
        self._block = client.register_script(_BLOCK)

    @classmethod
    def from_url(cls, url: str, key_prefix: str) -> RedisThrottleStore:
        return cls(
            Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            ),
            key_prefix,
        )

    async def ping(self) -> None:
        """Raise (a RedisError) unless Redis answers: logins cannot be counted without it."""
        await self.client.ping()

    async def increment(self, key: str, window: timedelta, now: datetime) -> Counter:
        hits, start, blocked = await self._increment(
            keys=[self.key_prefix + key], args=[now.timestamp(), window.total_seconds()]
        )
        started = _moment(start)
        assert started is not None
        return Counter(int(hits), started, _moment(blocked))

    async def read(self, keys: list[str]) -> dict[str, Counter]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self.key_prefix + key, "hits", "start", "blocked")
            rows = await pipe.execute()
        counters = {}
        for key, (hits, start, blocked) in zip(keys, rows, strict=True):
            started = _moment(start)
            if hits is not None and started is not None:
                counters[key] = Counter(int(hits), started, _moment(blocked))
        return counters

    async def block(self, key: str, until: datetime) -> None:
        keep = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()) + 1)
        await self._block(keys=[self.key_prefix + key], args=[until.timestamp(), keep])

    async def reset(self, key: str) -> None:
        await self.client.delete(self.key_prefix + key)

    async def purge(self, now: datetime, longest_window: timedelta) -> int:
        """Nothing to do: every key expires by itself once its window and block are over."""
        return 0

    async def close(self) -> None:
        await self.client.aclose()

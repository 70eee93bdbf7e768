"""argon2id in a bounded thread pool, and the dummy hash that makes every failure cost the same."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Quart

from quart_app.config import FAST_TEST_ARGON2, FAST_TEST_HASHING, Settings
from quart_app.metrics.instruments import HashOperation, observe_hash, set_hash_queue_depth
from quart_app.passwords.policy import normalise_password
from quart_app.state import HASHER, set_state
from quart_app.web.request_completion import ClientDisconnected, Departure, departure

T = TypeVar("T")


# Hashing threads run at a lower priority than the event loop (niceness +10 on Linux): under a login
# storm the signed-in pages keep their latency and argon2 takes the CPU that is left.
HASH_THREAD_NICENESS = 10


def shed_retry_after() -> int:
    """Seconds a shed client should wait: jittered, so they do not all return in one second."""
    return random.randint(1, 3)  # noqa: S311  (spreading load, not a secret)


class HashPoolBusy(Exception):
    """Every hashing thread is busy and the queue in front of them is full: shed this request."""

    def __init__(self) -> None:
        super().__init__()
        self.retry_after_seconds = shed_retry_after()


def _lower_thread_priority() -> None:
    try:
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + HASH_THREAD_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))
    except (AttributeError, OSError):
        pass  # not Linux, or not permitted: hashing still works at normal priority


_SKIPPED = object()


def _unless_gone(
    operation: HashOperation, flag: Departure | None, function: Callable[..., T], *args: str
) -> T | object:
    """Run ``function`` in the hashing thread, unless the client left while it waited its turn;
    its time goes to auth_password_hash_seconds (measured here: the wait is not the hash).

    Under overload clients give up and go; their queued hashes would take the CPU the ones
    still waiting need. A hash is safe to drop: no transaction is open while one runs.
    """
    if flag is not None and flag.gone:
        return _SKIPPED
    started = time.perf_counter()
    result = function(*args)
    observe_hash(operation, time.perf_counter() - started)
    return result


class PasswordHasherPool:
    """argon2id off the event loop: a fixed number of threads, since argon2-cffi releases the GIL.

    A hash holds ``memory_cost`` KiB while it runs, so the pool size also bounds memory. In front
    of the threads is a bounded queue (admission control): a request that finds it full gets
    HashPoolBusy at once instead of waiting behind hundreds of others until its client gives up.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        pool_size: int,
        queue_limit: int = 64,
    ) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        self.pool_size = pool_size
        self.capacity = pool_size + queue_limit
        self.admitted = 0  # hashes running or waiting; touched only from this worker's loop
        self._executor: ThreadPoolExecutor | None = None
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasherPool:
        cost = (
            FAST_TEST_ARGON2
            if settings.HASH_PROFILE == FAST_TEST_HASHING
            else {
                "time_cost": settings.ARGON2_TIME_COST,
                "memory_cost": settings.ARGON2_MEMORY_COST,
                "parallelism": settings.ARGON2_PARALLELISM,
            }
        )
        return cls(**cost, pool_size=settings.HASH_POOL_SIZE, queue_limit=settings.HASH_QUEUE_LIMIT)

    async def start(self) -> None:
        """Start the threads and make the dummy hash, so the first failed login costs no extra."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.pool_size,
                thread_name_prefix="argon2",
                initializer=_lower_thread_priority,
            )
        await self.dummy_hash()

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def is_saturated(self) -> bool:
        """Whether the next hash would find every thread busy and the queue full."""
        return self.admitted >= self.capacity

    async def _run(self, operation: HashOperation, function: Callable[..., T], *args: str) -> T:
        if self._executor is None:
            raise RuntimeError("password hasher not started: call start() (a before_serving hook)")
        if self.is_saturated():
            raise HashPoolBusy()
        flag = departure()
        self.admitted += 1
        set_hash_queue_depth(self.admitted)
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor, _unless_gone, operation, flag, function, *args
            )
        finally:
            self.admitted -= 1
            set_hash_queue_depth(self.admitted)
        if result is _SKIPPED:
            raise ClientDisconnected()
        return result  # type: ignore[return-value]

    async def hash(self, password: str) -> str:
        return await self._run("hash", self.hasher.hash, normalise_password(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(
            "verify", self._verify_sync, password_hash, normalise_password(password)
        )

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters (cheap: it only parses the string)."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def dummy_hash(self) -> str:
        """A hash of a random password at the current parameters, made once per process.

        Unknown usernames are verified against it so that a failed login costs the same argon2
        work whether or not the name exists (no user enumeration by timing).
        """
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    async def verify_dummy(self, password: str) -> None:
        await self.verify(await self.dummy_hash(), password)


def init_app(app: Quart, settings: Settings) -> None:
    hasher = PasswordHasherPool.from_settings(settings)
    set_state(app, HASHER, hasher)
    app.before_serving(hasher.start)
    app.after_serving(hasher.shutdown)

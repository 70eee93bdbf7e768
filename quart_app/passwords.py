"""argon2id hashing in a bounded thread pool, the dummy hash, and the password policy."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Quart

from quart_app.config import Settings
from quart_app.password_patterns import is_padded_word, is_repetitive, is_sequential
from quart_app.request_completion import ClientDisconnected, Departure, departure
from quart_app.state import HASHER, set_state

T = TypeVar("T")

REPETITIVE = "Avoid repeated characters or patterns such as 'aaaa…' or 'abcabc…'."
SEQUENTIAL = "Avoid sequences such as '12345…' or 'abcde…' or keyboard rows such as 'qwerty…'."
PADDED = (
    "This is a common word or password repeated or padded to reach the length; "
    "choose something less predictable."
)


def normalise_password(password: str) -> str:
    """NFKC form, so the same password typed on two keyboards (or IMEs) hashes the same."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's frequency lists, lower-cased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


@functools.cache
def english_words() -> frozenset[str]:
    """zxcvbn's 30,000 most frequent English Wikipedia words: refused only when padded."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["english_wikipedia"])


def shape_problem(folded: str, *, min_length: int) -> str | None:
    """Why a casefolded password on no list is still guessable from its shape; None if it is not.

    Cracking tools try repetitions, keyboard runs and list words with digits added right after
    the lists themselves, so a password that reaches the minimum length that way is as weak as a
    short one. One reason, the first that applies: a user fixes one thing at a time.
    """
    if is_repetitive(folded, min_unit=min_length):
        return REPETITIVE
    if is_sequential(folded):
        return SEQUENTIAL
    if is_padded_word(folded, passwords=common_passwords(), words=english_words()):
        return PADDED
    return None


def password_problems(
    password: str, *, min_length: int, max_length: int, username: str | None = None
) -> list[str]:
    """Why ``password`` is not acceptable as a new password; empty when it is.

    NIST SP 800-63B §5.1.1.2: length counted in code points, any characters, no composition
    rules, no truncation; refuse passwords from breach and common-password lists and the
    username itself, and say why. Control characters are refused: they cannot be typed reliably
    and a NUL is how truncating back ends are attacked. Repetitive and sequential passwords and
    padded list words are refused too (§5.1.1.2 names them); only within the length bounds, so
    that a wrong length gets one reason and a 10 MB password no pattern scan.
    """
    normalised = normalise_password(password)
    length = len(normalised)
    if length == 0:
        return ["Enter a password."]
    problems = []
    if length < min_length:
        problems.append(f"Use at least {min_length} characters.")
    if length > max_length:
        problems.append(f"Use at most {max_length} characters.")
    if any(unicodedata.category(char) == "Cc" for char in password):
        problems.append("Control characters (such as NUL or newline) are not allowed.")
    if "\ufffd" in password:
        problems.append("The password was not valid UTF-8 text.")
    folded = normalised.casefold()
    in_bounds = min_length <= length <= max_length
    if folded in common_passwords():
        problems.append("This is one of the most common passwords; attackers try it first.")
    elif in_bounds and (shape := shape_problem(folded, min_length=min_length)):
        problems.append(shape)
    if username and folded.strip() == normalise_password(username).casefold().strip():
        problems.append("Your password must not be your username.")
    return problems


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


def _unless_gone(flag: Departure | None, function: Callable[..., T], *args: str) -> T | object:
    """Run ``function`` in the hashing thread, unless the client left while it waited its turn.

    Under overload clients give up and go; their queued hashes would take the CPU the ones
    still waiting need. A hash is safe to drop: no transaction is open while one runs.
    """
    if flag is not None and flag.gone:
        return _SKIPPED
    return function(*args)


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
        return cls(
            time_cost=settings.ARGON2_TIME_COST,
            memory_cost=settings.ARGON2_MEMORY_COST,
            parallelism=settings.ARGON2_PARALLELISM,
            pool_size=settings.HASH_POOL_SIZE,
            queue_limit=settings.HASH_QUEUE_LIMIT,
        )

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

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        if self._executor is None:
            raise RuntimeError("password hasher not started: call start() (a before_serving hook)")
        if self.is_saturated():
            raise HashPoolBusy()
        flag = departure()
        self.admitted += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor, _unless_gone, flag, function, *args
            )
        finally:
            self.admitted -= 1
        if result is _SKIPPED:
            raise ClientDisconnected()
        return result  # type: ignore[return-value]

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, normalise_password(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify_sync, password_hash, normalise_password(password))

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
    app.before_serving(load_common_passwords)
    app.after_serving(hasher.shutdown)


async def load_common_passwords() -> None:
    """Load the word lists at start-up, not inside the first request that needs them."""
    common_passwords()
    english_words()

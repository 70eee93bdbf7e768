"""argon2id hashing off the event loop, and the password policy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher

from quart_app.config import Settings
from quart_app.passwords import (
    PasswordHasherPool,
    common_passwords,
    normalise_password,
    password_problems,
)


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasherPool]:
    pool = PasswordHasherPool(time_cost=1, memory_cost=1024, parallelism=1, pool_size=2)
    await pool.start()
    yield pool
    pool.shutdown()


async def test_hash_is_argon2id_and_verifies(hasher: PasswordHasherPool) -> None:
    digest = await hasher.hash("correct horse battery")
    assert digest.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert "correct horse battery" not in digest
    assert await hasher.verify(digest, "correct horse battery")
    assert not await hasher.verify(digest, "correct horse batterY")


async def test_hashes_are_salted(hasher: PasswordHasherPool) -> None:
    assert await hasher.hash("same password") != await hasher.hash("same password")


async def test_verify_of_garbage_hash_is_false_not_an_error(hasher: PasswordHasherPool) -> None:
    assert not await hasher.verify("not-a-hash", "whatever password")
    assert not await hasher.verify("", "whatever password")


async def test_password_is_nfkc_normalised_before_hashing(hasher: PasswordHasherPool) -> None:
    digest = await hasher.hash("ｐａｓｓｗｏｒｄ ｐｈｒａｓｅ")  # full-width forms
    assert await hasher.verify(digest, "password phrase")
    composed, decomposed = "caf\u00e9 au lait 12", "cafe\u0301 au lait 12"
    assert await hasher.verify(await hasher.hash(composed), decomposed)


async def test_needs_rehash_when_parameters_change(hasher: PasswordHasherPool) -> None:
    digest = await hasher.hash("correct horse battery")
    assert not hasher.needs_rehash(digest)
    stronger = PasswordHasherPool(time_cost=2, memory_cost=2048, parallelism=1, pool_size=1)
    assert stronger.needs_rehash(digest)
    assert stronger.needs_rehash("garbage")


async def test_dummy_hash_is_made_once_at_current_parameters(hasher: PasswordHasherPool) -> None:
    first = await hasher.dummy_hash()
    assert first.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await hasher.dummy_hash() is first


async def test_hashing_runs_in_pool_threads_not_the_event_loop(
    hasher: PasswordHasherPool,
) -> None:
    seen: list[str] = []

    class RecordingHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            seen.append(threading.current_thread().name)
            return super().hash(password, salt=salt)

    hasher.hasher = RecordingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    await asyncio.gather(*(hasher.hash(f"password number {i}") for i in range(4)))
    assert len(seen) == 4
    assert all(name.startswith("argon2") for name in seen)
    assert threading.current_thread().name not in seen


async def test_event_loop_stays_responsive_while_hashes_run() -> None:
    # Real-cost hashes (OWASP parameters); if they ran on the loop, the ticker below would get
    # no turn until they finished. Counted in loop turns, not seconds: no timing threshold.
    settings = Settings.load(environ={})
    pool = PasswordHasherPool.from_settings(settings)
    await pool.start()
    try:
        hashes = asyncio.gather(*(pool.hash(f"password {i} is long") for i in range(6)))
        turns = 0
        while not hashes.done():
            turns += 1
            await asyncio.sleep(0)
        results = await hashes
    finally:
        pool.shutdown()
    assert len(results) == 6
    assert turns > 100


async def test_pool_refuses_work_before_start() -> None:
    pool = PasswordHasherPool(time_cost=1, memory_cost=1024, parallelism=1, pool_size=1)
    with pytest.raises(RuntimeError, match="not started"):
        await pool.hash("anything at all")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "Enter a password."),
        ("elevenchars", "Use at least 12 characters."),
        ("x" * 1025, "Use at most 1024 characters."),
        ("twelve\x00chars!", "Control characters"),
        ("twelve\nchars!!", "Control characters"),
        ("bad utf8 \ufffd here", "not valid UTF-8"),
    ],
)
def test_password_problems(password: str, problem: str) -> None:
    problems = password_problems(password, min_length=12, max_length=1024)
    assert any(problem in text for text in problems)


@pytest.mark.parametrize(
    "password",
    [
        "twelve chars",
        "x" * 1024,
        "with spaces and ünïcode",
        "🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑",
        "all lowercase letters",
    ],
)
def test_password_policy_accepts_without_composition_rules(password: str) -> None:
    assert password_problems(password, min_length=12, max_length=1024) == []


def test_password_length_counts_code_points_not_bytes() -> None:
    # Twelve 4-byte emoji are twelve characters (48 UTF-8 bytes): long enough, not too long.
    assert password_problems("🔑" * 12, min_length=12, max_length=12) == []
    assert password_problems("🔑" * 11, min_length=12, max_length=12) != []


def test_normalise_password_is_nfkc() -> None:
    assert normalise_password("ｆｕｌｌ") == "full"
    assert normalise_password("e\u0301") == "\u00e9"


@pytest.mark.parametrize("password", ["peanutbutter", "PeanutButter", "playstation2", "password"])
def test_common_passwords_are_refused_with_the_reason(password: str) -> None:
    problems = password_problems(password, min_length=8, max_length=1024)
    assert any("most common passwords" in problem for problem in problems)


def test_uncommon_passwords_pass_the_blocklist() -> None:
    assert password_problems("peanut butter jelly time", min_length=12, max_length=1024) == []


def test_blocklist_has_at_least_ten_thousand_entries() -> None:
    assert len(common_passwords()) >= 10_000
    assert "123456" in common_passwords() and "password" in common_passwords()


def test_username_is_refused_as_password() -> None:
    problems = password_problems(
        "Alice.Smith-2026", min_length=12, max_length=1024, username="alice.smith-2026"
    )
    assert any("must not be your username" in problem for problem in problems)
    assert (
        password_problems(
            "alice.smith-2026 is long", min_length=12, max_length=1024, username="alice.smith-2026"
        )
        == []
    )

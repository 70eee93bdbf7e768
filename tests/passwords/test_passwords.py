"""argon2id hashing off the event loop, and the password policy."""

from __future__ import annotations

import asyncio
import random
import string
import threading
from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher

from quart_app.config import Settings
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.passwords.patterns import is_run, repeated_unit
from quart_app.passwords.policy import common_passwords, normalise_password, password_problems

# A random 1024-character string (seeded): the longest password, with no pattern in it.
RANDOM_1024 = "".join(random.Random(1024).choices(string.ascii_letters + string.digits, k=1024))
# Twelve different single-code-point emoji, none next to another in Unicode order.
TWELVE_EMOJI = "🔑🐈🌵🎲🚲🍋🌙🦊🐝🍄🎈🧭"
REPEATED = "Avoid repeated characters or patterns"
SEQUENCE = "Avoid sequences"
PADDED = "common word or password repeated or padded"
COMMON = "one of the most common passwords"


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
        RANDOM_1024,
        "with spaces and ünïcode",
        TWELVE_EMOJI,
        "all lowercase letters",
    ],
)
def test_password_policy_accepts_without_composition_rules(password: str) -> None:
    assert password_problems(password, min_length=12, max_length=1024) == []


def test_password_length_counts_code_points_not_bytes() -> None:
    # Twelve 4-byte emoji are twelve characters (48 UTF-8 bytes): long enough, not too long.
    assert password_problems(TWELVE_EMOJI, min_length=12, max_length=12) == []
    assert password_problems(TWELVE_EMOJI[:11], min_length=12, max_length=12) != []


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


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        # The security probe's eight, all accepted before: long enough, on no list, still weak.
        ("aaaaaaaaaaaa", REPEATED),
        ("111111111111", REPEATED),
        ("123456789012", SEQUENCE),
        ("passwordpassword", REPEATED),
        ("qwertyqwerty", REPEATED),
        ("iloveyouiloveyou", REPEATED),
        ("............", REPEATED),
        (" " * 12, REPEATED),
        # One short unit repeated, whatever its case, width or script, or lightly padded.
        ("abcabcabcabc", REPEATED),
        ("abcabcabcabca", REPEATED),
        ("abababababab", REPEATED),
        ("PassWordPassWord", REPEATED),
        ("ＡＡＡＡＡＡＡＡＡＡＡＡ", REPEATED),
        ("🔑" * 12, REPEATED),
        ("x" * 1024, REPEATED),
        ("xyzxyzxyzxyz!!", REPEATED),
        ("passwordpassword1", REPEATED),
        # Three distinct characters or fewer, in any order.
        ("aaabbbaaabab", REPEATED),
        ("-.-..-.--.-.", REPEATED),
        # Runs along the digits (wrapping), the alphabet, Unicode order and keyboard rows.
        ("987654321098", SEQUENCE),
        ("7890123456789", SEQUENCE),
        ("abcdefghijkl", SEQUENCE),
        ("ZYXWVUTSRQPO", SEQUENCE),
        ("абвгдежзийкл", SEQUENCE),
        ("qwertyuiop[]", SEQUENCE),
        ("qwertyuiopasdf", SEQUENCE),
        ("~!@#$%^&*()_+", SEQUENCE),
        ("ЙЦУКЕНГШЩЗХЪ", SEQUENCE),
        ("1-2-3-4-5-6-7-8", SEQUENCE),
        ("qwertyuiop!!", SEQUENCE),
        ("abcdefghijklabcdefghijkl", SEQUENCE),
        # A list word padded with digits and punctuation, or spaced out.
        ("password!!!!", PADDED),
        ("monkey123456", PADDED),
        ("dragon2024!!", PADDED),
        ("!!!!letmein!!!!", PADDED),
        ("iloveyou2024", PADDED),
        ("Sunshine2024", PADDED),
        ("love2024!!!!", PADDED),
        ("i love you!!!", PADDED),
        ("p-a-s-s-w-o-r-d", PADDED),
        ("september2024!", PADDED),
        # On the list as they stand: the list's own message.
        ("password1234", COMMON),
        ("1qaz2wsx3edc", COMMON),
    ],
)
def test_predictable_passwords_are_refused_with_one_reason(password: str, problem: str) -> None:
    problems = password_problems(password, min_length=12, max_length=1024)
    assert len(problems) == 1 and problem in problems[0]
    assert password not in problems[0]  # the reason, never the password, goes back in the page


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "tulip anvil sixteen",
        "peanut butter jelly time",
        "пароль-не-простой-2024",
        "日本語のパスフレーズです",
        "我爱北京天安门广场的大红灯笼",
        "ÆØÅ æøå blåbærsyltetøy",
        "Ελληνικά συνθηματικά",
        TWELVE_EMOJI,
        # tests/integration signs up "correct horse battery " + token_hex(6): its extremes too.
        "correct horse battery 3f9a1c2e7b4d",
        "correct horse battery 000000000000",
        "correct horse battery 123456789abc",
        "correct horse battery ffffffffffff",
        # Random strings, and a passphrase typed twice (its half would be long enough alone).
        "Xk9#mP2$vL7!qR4&",
        "x7Kp2qZ9mW4r",
        "3f9a1c2e7b4d",
        RANDOM_1024,
        "correct horse battery staple" * 2,
        # A bare dictionary word, and a word with a long irregular number, are not patterns.
        "hippopotamus",
        "tulip 83920174653",
    ],
)
def test_passphrases_and_random_strings_have_no_predictable_shape(password: str) -> None:
    assert password_problems(password, min_length=12, max_length=1024) == []


def test_a_repeated_unit_is_judged_by_the_minimum_length() -> None:
    # Below the minimum the repetition is the problem; at it, the unit is what must be uncommon.
    assert REPEATED in password_problems("passwordpassword", min_length=12, max_length=1024)[0]
    assert PADDED in password_problems("passwordpassword", min_length=8, max_length=1024)[0]
    assert password_problems("tulip anvil tulip anvil ", min_length=12, max_length=1024) == []


def test_a_wrong_length_gets_only_the_length_reason() -> None:
    assert password_problems("aaaaaa", min_length=12, max_length=1024) == [
        "Use at least 12 characters."
    ]
    assert password_problems("a" * 1025, min_length=12, max_length=1024) == [
        "Use at most 1024 characters."
    ]


@pytest.mark.parametrize(
    ("text", "unit"),
    [("abcabcab", "abc"), ("aaaa", "a"), ("abcab", "abcab"), ("abcd", "abcd"), ("", "")],
)
def test_repeated_unit_needs_two_whole_copies(text: str, unit: str) -> None:
    assert repeated_unit(text) == unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asdfghjkl;'", True),
        ("zxcvbnm,./", True),
        ("qwertrewq", True),
        ("7890123", True),
        ("αβγδεζ", True),
        ("abd", False),
        ("ab", False),
        ("tulip", False),
    ],
)
def test_is_run_follows_rows_and_orders_either_way(text: str, expected: bool) -> None:
    assert is_run(text) is expected

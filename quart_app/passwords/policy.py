"""The password policy: length, NFKC, the common-password and word lists, guessable shapes."""

from __future__ import annotations

import functools
import unicodedata
from typing import TypeVar

from quart import Quart

from quart_app.passwords.patterns import is_padded_word, is_repetitive, is_sequential

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


def init_app(app: Quart) -> None:
    app.before_serving(load_common_passwords)


async def load_common_passwords() -> None:
    """Load the word lists at start-up, not inside the first request that needs them."""
    common_passwords()
    english_words()

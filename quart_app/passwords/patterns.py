"""Password shapes that guessers try after the lists: repetition, runs, and padded words."""

from __future__ import annotations

import unicodedata
from collections.abc import Container
from itertools import groupby, pairwise

# Fewer distinct characters than this is refused at any length: even typed at random, three
# symbols carry log2(3) ≈ 1.6 bits a character against ≈ 6.6 for printable ASCII, and people who
# type them do not type at random ('aaabbbaaabbb', '-.-..-.-'). A real passphrase in any script
# uses many more: 'tulip anvil sixteen' has 13, '日本語のパスフレーズです' 11.
FEW_DISTINCT = 4
# A run or a word shorter than this is not a pattern worth naming ('ab', 'to').
MIN_RUN = 3
MIN_WORD = 4

# Orders people run a finger along, in either direction (casefolded, so shifted letters match).
# Digits and the alphabet wrap round ('7890123'); a run in Unicode order ('абвгд', 'αβγδ') is
# checked separately, for every script at once.
CYCLIC_ORDERS = ("0123456789", "abcdefghijklmnopqrstuvwxyz")
KEYBOARD_ORDERS = (
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "qwertyuiop[]\\",
    "qwertyuiop{}|",
    "asdfghjkl;'",
    'asdfghjkl:"',
    "zxcvbnm,./",
    "zxcvbnm<>?",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "qazwsxedcrfvtgbyhnujmikolp",
    "789456123",
    "azertyuiop",
    "qsdfghjklm",
    "qwertzuiopü",
    "йцукенгшщзхъ",
    "фывапролджэ",
    "ячсмитьбю",
)
_ORDERS = tuple(
    ({char: index for index, char in enumerate(order)}, order in CYCLIC_ORDERS)
    for order in (*CYCLIC_ORDERS, *KEYBOARD_ORDERS)
)


def repeated_unit(text: str) -> str:
    """The unit ``text`` repeats at least twice ('abcabcab' → 'abc'), or ``text`` itself.

    The smallest period from the Knuth–Morris–Pratt failure function: linear time, no regex
    (a backreference pattern such as ``^(.+?)\\1+$`` backtracks quadratically on long input).
    """
    border = [0] * len(text)
    matched = 0
    for index in range(1, len(text)):
        while matched and text[index] != text[matched]:
            matched = border[matched - 1]
        if text[index] == text[matched]:
            matched += 1
        border[index] = matched
    period = len(text) - (border[-1] if text else 0)
    return text[:period] if 2 * period <= len(text) else text


def _steps_along(text: str, positions: dict[str, int], cyclic: bool) -> bool:
    # Lazily, so the usual password stops at its first pair of characters.
    for before, after in pairwise(map(positions.get, text)):
        if before is None or after is None:
            return False
        step = abs(after - before)
        if step != 1 and not (cyclic and step == len(positions) - 1):
            return False
    return True


def is_run(text: str) -> bool:
    """Whether each character is next to the one before: in Unicode order ('abcd', '4321'), round
    the digits ('7890123') or along a keyboard row ('qwerty', 'asdf'), back and forth included."""
    if len(text) < MIN_RUN:
        return False
    if all(abs(ord(after) - ord(before)) == 1 for before, after in pairwise(text)):
        return True
    return any(_steps_along(text, positions, cyclic) for positions, cyclic in _ORDERS)


def _is_padding(char: str) -> bool:
    # Digits, punctuation, symbols (emoji too) and spaces: what people add to a word to pass.
    return unicodedata.category(char)[0] in "NPSZ"


def _split_padding(text: str) -> tuple[str, str, str]:
    start, end = 0, len(text)
    while start < end and _is_padding(text[start]):
        start += 1
    while end > start and _is_padding(text[end - 1]):
        end -= 1
    return text[:start], text[start:end], text[end:]


def _padding_weight(padding: str) -> int:
    """About how many choices a padding is: '!!!!' and '123456' are one, '2024!!' five."""
    if is_run(padding):
        return 1
    return len(repeated_unit("".join(char for char, _ in groupby(padding))))


def without_separators(text: str) -> str:
    """``text`` without spaces and punctuation: 'p-a-s-s-w-o-r-d' → 'password'."""
    return "".join(char for char in text if unicodedata.category(char)[0] not in "PZ")


def _shapes(folded: str) -> list[str]:
    """The password, and the word inside it when it is lightly padded ('letmein' in '!!letmein!!').

    Padding is light when it weighs at most twice the word: cracking rules add years, '123' and
    '!!' to every word on their lists, but a long irregular padding is a password of its own.
    """
    lead, core, trail = _split_padding(repeated_unit(folded))
    light = _padding_weight(lead) + _padding_weight(trail) <= 2 * len(core)
    if (lead or trail) and len(core) >= MIN_WORD and light:
        return [folded, core]
    return [folded]


def is_repetitive(folded: str, *, min_unit: int) -> bool:
    """Whether the password is a unit shorter than ``min_unit`` repeated, alone or lightly padded
    ('abcabc…', 'passwordpassword', 'xyzxyzxyz!!'), or has fewer than FEW_DISTINCT characters.

    A repeated unit costs a guesser no more than the unit; a long unit (a passphrase typed
    twice) is left alone, since the unit alone would be long enough to be accepted.
    """
    if len(set(folded)) < FEW_DISTINCT:
        return True
    for text in _shapes(folded):
        unit = repeated_unit(text)
        if unit != text and len(unit) < min_unit:
            return True
    return False


def is_sequential(folded: str) -> bool:
    """Whether the password, or the word in its light padding, is a run or a run repeated
    ('123456789012', 'zyxwvutsrqpo', 'qwertyuiop[]', '1-2-3-4-5-6-7'); see ``is_run``."""
    return any(
        is_run(repeated_unit(variant))
        for text in _shapes(folded)
        for variant in (text, without_separators(text))
    )


def is_padded_word(folded: str, *, passwords: Container[str], words: Container[str]) -> bool:
    """Whether the password is one of ``passwords`` repeated, spaced out or padded ('password1234',
    'p-a-s-s-w-o-r-d', '!!!!letmein!!!!'), or one of ``words`` repeated or padded ('elephant2024').

    Dictionary ``words`` count only when something was added: a bare word, and a passphrase of
    several, are not refused here ('correct horse battery staple' spaced out is no common password).
    """
    for text in _shapes(folded):
        unit = repeated_unit(text)
        spaced_out = repeated_unit(without_separators(unit))
        if len(unit) >= MIN_WORD and unit != folded and (unit in passwords or unit in words):
            return True
        if len(spaced_out) >= MIN_WORD and spaced_out != folded and spaced_out in passwords:
            return True
    return False

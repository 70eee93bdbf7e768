"""The code formats and the replay guard, without an app: what a code is, which time steps it
may match, and that the same step never matches twice."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from quart_app.mfa import recovery_codes, totp
from quart_app.mfa.encryption import InvalidToken, SecretBox, derived_key, is_fernet_key

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 12, 3, 12, 0, 15, tzinfo=UTC)  # 15 s into its 30-second step


def test_codes_are_rfc_6238_as_authenticator_apps_compute_them() -> None:
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082, whose last six digits apps show.
    rfc_secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(rfc_secret, totp.time_step(datetime.fromtimestamp(59, UTC))) == "287082"
    assert totp.code_at(SECRET, totp.time_step(NOW)) == pyotp.TOTP(SECRET).at(NOW)


def test_a_secret_is_160_random_bits_shown_in_groups() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) == 20
    assert secret != totp.new_secret()
    assert totp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_the_provisioning_uri_names_the_account_and_issuer() -> None:
    uri = totp.provisioning_uri(SECRET, account="ann", issuer="auth.example.org")
    assert uri.startswith("otpauth://totp/auth.example.org:ann?")
    assert f"secret={SECRET}" in uri and "issuer=auth.example.org" in uri


@pytest.mark.parametrize(
    ("typed", "understood"),
    [("123456", "123456"), ("123 456", "123456"), (" 123-456 ", "123456"), ("12345", None),
     ("1234567", None), ("12345a", None), ("", None), ("١٢٣٤٥٦", None)],
)  # fmt: skip
def test_a_totp_code_is_six_ascii_digits(typed: str, understood: str | None) -> None:
    assert totp.normalise_code(typed) == understood


def test_a_code_matches_its_step_and_one_step_either_side_only() -> None:
    step = totp.time_step(NOW)
    for offset in (-1, 0, 1):
        code = totp.code_at(SECRET, step + offset)
        assert totp.matching_step(SECRET, code, now=NOW, after_step=-1) == step + offset
    for offset in (-2, 2):
        code = totp.code_at(SECRET, step + offset)
        assert totp.matching_step(SECRET, code, now=NOW, after_step=-1) is None


def test_the_replay_guard_refuses_the_last_used_step_and_earlier_ones() -> None:
    step = totp.time_step(NOW)
    current = totp.code_at(SECRET, step)
    assert totp.matching_step(SECRET, current, now=NOW, after_step=step - 1) == step
    assert totp.matching_step(SECRET, current, now=NOW, after_step=step) is None
    earlier = totp.code_at(SECRET, step - 1)
    assert totp.matching_step(SECRET, earlier, now=NOW, after_step=step) is None
    later = totp.code_at(SECRET, step + 1)
    assert totp.matching_step(SECRET, later, now=NOW, after_step=step) == step + 1
    # Thirty seconds on, the code used at ``step`` is still in the window, and still refused.
    assert (
        totp.matching_step(SECRET, current, now=NOW + timedelta(seconds=30), after_step=step)
        is None
    )


def test_a_recovery_code_has_at_least_112_bits_and_a_forgiving_format() -> None:
    code = recovery_codes.new_code()
    groups = code.split("-")
    assert len(groups) == 6 and all(len(group) == 4 for group in groups)
    assert len(base64.b32decode("".join(groups))) * 8 >= 112
    assert recovery_codes.normalise_code(code.lower().replace("-", " ")) == code.replace("-", "")
    assert recovery_codes.normalise_code(code[:-1]) is None
    assert recovery_codes.normalise_code(code.replace(code[0], "0")) is None  # not base32
    assert len({recovery_codes.new_code() for _ in range(100)}) == 100


def test_sealed_secrets_open_under_any_key_and_reseal_under_the_first() -> None:
    old, new = derived_key("an old secret key" * 3), derived_key("a new secret key" * 3)
    assert is_fernet_key(old) and not is_fernet_key("not a key")
    sealed = SecretBox([old]).seal(SECRET)
    assert SECRET not in sealed
    rotated = SecretBox([new, old])
    assert rotated.open(sealed) == SECRET
    resealed = rotated.reseal(sealed)
    assert SecretBox([new]).open(resealed) == SECRET
    with pytest.raises(InvalidToken):
        SecretBox([new]).open(sealed)


def test_the_derived_key_differs_from_the_secret_key_and_per_secret_key() -> None:
    box = SecretBox.for_app([], "s" * 40, ["f" * 40])
    sealed_with_fallback = SecretBox([derived_key("f" * 40)]).seal(SECRET)
    assert box.open(sealed_with_fallback) == SECRET  # a rotated SECRET_KEY keeps secrets readable
    assert derived_key("s" * 40) != derived_key("f" * 40)
    assert "s" * 40 not in derived_key("s" * 40)

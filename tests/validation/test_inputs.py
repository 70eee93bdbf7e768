"""Each input's fields, bounds and messages: the forms' wording, at the stage the API needs."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from quart_app.accounts.emails import INVALID_EMAIL
from quart_app.config import Settings
from quart_app.validation import (
    AccountDeleteInput,
    EmailChangeInput,
    Input,
    InputRejected,
    LoginInput,
    PasswordChangeInput,
    PasswordResetInput,
    RegisterInput,
    Stage,
    TokenRequestInput,
    check,
)
from quart_app.validation.inputs import (
    PASSWORD_INPUT_MAX,
    SAME_AS_CURRENT,
    USERNAME_INPUT_MAX,
)

SETTINGS = Settings.load(environ={})  # PASSWORD_MIN_LENGTH 12, PASSWORD_MAX_LENGTH 1024
GOOD = "correct horse battery"
OTHER_GOOD = "a brand new passphrase"
ALL_INPUTS = [
    PasswordResetInput,
    RegisterInput,
    LoginInput,
    TokenRequestInput,
    PasswordChangeInput,
    AccountDeleteInput,
    EmailChangeInput,
]


def rejection(model: type[Input], data: object, **context: Any) -> InputRejected:
    with pytest.raises(InputRejected) as caught:
        check(model, data, settings=context.pop("settings", SETTINGS), **context)
    return caught.value


def refusal(model: type[Input], data: object, **context: Any) -> tuple[Stage, dict[str, list[str]]]:
    rejected = rejection(model, data, **context)
    return rejected.stage, rejected.by_field()


# --- register -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "field", "message"),
    [
        ("", GOOD, "username", "Enter a username."),
        ("   ", GOOD, "username", "Enter a username."),
        ("ab", GOOD, "username", "Use 3 to 32 characters."),
        ("a" * 33, GOOD, "username", "Use 3 to 32 characters."),
        ("bad name", GOOD, "username", "Use only letters A–Z, digits, and the characters . _ -"),
        ("alice", "", "password", "Enter a password."),
        ("alice", "short pass1", "password", "Use at least 12 characters."),
        ("alice", "x" * 1025, "password", "Use at most 1024 characters."),
        ("alice", "peanutbutter", "password", "most common passwords"),
        ("alice.smith-2026", "Alice.Smith-2026", "password", "must not be your username."),
    ],
)
def test_register_rules(username: str, password: str, field: str, message: str) -> None:
    stage, errors = refusal(RegisterInput, {"username": username, "password": password})
    assert stage == "rule"
    assert list(errors) == [field]
    assert any(message in each for each in errors[field])


def test_register_normalises_the_username_with_nfkc_and_trims_it() -> None:
    entered = check(
        RegisterInput, {"username": " Ａｌｉｃｅ ", "password": GOOD}, settings=SETTINGS
    )
    assert entered.username == "Alice"
    assert entered.password == GOOD  # never normalised here: the hasher does that


def test_register_rules_judge_the_normalised_username() -> None:
    # Full-width letters are outside A–Z as sent; after NFKC the name is "ab": too short.
    rejected = rejection(RegisterInput, {"username": "ａｂ", "password": GOOD})
    assert (rejected.stage, rejected.by_field()) == (
        "rule",
        {"username": ["Use 3 to 32 characters."]},
    )
    assert isinstance(rejected.value, RegisterInput) and rejected.value.username == "ab"


def test_register_oversized_values_fail_the_schema_in_the_rules_words() -> None:
    data = {"username": "a" * (USERNAME_INPUT_MAX + 1), "password": "x" * 5000}
    assert refusal(RegisterInput, data) == (
        "schema",
        {"username": ["Use 3 to 32 characters."], "password": ["Use at most 1024 characters."]},
    )
    wide = Settings.load(environ={}, overrides={"PASSWORD_MAX_LENGTH": 4096})
    data = {"username": "alice", "password": "x" * (PASSWORD_INPUT_MAX + 1)}
    assert refusal(RegisterInput, data, settings=wide) == (
        "schema",
        {"password": ["Use at most 4096 characters."]},
    )


def test_the_schema_bounds_leave_the_rules_to_decide_up_to_the_bound() -> None:
    stage, errors = refusal(RegisterInput, {"username": "a" * USERNAME_INPUT_MAX, "password": GOOD})
    assert (stage, errors) == ("rule", {"username": ["Use 3 to 32 characters."]})
    stage, errors = refusal(RegisterInput, {"username": "alice", "password": "x" * 4096})
    assert (stage, errors["password"][0]) == ("rule", "Use at most 1024 characters.")


def test_the_password_bound_admits_the_longest_maximum_the_settings_allow() -> None:
    option = {each.name: each for each in dataclasses.fields(Settings)}["PASSWORD_MAX_LENGTH"]
    assert option.metadata["max"] <= PASSWORD_INPUT_MAX
    longest = Settings.load(environ={}, overrides={"PASSWORD_MAX_LENGTH": option.metadata["max"]})
    cjk = [chr(code) for code in range(0x4E00, 0x9FFF)]
    password = "".join(random.Random(4096).choices(cjk, k=PASSWORD_INPUT_MAX))  # no pattern
    entered = check(RegisterInput, {"username": "alice", "password": password}, settings=longest)
    assert entered.password == password


@pytest.mark.parametrize(
    "data",
    [
        {"username": 5, "password": GOOD},
        {"username": None, "password": GOOD},
        {"username": ["alice"], "password": GOOD},
        {"username": "alice", "password": True},
        {"username": "alice"},
    ],
)
def test_register_wrong_types_and_missing_fields_fail_the_schema(data: dict[str, Any]) -> None:
    assert refusal(RegisterInput, data)[0] == "schema"


# --- sign-in: the login form and the API's token request ------------------------------------


@pytest.mark.parametrize("model", [LoginInput, TokenRequestInput])
def test_sign_in_checks_presence_only(model: type[Input]) -> None:
    assert refusal(model, {"username": "  ", "password": ""}) == (
        "rule",
        {"username": ["Enter your username."], "password": ["Enter your password."]},
    )
    # No policy: a password that could not be chosen today may still be an account's.
    entered = check(model, {"username": " Ａｌｉｃｅ", "password": "short"}, settings=SETTINGS)
    assert (entered.username, entered.password) == (" Ａｌｉｃｅ", "short")  # as typed


@pytest.mark.parametrize("model", [LoginInput, TokenRequestInput])
def test_sign_in_schema(model: type[Input]) -> None:
    assert refusal(model, {"password": GOOD}) == ("schema", {"username": ["Enter your username."]})
    assert refusal(model, {"username": "alice"}) == (
        "schema",
        {"password": ["Enter your password."]},
    )
    assert refusal(model, {"username": 42, "password": GOOD}) == (
        "schema",
        {"username": ["Send text."]},
    )
    too_long = {"username": "a" * 257, "password": "p" * 4097}
    assert refusal(model, too_long) == (
        "schema",
        {"username": ["Use at most 256 characters."], "password": ["Use at most 4096 characters."]},
    )


def test_login_remember_is_a_boolean_defaulting_to_false() -> None:
    base = {"username": "alice", "password": GOOD}
    assert check(LoginInput, base, settings=SETTINGS).remember is False
    assert check(LoginInput, {**base, "remember": True}, settings=SETTINGS).remember is True
    assert refusal(LoginInput, {**base, "remember": "on"})[0] == "schema"  # forms convert first


def test_token_request_name_is_optional_and_bounded() -> None:
    base = {"username": "alice", "password": GOOD}
    assert check(TokenRequestInput, base, settings=SETTINGS).name is None
    named = check(TokenRequestInput, {**base, "name": "n" * 100}, settings=SETTINGS)
    assert named.name == "n" * 100
    assert refusal(TokenRequestInput, {**base, "name": "n" * 101}) == (
        "schema",
        {"name": ["Use at most 100 characters."]},
    )
    assert refusal(TokenRequestInput, {**base, "name": 7}) == ("schema", {"name": ["Send text."]})


# --- password change ------------------------------------------------------------------------


def change(current: str, new: str, **context: Any) -> tuple[Stage, dict[str, list[str]]]:
    data = {"current_password": current, "new_password": new}
    return refusal(PasswordChangeInput, data, **{"username": "alice", **context})


def test_password_change_asks_for_the_current_password_and_checks_the_new_one() -> None:
    assert change("", "short") == (
        "rule",
        {
            "current_password": ["Enter your current password."],
            "new_password": ["Use at least 12 characters."],
        },
    )


def test_password_change_refuses_the_same_password() -> None:
    assert change(GOOD, GOOD) == ("rule", {"new_password": [SAME_AS_CURRENT]})


def test_password_change_with_a_refused_current_password_says_only_that() -> None:
    assert change(GOOD, GOOD, current_password_refused=True) == (
        "rule",
        {"current_password": ["That is not your current password."]},
    )
    assert change("wrong", "short", current_password_refused=True) == (
        "rule",
        {
            "current_password": ["That is not your current password."],
            "new_password": ["Use at least 12 characters."],
        },
    )


def test_password_change_checks_the_new_password_against_the_accounts_username() -> None:
    assert change(GOOD, "alice.smith-2026", username="Alice.Smith-2026") == (
        "rule",
        {"new_password": ["Your password must not be your username."]},
    )
    entered = check(
        PasswordChangeInput,
        {"current_password": GOOD, "new_password": OTHER_GOOD},
        settings=SETTINGS,
        username="alice",
    )
    assert entered.new_password == OTHER_GOOD


def test_password_change_oversized_current_password_cannot_be_the_current_one() -> None:
    assert change("p" * 4097, OTHER_GOOD) == (
        "schema",
        {"current_password": ["That is not your current password."]},
    )
    assert change(GOOD, "p" * 4097) == (
        "schema",
        {"new_password": ["Use at most 1024 characters."]},
    )


# --- account deletion -----------------------------------------------------------------------


def test_account_delete_needs_the_password() -> None:
    message = "Enter your current password to delete the account."
    assert refusal(AccountDeleteInput, {"password": ""}) == ("rule", {"password": [message]})
    assert refusal(AccountDeleteInput, {"password": "p" * 4097}) == (
        "schema",
        {"password": [message]},
    )
    assert refusal(AccountDeleteInput, {}) == ("schema", {"password": [message]})
    assert check(AccountDeleteInput, {"password": "x"}, settings=SETTINGS).password == "x"


# --- e-mail addresses ----------------------------------------------------------------------


def test_registration_takes_an_optional_address_normalised() -> None:
    entered = check(RegisterInput, {"username": "ann", "password": GOOD}, settings=SETTINGS)
    assert entered.address is None
    sent = {"username": "ann", "password": GOOD, "email": " Ann@EXAMPLE.org "}
    assert check(RegisterInput, sent, settings=SETTINGS).address == "Ann@example.org"
    bad = {"username": "ann", "password": GOOD, "email": "ann@"}
    assert refusal(RegisterInput, bad) == ("rule", {"email": [INVALID_EMAIL]})


def test_an_address_change_needs_an_address_and_the_password() -> None:
    assert refusal(EmailChangeInput, {"email": "", "current_password": ""}) == (
        "rule",
        {
            "email": ["Enter an e-mail address."],
            "current_password": ["Enter your current password."],
        },
    )
    assert refusal(EmailChangeInput, {"email": "x" * 321, "current_password": "p"})[0] == "schema"
    refused = {"email": "not an address", "current_password": "p"}
    assert refusal(EmailChangeInput, refused) == ("rule", {"email": [INVALID_EMAIL]})
    entered = check(
        EmailChangeInput, {"email": "b@B.example", "current_password": "p"}, settings=SETTINGS
    )
    assert entered.address == "b@b.example"


# --- all inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_INPUTS)
def test_inputs_publish_their_bounds_in_the_json_schema(model: type[Input]) -> None:
    schema = model.model_json_schema()
    lengths = {name: spec.get("maxLength") for name, spec in schema["properties"].items()}
    assert all(
        bound in {USERNAME_INPUT_MAX, PASSWORD_INPUT_MAX}
        for name, bound in lengths.items()
        if name.endswith(("username", "password"))
    )
    assert set(schema["required"]) == {
        n
        for n in lengths
        if n not in {"remember", "name"} and (n, model) != ("email", RegisterInput)
    }


def test_a_password_never_shows_in_an_inputs_repr() -> None:
    entered = LoginInput(username="alice", password="hunter2 secret")
    assert "hunter2" not in repr(entered) and "hunter2" not in str(entered)
    change_input = PasswordChangeInput(current_password="old secret", new_password="new secret")
    assert "secret" not in repr(change_input)

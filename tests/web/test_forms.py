"""Form values for an input model: what ``field`` reads, and a checkbox as a bool."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import FileStorage, MultiDict

from quart_app.validation import LoginInput, PasswordChangeInput
from quart_app.web.forms import form_input


def test_absent_fields_are_empty_and_of_repeated_fields_the_first_counts() -> None:
    form = MultiDict([("new_password", "first"), ("new_password", "second")])
    assert form_input(form, PasswordChangeInput) == {
        "current_password": "",
        "new_password": "first",
    }


def test_only_the_models_fields_are_taken() -> None:
    form = MultiDict({"username": "alice", "password": "pw", "csrf_token": "t", "is_admin": "1"})
    assert form_input(form, LoginInput) == {
        "username": "alice",
        "password": "pw",
        "remember": False,
    }


def test_a_file_in_place_of_a_text_field_is_empty() -> None:
    form: MultiDict[str, object] = MultiDict({"password": FileStorage(filename="p.txt")})
    assert form_input(form, LoginInput)["password"] == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "checked"),
    [("on", True), ("1", True), ("true", True), ("yes", True), ("", False), ("On", False),
     ("no", False), ("0", False), ("false", False)],
)  # fmt: skip
def test_a_checkbox_is_true_only_for_the_checked_values(value: str, checked: bool) -> None:
    form = MultiDict({"username": "alice", "remember": value})
    assert form_input(form, LoginInput)["remember"] is checked

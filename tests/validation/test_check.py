"""The two-stage check: the schema first (and alone, when it fails), then the rules."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

from quart_app.config import Settings
from quart_app.validation import (
    Input,
    InputRejected,
    Problem,
    SchemaMessages,
    check,
    enforce,
    parse,
)

SETTINGS = Settings.load(environ={})


class Sample(Input):
    """A test input whose rule refuses "bad" and records that it ran."""

    word: Annotated[str, Field(max_length=5), SchemaMessages(missing="Say a word.")]
    other: Annotated[str, Field(max_length=3)] = "x"
    flag: bool = False
    count: int = 0
    calls: list[dict[str, Any]] = Field(default_factory=list, exclude=True)

    def rule_problems(self, *, settings: Settings, extra: str = "") -> list[Problem]:
        self.calls.append({"settings": settings, "extra": extra})
        if self.word == "bad":
            return [Problem("word", "Not that word."), Problem("word", f"Really{extra}.")]
        return []


def rejected(data: object, **context: Any) -> InputRejected:
    with pytest.raises(InputRejected) as caught:
        check(Sample, data, settings=SETTINGS, **context)
    return caught.value


def test_valid_input_passes_both_stages_and_the_rules_get_the_context() -> None:
    value = check(Sample, {"word": "good"}, settings=SETTINGS, extra="!")
    assert value.word == "good"
    assert value.calls == [{"settings": SETTINGS, "extra": "!"}]


def test_a_rule_refusal_is_the_rule_stage_with_every_problem_and_the_parsed_value() -> None:
    error = rejected({"word": "bad"}, extra="!")
    assert error.stage == "rule"
    assert error.problems == [Problem("word", "Not that word."), Problem("word", "Really!.")]
    assert error.by_field() == {"word": ["Not that word.", "Really!."]}
    assert isinstance(error.value, Sample) and error.value.word == "bad"


def test_a_schema_failure_stops_before_the_rules() -> None:
    error = rejected({"word": "toolong", "other": "long"})
    assert error.stage == "schema"
    assert error.value is None
    assert error.by_field() == {
        "word": ["Use at most 5 characters."],
        "other": ["Use at most 3 characters."],
    }


def test_parse_alone_never_runs_the_rules_and_enforce_runs_them_on_its_value() -> None:
    value = parse(Sample, {"word": "bad"}, settings=SETTINGS)
    assert value.calls == []
    with pytest.raises(InputRejected) as caught:
        enforce(value, settings=SETTINGS)
    assert caught.value.stage == "rule" and caught.value.value is value


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "word", "Say a word."),  # the field's own message
        ({"word": "a", "other": None}, "other", "Send text."),
        ({"word": 5}, "word", "Send text."),  # strict: a number is not text
        ({"word": "a", "flag": "on"}, "flag", "Send true or false."),  # strict: JSON booleans
        ({"word": "a", "count": "x"}, "count", "Input should be a valid integer"),  # pydantic's
        (["word"], "", "Send an object of named fields."),
        ("word=a", "", "Send an object of named fields."),
    ],
)
def test_schema_messages(data: object, field: str, message: str) -> None:
    error = rejected(data)
    assert error.stage == "schema"
    assert error.problems == [Problem(field, message)]


def test_a_field_failing_twice_gets_one_message() -> None:
    class Both(Input):
        value: Annotated[str, Field(max_length=2, pattern="^[a-z]*$")]

    with pytest.raises(InputRejected) as caught:
        check(Both, {"value": "ABC"}, settings=SETTINGS)
    assert len(caught.value.problems) == 1


def test_messages_are_filled_in_from_the_settings_at_check_time() -> None:
    class Bounded(Input):
        text: Annotated[
            str,
            Field(max_length=3),
            SchemaMessages(too_long="At most {settings.PASSWORD_MIN_LENGTH} here."),
        ]

    for minimum in (8, 20):
        settings = Settings.load(environ={}, overrides={"PASSWORD_MIN_LENGTH": minimum})
        with pytest.raises(InputRejected) as caught:
            check(Bounded, {"text": "abcd"}, settings=settings)
        assert caught.value.problems == [Problem("text", f"At most {minimum} here.")]


def test_unknown_fields_are_ignored_not_kept() -> None:
    value = check(Sample, {"word": "good", "csrf_token": "t", "is_admin": True}, settings=SETTINGS)
    assert "is_admin" not in value.model_dump() and not hasattr(value, "is_admin")


def test_a_missing_rule_context_is_a_loud_programming_error() -> None:
    class NeedsName(Input):
        text: str

        def rule_problems(self, *, settings: Settings, username: str) -> list[Problem]:
            return []

    with pytest.raises(TypeError, match="username"):
        check(NeedsName, {"text": "a"}, settings=SETTINGS)
    with pytest.raises(TypeError, match="typo"):
        check(NeedsName, {"text": "a"}, settings=SETTINGS, username="a", typo=1)


def test_an_input_without_rules_is_refused_only_by_its_schema() -> None:
    class Plain(Input):
        text: str

    assert check(Plain, {"text": ""}, settings=SETTINGS).text == ""

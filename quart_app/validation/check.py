"""The two stages of checking an input: its schema (pydantic), then its rules (the policies)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from quart_app.config import Settings

Stage = Literal["schema", "rule"]
InputT = TypeVar("InputT", bound="Input")

# Pydantic's error types in the forms' voice, for fields whose SchemaMessages say nothing.
DEFAULT_MESSAGES = {
    "missing": "This field is required.",
    "string_type": "Send text.",
    "bool_type": "Send true or false.",
    "string_too_long": "Use at most {max_length} characters.",
    "model_type": "Send an object of named fields.",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an input is refused; ``field`` is "" when it is about the input as a whole."""

    field: str
    message: str


class InputRejected(Exception):
    """The input was refused, at the schema (the API answers 400) or by a rule (422).

    ``value`` is the input as the schema read it (a registration's username normalised) when
    only the rules refused it, so a form can be shown again with what was understood.
    """

    def __init__(
        self, problems: list[Problem], stage: Stage, *, value: Input | None = None
    ) -> None:
        super().__init__(stage, problems)
        self.problems = problems
        self.stage: Stage = stage
        self.value = value

    def by_field(self) -> dict[str, list[str]]:
        """The messages of each field in order: what a form template shows under each field."""
        messages: dict[str, list[str]] = {}
        for problem in self.problems:
            messages.setdefault(problem.field, []).append(problem.message)
        return messages


@dataclass(frozen=True, slots=True)
class SchemaMessages:
    """What to say when a field fails the schema, in place of pydantic's wording.

    Goes in the field's ``Annotated`` metadata. ``{settings.NAME}`` is filled in at check time,
    so a bound the deployment configures is the one the message names.
    """

    missing: str | None = None
    too_long: str | None = None


class Input(BaseModel):
    """An input's fields (with their static bounds) and its rules.

    Plain pydantic, reading no settings at import: quart-schema can validate it and put it in
    the OpenAPI document. Strict, so the API's JSON is taken as typed (5 is not a username);
    a form's values are strings already (``web.forms.form_input``). Unknown fields, such as a
    form's csrf_token, are ignored.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    # (*args, **kwargs): each input names the context its rules need, keyword-only.
    def rule_problems(self, *args: Any, **kwargs: Any) -> list[Problem]:
        """Why the rules refuse this (schema-valid) input; empty when they do not."""
        return []


def on_field(field: str, messages: Iterable[str]) -> list[Problem]:
    """A rule function's messages (the policies return strings) as problems of one field."""
    return [Problem(field, message) for message in messages]


def schema_problems(
    model: type[Input], error: ValidationError, *, settings: Settings
) -> list[Problem]:
    """One problem per failing field (the first pydantic reports), in the model's own words.

    Public for the API: quart-schema's RequestSchemaValidationError carries the same error.
    """
    problems: dict[str, Problem] = {}
    for detail in error.errors(include_url=False):
        field = str(detail["loc"][0]) if detail["loc"] else ""
        if field not in problems:
            problems[field] = Problem(field, _message(model, field, detail, settings))
    return list(problems.values())


def _message(model: type[Input], field: str, detail: ErrorDetails, settings: Settings) -> str:
    said = _schema_messages(model, field)
    chosen = {"missing": said.missing, "string_too_long": said.too_long}.get(detail["type"])
    template = chosen or DEFAULT_MESSAGES.get(detail["type"])
    if template is None:
        return detail["msg"]  # pydantic's wording: not a template, never formatted
    return template.format(settings=settings, **detail.get("ctx", {}))


def _schema_messages(model: type[Input], field: str) -> SchemaMessages:
    info = model.model_fields.get(field)
    said = [item for item in info.metadata if isinstance(item, SchemaMessages)] if info else []
    return said[-1] if said else SchemaMessages()  # the last: an alias re-annotated overrides


def parse(model: type[InputT], data: object, *, settings: Settings) -> InputT:
    """The schema stage: types, required fields, static bounds; else InputRejected("schema").

    ``settings`` only words the messages; the schema itself is the same for every deployment.
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InputRejected(schema_problems(model, error, settings=settings), "schema") from None


def enforce(value: InputT, *, settings: Settings, **context: Any) -> InputT:
    """The rule stage on a schema-valid input (one from ``parse`` or quart-schema's
    ``validate_request``): InputRejected("rule") with every rule's problems, if any."""
    problems = value.rule_problems(settings=settings, **context)
    if problems:
        raise InputRejected(problems, "rule", value=value)
    return value


def check(model: type[InputT], data: object, *, settings: Settings, **context: Any) -> InputT:
    """Both stages: the schema, then (only if it passed) the rules with ``context``."""
    return enforce(parse(model, data, settings=settings), settings=settings, **context)

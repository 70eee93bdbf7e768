"""Reading an API request's JSON body into a ``quart_app.validation`` input.

A body that is not JSON is a 415 (its content type) or a 400 (its text); one that breaks the
documented schema is a 400, and one the rules refuse a 422, each listing what is wrong with
each field: the same inputs and rules as the HTML forms, only the statuses differ.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from quart import Response, request

from quart_app.state import get_settings
from quart_app.validation import Input, InputRejected, enforce, parse
from quart_app.web.problems import problem

InputT = TypeVar("InputT", bound=Input)
STATUS = {"schema": 400, "rule": 422}
TITLE = {400: "Bad Request", 422: "Unprocessable Content"}
DETAIL = {
    400: "The body does not match the documented schema.",
    422: "The body was understood, but the rules refuse it.",
}


class ProblemAnswer(Exception):
    """Raised to answer with a problem document at once (``api.init_app`` handles it)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def rejected(error: InputRejected) -> ProblemAnswer:
    status = STATUS[error.stage]
    errors = [{"field": p.field, "message": p.message} for p in error.problems]
    return ProblemAnswer(problem(status, TITLE[status], DETAIL[status], errors=errors))


def _body_problem(message: str) -> ProblemAnswer:
    return ProblemAnswer(
        problem(400, TITLE[400], message, errors=[{"field": "", "message": message}])
    )


async def json_body() -> Any:
    """The parsed JSON body: 415 unless the content type is JSON, 400 unless the text is."""
    if not request.is_json:
        raise ProblemAnswer(
            problem(415, "Unsupported Media Type", "Send the body as application/json.")
        )
    data = await request.get_data(cache=True)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[…]]]]
        raise _body_problem("The body is not valid JSON (UTF-8).") from None


async def read_input(model: type[InputT], **context: Any) -> InputT:
    """The body as ``model``: its schema (400), then its rules with ``context`` (422)."""
    settings = get_settings()
    try:
        value = parse(model, await json_body(), settings=settings)
        return enforce(value, settings=settings, **context)
    except InputRejected as error:
        raise rejected(error) from None


async def read_schema(model: type[InputT]) -> InputT:
    """The body as ``model``, its schema only: the caller runs the rules when it has their
    context (a password change knows the account first)."""
    try:
        return parse(model, await json_body(), settings=get_settings())
    except InputRejected as error:
        raise rejected(error) from None

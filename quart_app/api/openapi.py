"""``/openapi.json``: quart-schema's OpenAPI 3.1 document, narrowed to the API and made exact.

quart-schema documents every route of the app, calls every response ``application/json`` and
puts response headers inside ``content``. Here only routes under ``/api/`` are described, a
request body is required, an integer in a path has its route's bounds, an error answer is
``application/problem+json``, a 204 has no body, and headers sit on the response object where
OpenAPI (and schemathesis) look for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quart_schema import document_response
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import BaseConverter, IntegerConverter, Rule

from quart_app.api.schemas import BearerChallenge, NoContent, Problem, RetryAfter
from quart_app.web.problems import API_PREFIX, PROBLEM_JSON

# Each status an API route may answer with an error, and what it means there.
PROBLEMS = {
    400: "The body breaks the schema: malformed JSON, a missing or mistyped field, a length.",
    401: (
        "No token, or one that is malformed, expired or revoked; at POST /tokens, a wrong "
        "password, or (type /api/v1/problems/second-factor-required) a code is needed next."
    ),
    403: "The current password is wrong.",
    404: "No such session or token of yours.",
    409: "The username is taken.",
    413: "The body is too large.",
    415: "The body is not application/json.",
    422: "The body fits the schema, but a rule refuses it (e.g. a common password).",
    429: "Too many attempts: wait Retry-After seconds.",
    503: "Busy or briefly unavailable: try again after Retry-After seconds.",
}
HEADERS = {401: BearerChallenge, 429: RetryAfter, 503: RetryAfter}


def problems(*statuses: int) -> Any:
    """Document the problem answers ``statuses`` on a view (503 is on every route)."""

    def decorate(view: Any) -> Any:
        for status in (*statuses, 503):
            view = document_response(Problem, status, HEADERS.get(status))(view)
        return view

    return decorate


class ApiOpenAPIProvider(OpenAPIProvider):
    def generate_rules(self) -> Iterable[Rule]:
        return (rule for rule in super().generate_rules() if rule.rule.startswith(API_PREFIX))

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        for operations in paths.values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    _fix_response(int(status), response)
        return paths, components

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        """An ``int`` path parameter with its converter's bounds: any other value is a 404."""
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, IntegerConverter):
            minimum = 0 if converter.min is None and not converter.signed else converter.min
            bounds = {"minimum": minimum, "maximum": converter.max}
            parameter["schema"].update({k: v for k, v in bounds.items() if v is not None})
        return parameter

    def build_request_body(self, model: Any, source: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        request_body, components = super().build_request_body(model, source)
        # OpenAPI's default is optional; bodies.json_body refuses a missing body (a 415).
        request_body["required"] = True
        return request_body, components

    def build_response_object(
        self, model: Any, headers_model: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        response, components = super().build_response_object(model, headers_model)
        if model is NoContent:
            response.pop("content", None)
        return response, components


def _fix_response(status: int, response: dict[str, Any]) -> None:
    content = response.get("content", {})
    if headers := content.pop("headers", None):
        response["headers"] = {
            name: {"schema": spec["schema"], "required": True} for name, spec in headers.items()
        }
    if status >= 400 and "application/json" in content:
        content[PROBLEM_JSON] = content.pop("application/json")
        response["description"] = PROBLEMS.get(status, response.get("description", ""))

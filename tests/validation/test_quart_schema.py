"""The inputs work as quart-schema request models: validated, published, then their rules run.

A tiny app stands in for the JSON API (built later): quart-schema parses the body with the
model, schema_problems words its error, and enforce runs the rules (400 schema, 422 rule).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import pytest
from pydantic import ValidationError
from quart import Quart
from quart_schema import QuartSchema, RequestSchemaValidationError, validate_request

from quart_app.config import Settings
from quart_app.validation import InputRejected, TokenRequestInput, enforce, schema_problems

SETTINGS = Settings.load(environ={})


@pytest.fixture
async def api() -> AsyncIterator[Quart]:
    app = Quart(__name__)
    QuartSchema(app)

    @app.post("/tokens")
    @validate_request(TokenRequestInput)
    async def tokens(data: TokenRequestInput) -> tuple[dict[str, Any], int]:
        enforce(data, settings=SETTINGS)
        return {"username": data.username, "name": data.name}, 201

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_failed(error: RequestSchemaValidationError) -> tuple[dict[str, Any], int]:
        assert isinstance(error.validation_error, ValidationError)
        problems = schema_problems(TokenRequestInput, error.validation_error, settings=SETTINGS)
        return {"problems": [asdict(each) for each in problems]}, 400

    @app.errorhandler(InputRejected)
    async def rule_failed(error: InputRejected) -> tuple[dict[str, Any], int]:
        return {"problems": [asdict(each) for each in error.problems]}, 422

    async with app.test_app():
        yield app


async def post(app: Quart, body: object) -> tuple[int, Any]:
    response = await app.test_client().post("/tokens", json=body)
    return response.status_code, await response.get_json()


async def test_a_valid_request_reaches_the_route_with_the_model(api: Quart) -> None:
    assert await post(api, {"username": "alice", "password": "pw", "name": "laptop"}) == (
        201,
        {"username": "alice", "name": "laptop"},
    )


async def test_schema_failures_are_400_in_the_models_words(api: Quart) -> None:
    status, body = await post(api, {"username": 5, "password": "pw", "name": "n" * 101})
    assert status == 400
    assert body["problems"] == [
        {"field": "username", "message": "Send text."},
        {"field": "name", "message": "Use at most 100 characters."},
    ]


async def test_rule_failures_are_422(api: Quart) -> None:
    status, body = await post(api, {"username": " ", "password": ""})
    assert status == 422
    assert body["problems"] == [
        {"field": "username", "message": "Enter your username."},
        {"field": "password", "message": "Enter your password."},
    ]


async def test_the_openapi_document_publishes_the_bounds(api: Quart) -> None:
    response = await api.test_client().get("/openapi.json")
    document = await response.get_json()
    body = document["paths"]["/tokens"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["title"] == "TokenRequestInput"
    assert schema["required"] == ["username", "password"]
    assert schema["properties"]["username"]["maxLength"] == 256
    assert schema["properties"]["password"]["maxLength"] == 4096

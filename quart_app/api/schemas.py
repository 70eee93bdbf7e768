"""What the API answers, as pydantic models: serialised by quart-schema, described in
``/openapi.json``. The inputs are ``quart_app.validation``'s, shared with the HTML forms."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AccountOut(BaseModel):
    """The account."""

    id: int
    username: str
    created_at: datetime


class TokenOut(BaseModel):
    """A new bearer token: shown this once, stored only as a digest."""

    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme's name
    expires_at: datetime


class SessionOut(BaseModel):
    """A live browser session or API token of the account."""

    id: int
    kind: Literal["browser", "api"]
    name: str | None = Field(description="an API token's name; null for a browser")
    user_agent: str
    device: str = Field(description='the user agent by name, e.g. "Chrome on Linux"; "" if unknown')
    ip: str = Field(description="the client's address at sign-in, then as last seen; may be empty")
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool = Field(description="the token this request presents")


class FieldError(BaseModel):
    field: str = Field(description='the input field, or "" for the body as a whole')
    message: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details, application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="400 and 422: what is wrong with each field"
    )
    second_factor_token: str | None = Field(
        default=None,
        description=(
            "401 of type /api/v1/problems/second-factor-required: send it with a code to "
            "POST /api/v1/tokens/second-factor within 5 minutes"
        ),
    )


class ResetRequested(BaseModel):
    """The same answer whatever was asked for."""

    detail: str = (
        "If an account with a confirmed e-mail address matches, a reset link is on its way to it."
    )


class NoContent(BaseModel):
    """Done; nothing to send back."""


class RetryAfter(BaseModel):
    retry_after: str = Field(description="seconds to wait before trying again")


class BearerChallenge(BaseModel):
    www_authenticate: str = Field(
        description='Bearer realm="api", with error="invalid_token" '
        "for a token that is malformed, expired or revoked"
    )

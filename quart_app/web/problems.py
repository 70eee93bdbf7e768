"""The JSON API's error answers: RFC 9457 problem details, never an HTML page.

Every route under ``API_PREFIX`` answers errors this way, those raised by Quart before any view
runs (404, 405, 413) and those of the plumbing (shedding, throttling, an outage) included, so a
script never has to parse a page meant for a browser.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from quart import Response
from werkzeug.exceptions import HTTPException

API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def problem_body(
    status: int,
    title: str,
    detail: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    *,
    kind: str = "about:blank",
    members: Mapping[str, object] | None = None,
) -> bytes:
    """The document: ``type`` is ``kind``, about:blank unless the status alone does not say
    what happened; ``errors`` lists ``{"field", "message"}`` for a 400 or 422; ``members`` are
    the extension members a problem type defines."""
    document: dict[str, object] = {"type": kind, "title": title, "status": status}
    if detail:
        document["detail"] = detail
    if errors is not None:
        document["errors"] = list(errors)
    document.update(members or {})
    return json.dumps(document, ensure_ascii=False).encode()


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Iterable[tuple[str, str]] = (),
    kind: str = "about:blank",
    members: Mapping[str, object] | None = None,
) -> Response:
    body = problem_body(status, title, detail, errors, kind=kind, members=members)
    response = Response(body, status=status, content_type=PROBLEM_JSON)
    for name, value in headers:
        response.headers[name] = value
    return response


def problem_for(error: HTTPException) -> Response:
    """An HTTP error as a problem: its status, name and description, and its headers (Allow on
    a 405, Retry-After on a 429 or 503, WWW-Authenticate on a 401)."""
    status = error.code or 500
    headers = [(n, v) for n, v in error.get_headers() if n.lower() != "content-type"]
    return problem(status, error.name, error.description, headers=headers)


def token_required(*, invalid: bool = False) -> Response:
    """401 with the RFC 6750 challenge: no token sent, or (``invalid``) one that is malformed,
    expired or revoked. Which of those it was is not said."""
    challenge = 'Bearer realm="api"' + (', error="invalid_token"' if invalid else "")
    detail = "Send a valid token as Authorization: Bearer <token> (POST /api/v1/tokens)."
    return problem(401, "Unauthorized", detail, headers=[("WWW-Authenticate", challenge)])

"""The JSON API (``/api/v1``): bearer tokens that are sessions, problem+json errors, and the
OpenAPI document at ``/openapi.json``. Views stay thin: the flows are ``authn``'s, the inputs
``validation``'s, shared with the HTML pages.

quart-schema's bundled docs pages (Swagger UI, ReDoc, Scalar) load their scripts from CDNs and
inline, which the Content-Security-Policy forbids, so they are off; ``/openapi.json`` is the
reference, for any OpenAPI viewer or client generator.
"""

from __future__ import annotations

from importlib import metadata

from quart import Quart, Response
from quart_schema import QuartSchema

from quart_app.api import v1
from quart_app.api.bearer import SCHEME
from quart_app.api.bodies import ProblemAnswer
from quart_app.api.openapi import ApiOpenAPIProvider


async def answer_problem(answer: ProblemAnswer) -> Response:
    return answer.response


def _version() -> str:
    try:
        return metadata.version("quart-app")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0.0.0"


def init_app(app: Quart) -> None:
    """Register the API; before ``web.admission``, which sheds the hashing routes it finds."""
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info={"title": "quart-app API", "version": _version()},
        security_schemes={SCHEME: {"type": "http", "scheme": "bearer"}},
        openapi_provider_class=ApiOpenAPIProvider,
    )
    app.register_blueprint(v1.bp)
    app.register_error_handler(ProblemAnswer, answer_problem)

"""A rendered page answered with extra headers, in the form that costs nothing to pass on."""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.datastructures import Headers

PageWithHeaders = tuple[str, int, Headers]


def page_with_headers(
    page: str, status: int, headers: Mapping[str, str] | None = None
) -> PageWithHeaders:
    """``(page, status, headers)`` with werkzeug's Headers rather than a dict: quart-schema
    dumps every dict a view returns, headers too, through a new pydantic TypeAdapter (about
    40 µs per answer, on every GET /login), and passes Headers through as they are."""
    return page, status, Headers(headers)

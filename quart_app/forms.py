"""Reading submitted forms: a body that cannot be parsed is a client error (400), never a 500."""

from __future__ import annotations

from quart import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest


async def read_form() -> MultiDict[str, str]:
    """The request's form fields; bodies that are not valid form data become a 400.

    Quart decodes urlencoded bodies as strict UTF-8 (a raw 0xFF byte raises) and multipart
    parsing raises ValueError on a missing boundary: both are bad input, not server faults.
    """
    try:
        return await request.form
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form data could not be read (it must be UTF-8 form data).") from None


def field(form: MultiDict[str, str], name: str) -> str:
    """One text field; absent is empty, and of repeated fields the first counts."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""

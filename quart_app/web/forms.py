"""Reading submitted forms: a body that cannot be parsed is a client error (400), never a 500."""

from __future__ import annotations

from pydantic import BaseModel
from quart import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

URLENCODED = frozenset({"application/x-www-form-urlencoded", "application/x-url-encoded"})
# What a checkbox (value "on") or a hand-written form sends for yes; anything else is no.
CHECKED = frozenset({"on", "1", "true", "yes"})


class UnreadableForm(BadRequest):
    description = (
        "The form could not be read (it must be UTF-8 text): reload the page and send it again."
    )


async def read_form() -> MultiDict[str, str]:
    """The request's form fields; a urlencoded body that is not UTF-8 is refused with a 400.

    Quart's parser swallows the decode error and returns an empty form, which would surface as
    a misleading "missing field" or CSRF message; checking the bytes first says what is wrong.
    """
    if request.mimetype in URLENCODED:
        try:
            (await request.get_data(cache=True)).decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableForm() from None
    return await request.form


def field(form: MultiDict[str, str], name: str) -> str:
    """One text field; absent is empty, and of repeated fields the first counts."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def form_input(form: MultiDict[str, str], model: type[BaseModel]) -> dict[str, str | bool]:
    """The form's values for ``model``'s fields, as ``field`` reads them; a bool field (a
    checkbox) is true when CHECKED. Other fields of the form are left out: they are not input."""
    return {
        name: field(form, name) in CHECKED if info.annotation is bool else field(form, name)
        for name, info in model.model_fields.items()
    }

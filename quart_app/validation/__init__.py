"""Validation: every input of the HTML forms and the JSON API declared once (``inputs``), and
its two-stage check (``check``): the schema (pydantic: types, required fields, the static bounds
that cap the work) then the rules (the username and password policies, with the settings and
context such as the account's username). Reading a form is ``web.forms``' job, and the status
to answer the caller's: the API answers 400 at the schema and 422 at a rule, the forms 400."""

from quart_app.validation.check import (
    Input,
    InputRejected,
    Problem,
    SchemaMessages,
    Stage,
    check,
    enforce,
    parse,
    schema_problems,
)
from quart_app.validation.inputs import (
    AccountDeleteInput,
    CurrentPasswordInput,
    EmailChangeInput,
    LoginInput,
    PasswordChangeInput,
    PasswordResetInput,
    RegisterInput,
    ResetConfirmInput,
    ResetRequestInput,
    SecondFactorInput,
    SecondFactorTokenInput,
    SignInInput,
    TokenRequestInput,
    TotpConfirmInput,
)

__all__ = [
    "AccountDeleteInput",
    "CurrentPasswordInput",
    "EmailChangeInput",
    "Input",
    "InputRejected",
    "LoginInput",
    "PasswordChangeInput",
    "PasswordResetInput",
    "Problem",
    "RegisterInput",
    "ResetConfirmInput",
    "ResetRequestInput",
    "SchemaMessages",
    "SecondFactorInput",
    "SecondFactorTokenInput",
    "SignInInput",
    "Stage",
    "TokenRequestInput",
    "TotpConfirmInput",
    "check",
    "enforce",
    "parse",
    "schema_problems",
]

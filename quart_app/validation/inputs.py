"""The inputs of the account forms and of the API's sign-in: fields, static bounds, rules."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from quart_app.accounts.emails import (
    EMAIL_INPUT_MAX,
    INVALID_EMAIL,
    email_problems,
    normalise_email,
)
from quart_app.accounts.users import (
    USERNAME_MAX,
    USERNAME_MIN,
    normalise_username,
    username_problems,
)
from quart_app.config import Settings
from quart_app.mfa.totp import normalise_code as normalise_totp_code
from quart_app.passwords.policy import password_problems
from quart_app.validation.check import Input, Problem, SchemaMessages, on_field

# Static bounds cap the work (NFKC, the pattern scans, argon2) before any rule runs; they count
# code points as sent. Far above any name a person types: the rules then want 3 to 32, after NFKC.
USERNAME_INPUT_MAX = 256
# The largest PASSWORD_MAX_LENGTH the settings allow, so the schema refuses nothing a
# deployment's policy would accept; the configured maximum is a rule.
PASSWORD_INPUT_MAX = 4096
TOKEN_NAME_MAX = 100

NOT_CURRENT = "That is not your current password."
CONFIRM_DELETION = "Enter your current password to delete the account."
SAME_AS_CURRENT = "Choose a password different from the current one."
USERNAME_LENGTH = f"Use {USERNAME_MIN} to {USERNAME_MAX} characters."
OVER_MAX_LENGTH = "Use at most {settings.PASSWORD_MAX_LENGTH} characters."

NewUsername = Annotated[
    str,
    Field(max_length=USERNAME_INPUT_MAX, description="NFKC-normalised and trimmed, then 3 to 32"),
    AfterValidator(normalise_username),
    SchemaMessages(missing="Enter a username.", too_long=USERNAME_LENGTH),
]
# A new Field each time (pydantic may merge metadata into one it is given twice); repr=False on
# every password: an input that reaches a log or a traceback must not show one.
NewPassword = Annotated[
    str,
    Field(max_length=PASSWORD_INPUT_MAX, repr=False),
    SchemaMessages(missing="Enter a password.", too_long=OVER_MAX_LENGTH),
]
EmailAddress = Annotated[
    str,
    Field(max_length=EMAIL_INPUT_MAX, description="an address, confirmed by a mailed link"),
    SchemaMessages(missing="Enter an e-mail address.", too_long=INVALID_EMAIL),
]
SignInUsername = Annotated[
    str, Field(max_length=USERNAME_INPUT_MAX), SchemaMessages(missing="Enter your username.")
]
SignInPassword = Annotated[
    str,
    Field(max_length=PASSWORD_INPUT_MAX, repr=False),
    SchemaMessages(missing="Enter your password."),
]


class RegisterInput(Input):
    """A new account: the username (normalised here: the name the account gets) and password,
    and optionally an address (attached once its mailed link is used)."""

    username: NewUsername
    password: NewPassword
    email: EmailAddress | None = None

    def rule_problems(self, *, settings: Settings) -> list[Problem]:
        return [
            *on_field("username", username_problems(self.username)),
            *on_field("password", _new_password_problems(self.password, settings, self.username)),
            *on_field("email", email_problems(self.email) if self.email else []),
        ]

    @property
    def address(self) -> str | None:
        """The normalised address, if one was given (once the rules have passed)."""
        return (normalise_email(self.email) or self.email) if self.email else None


class EmailChangeInput(Input):
    """A new address for the account, and the current password (checked by the caller)."""

    email: EmailAddress
    current_password: Annotated[
        str,
        Field(max_length=PASSWORD_INPUT_MAX, repr=False),
        SchemaMessages(missing="Enter your current password.", too_long=NOT_CURRENT),
    ]

    @property
    def address(self) -> str:
        """The address as email-validator normalises it (once the rules have passed)."""
        return normalise_email(self.email) or self.email

    def rule_problems(
        self, *, settings: Settings, current_password_refused: bool = False
    ) -> list[Problem]:
        problems = on_field("email", email_problems(self.email))
        if not self.email.strip():
            problems = [Problem("email", "Enter an e-mail address.")]
        if not self.current_password:
            problems.append(Problem("current_password", "Enter your current password."))
        elif current_password_refused:
            problems.append(Problem("current_password", NOT_CURRENT))
        return problems


class SignInInput(Input):
    """A username and password to check: only presence, never the policy (an account made
    under an older policy must still sign in), and the name as typed (lookup normalises it)."""

    username: SignInUsername
    password: SignInPassword

    def rule_problems(self, *, settings: Settings) -> list[Problem]:
        problems = []
        if not self.username.strip():
            problems.append(Problem("username", "Enter your username."))
        if not self.password:
            problems.append(Problem("password", "Enter your password."))
        return problems


class LoginInput(SignInInput):
    """The login form; ``remember`` asks for the long-lived session."""

    remember: bool = False


class TokenRequestInput(SignInInput):
    """The API's sign-in for a bearer token; ``name`` labels the token in the session list."""

    name: Annotated[str, Field(max_length=TOKEN_NAME_MAX)] | None = None


class PasswordChangeInput(Input):
    """The current password (checked by the caller) and the new one."""

    current_password: Annotated[
        str,
        Field(max_length=PASSWORD_INPUT_MAX, repr=False),
        # No password that long was ever accepted: it cannot be the current one.
        SchemaMessages(missing="Enter your current password.", too_long=NOT_CURRENT),
    ]
    new_password: NewPassword

    def rule_problems(
        self, *, settings: Settings, username: str, current_password_refused: bool = False
    ) -> list[Problem]:
        """``username`` is the account's; ``current_password_refused`` says the caller checked
        the current password and it was wrong: then that is its problem, and "choose a
        different one" would compare the new password with a password that is not the current.
        """
        problems = on_field(
            "new_password", _new_password_problems(self.new_password, settings, username)
        )
        if not self.current_password:
            problems.insert(0, Problem("current_password", "Enter your current password."))
        elif current_password_refused:
            problems.insert(0, Problem("current_password", NOT_CURRENT))
        elif self.current_password == self.new_password:
            problems.append(Problem("new_password", SAME_AS_CURRENT))
        return problems


class ResetRequestInput(Input):
    """A username or a confirmed address whose account should get a reset link."""

    login: Annotated[str, Field(max_length=EMAIL_INPUT_MAX)]


class PasswordResetInput(Input):
    """The new password a reset link sets; the policy is the account's (its username)."""

    new_password: NewPassword

    def rule_problems(self, *, settings: Settings, username: str) -> list[Problem]:
        return on_field(
            "new_password", _new_password_problems(self.new_password, settings, username)
        )


class ResetConfirmInput(PasswordResetInput):
    """The API's reset: the mailed link's token, and the new password."""

    token: Annotated[str, Field(max_length=100)]


class AccountDeleteInput(Input):
    """The current password that confirms a deletion (checked by the caller)."""

    password: Annotated[
        str,
        Field(max_length=PASSWORD_INPUT_MAX, repr=False),
        SchemaMessages(missing=CONFIRM_DELETION, too_long=CONFIRM_DELETION),
    ]

    def rule_problems(self, *, settings: Settings) -> list[Problem]:
        return [] if self.password else [Problem("password", CONFIRM_DELETION)]


CODE_INPUT_MAX = 64  # a recovery code with spaces is 29 characters; longer is no code of ours
ENTER_CODE = "Enter the 6-digit code from your authenticator app, or a recovery code."
ENTER_APP_CODE = "Enter the 6-digit code your authenticator app shows."
WRONG_CODE = "That code is not right."
CurrentPassword = Annotated[
    str,
    Field(max_length=PASSWORD_INPUT_MAX, repr=False),
    SchemaMessages(missing="Enter your current password.", too_long=NOT_CURRENT),
]


class SecondFactorInput(Input):
    """The second step of a sign-in: an authenticator code or a recovery code."""

    code: Annotated[
        str,
        Field(max_length=CODE_INPUT_MAX, repr=False),
        SchemaMessages(missing=ENTER_CODE, too_long=WRONG_CODE),
    ]

    def rule_problems(self, *, settings: Settings) -> list[Problem]:
        return [] if self.code.strip() else [Problem("code", ENTER_CODE)]


class SecondFactorTokenInput(SecondFactorInput):
    """The API's second step: the token the password step answered with, and the code."""

    second_factor_token: Annotated[str, Field(max_length=100, repr=False)]


class CurrentPasswordInput(Input):
    """A change to the second factors, confirmed by the current password (checked by the
    caller)."""

    current_password: CurrentPassword

    def rule_problems(
        self, *, settings: Settings, current_password_refused: bool = False
    ) -> list[Problem]:
        if not self.current_password:
            return [Problem("current_password", "Enter your current password.")]
        if current_password_refused:
            return [Problem("current_password", NOT_CURRENT)]
        return []


class TotpConfirmInput(CurrentPasswordInput):
    """The first code of a new authenticator app, and the current password."""

    code: Annotated[
        str,
        Field(max_length=CODE_INPUT_MAX, repr=False),
        SchemaMessages(missing=ENTER_APP_CODE, too_long=ENTER_APP_CODE),
    ]

    def rule_problems(
        self, *, settings: Settings, current_password_refused: bool = False
    ) -> list[Problem]:
        problems = super().rule_problems(
            settings=settings, current_password_refused=current_password_refused
        )
        if normalise_totp_code(self.code) is None:
            problems.insert(0, Problem("code", ENTER_APP_CODE))
        return problems


def _new_password_problems(password: str, settings: Settings, username: str) -> list[str]:
    return password_problems(
        password,
        min_length=settings.PASSWORD_MIN_LENGTH,
        max_length=settings.PASSWORD_MAX_LENGTH,
        username=username,
    )

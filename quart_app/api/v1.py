"""``/api/v1``: the JSON API, calling the same flows as the HTML views.

Registering, the API's sign-in (a bearer token, which is a session of kind "api"), signing
out, the account, its sessions and tokens, a password change, a reset by mailed link and a
deletion. The shedding,
per-IP limits, throttle, dummy hash and events are those of the forms: declared on the routes
and run by the same ``authn`` flows.
"""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, Response, current_app
from quart_schema import document_request, document_response
from sqlalchemy.exc import IntegrityError

from quart_app.accounts.models import User
from quart_app.accounts.users import UsernameTaken, create_user, delete_user, get_user
from quart_app.api.bearer import api_session, bearer_required
from quart_app.api.bodies import ProblemAnswer, read_input, read_schema, rejected
from quart_app.api.openapi import problems
from quart_app.api.schemas import AccountOut, NoContent, ResetRequested, SessionOut, TokenOut
from quart_app.authn.flow import AttemptThrottled, PasswordRefused, check_password, reauthenticate
from quart_app.authn.password_change import stage_password_change
from quart_app.authn.second_factor import (
    SecondFactorPassed,
    SecondFactorRefused,
    SecondFactorThrottled,
    begin_second_factor,
    check_second_factor,
)
from quart_app.authn.sign_in import AccountGone, issue_api_token
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, add_event, request_user_agent
from quart_app.events.notices import notice_context, queue_notice
from quart_app.metrics.instruments import count_login
from quart_app.recovery.email_confirmation import offer_address
from quart_app.recovery.password_reset import account_of_link, finish_reset, request_reset
from quart_app.sessions.models import API
from quart_app.sessions.store import (
    SignedIn,
    ended_event,
    list_user_sessions,
    revoke_user_session,
)
from quart_app.state import get_hasher, get_settings
from quart_app.validation import (
    AccountDeleteInput,
    InputRejected,
    PasswordChangeInput,
    RegisterInput,
    ResetConfirmInput,
    ResetRequestInput,
    SecondFactorTokenInput,
    TokenRequestInput,
    enforce,
)
from quart_app.validation.inputs import NOT_CURRENT, WRONG_CODE
from quart_app.views.auth import GENERIC_LOGIN_ERROR, USERNAME_TAKEN
from quart_app.web.client_ip import request_ip
from quart_app.web.problems import problem
from quart_app.web.route_policy import counted_as, hashes_password, rate_limited
from quart_app.web.user_agents import describe_user_agent

bp = Blueprint("api", __name__, url_prefix="/api/v1")
CHALLENGE = [("WWW-Authenticate", 'Bearer realm="api"')]
SECOND_FACTOR_REQUIRED = "/api/v1/problems/second-factor-required"


def _no_content() -> Response:
    return Response(status=204)


def _account_out(user: User) -> AccountOut:
    return AccountOut(id=user.id, username=user.username, created_at=user.created_at)


async def _account(active: SignedIn) -> User:
    """The token's account, read in a transaction ended before any argon2 work."""
    db = get_db()
    user = await get_user(db, active.user_id)
    await db.commit()
    if user is None:  # deleted meanwhile: the token died with it
        raise ProblemAnswer(problem(401, "Unauthorized", "The account no longer exists."))
    return user


@bp.post("/register")
@hashes_password
@counted_as("registration")
@rate_limited("THROTTLE_REGISTER_PER_MINUTE")
@document_request(RegisterInput)
@document_response(AccountOut, 201)
@problems(400, 409, 413, 415, 422, 429)
async def register() -> tuple[AccountOut, int] | Response:
    """Create an account (it does not sign in: ask for a token next)."""
    entered = await read_input(RegisterInput)
    db = get_db()
    try:
        user = await create_user(
            db, username=entered.username, password=entered.password, hasher=get_hasher()
        )
        await add_event(db, user.id, EventKind.REGISTERED)
        if entered.address:
            await offer_address(db, user, entered.address)  # mailed a link to confirm it
        await db.commit()
    except UsernameTaken:
        await db.rollback()
        message = USERNAME_TAKEN
        errors = [{"field": "username", "message": message}]
        return problem(409, "Conflict", message, errors=errors)
    return _account_out(user), 201


@bp.post("/tokens")
@hashes_password
@counted_as("login")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
@document_request(TokenRequestInput)
@document_response(TokenOut, 201)
@problems(400, 401, 413, 415, 422, 429)
async def create_token() -> tuple[TokenOut, int] | Response:
    """Sign in: a bearer token for the account, shown once; send it as
    ``Authorization: Bearer <token>``."""
    entered = await read_input(TokenRequestInput)
    outcome = await check_password(entered.username, entered.password)
    if isinstance(outcome, AttemptThrottled):
        retry = str(outcome.retry_after_seconds)
        return problem(
            429, "Too Many Requests", GENERIC_LOGIN_ERROR, headers=[("Retry-After", retry)]
        )
    if isinstance(outcome, PasswordRefused):
        return _login_refused()
    if outcome.user.two_factor_since is not None:
        db = get_db()
        pending = await begin_second_factor(db, outcome.user, kind=API, token_name=entered.name)
        try:
            await db.commit()
        except IntegrityError:  # the account was deleted while the password was checked
            await db.rollback()
            return _login_refused()
        count_login("second_factor_required")
        return problem(
            401,
            "Second factor required",
            "This account has two-factor sign-in: send a code from its authenticator app (or "
            "a recovery code) with second_factor_token to POST /api/v1/tokens/second-factor "
            "within 5 minutes.",
            headers=CHALLENGE,
            kind=SECOND_FACTOR_REQUIRED,
            members={"second_factor_token": pending},
        )
    return await _new_token(outcome.user, entered.name)


async def _new_token(user: User, name: str | None) -> tuple[TokenOut, int] | Response:
    try:
        new = await issue_api_token(user, name=name, user_agent=request_user_agent())
    except AccountGone:
        return _login_refused()
    expires_at = new.write.values["expires_at"]
    return TokenOut(token=new.token, expires_at=expires_at), 201


@bp.post("/tokens/second-factor")
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
@document_request(SecondFactorTokenInput)
@document_response(TokenOut, 201)
@problems(400, 401, 413, 415, 422, 429)
async def complete_token() -> tuple[TokenOut, int] | Response:
    """The second step of the sign-in for an account with two-factor on: the
    ``second_factor_token`` that ``POST /tokens`` answered with, and a current code from the
    authenticator app or an unused recovery code. 5 wrong codes end the token."""
    entered = await read_input(SecondFactorTokenInput)
    outcome = await check_second_factor(entered.second_factor_token, entered.code, kind=API)
    if isinstance(outcome, SecondFactorPassed):
        return await _new_token(outcome.user, outcome.step.token_name)
    if isinstance(outcome, SecondFactorRefused):
        left = outcome.attempts_left
        detail = f"{WRONG_CODE} {left} attempt{'s' if left != 1 else ''} left."
        return problem(401, "Unauthorized", detail, headers=CHALLENGE)
    if isinstance(outcome, SecondFactorThrottled):
        retry = str(outcome.retry_after_seconds)
        detail = "Too many wrong codes: wait Retry-After seconds."
        return problem(429, "Too Many Requests", detail, headers=[("Retry-After", retry)])
    detail = "The second_factor_token is unknown, used or expired: sign in again at POST /tokens."
    return problem(401, "Unauthorized", detail, headers=CHALLENGE)


def _login_refused() -> Response:
    """The form's generic message: nothing says whether the name exists."""
    return problem(401, "Unauthorized", GENERIC_LOGIN_ERROR, headers=CHALLENGE)


@bp.delete("/tokens/current")
@bearer_required
@document_response(NoContent, 204)
@problems(401)
async def delete_current_token() -> Response:
    """Sign out: end the token this request presents."""
    active = api_session()
    db = get_db()
    if await revoke_user_session(db, user_id=active.user_id, session_id=active.id) is not None:
        await add_event(db, active.user_id, EventKind.TOKEN_REVOKED)
    await db.commit()
    return _no_content()


@bp.get("/me")
@bearer_required
@document_response(AccountOut)
@problems(401)
async def me() -> AccountOut:
    """The account the token belongs to."""
    active = api_session()
    return AccountOut(
        id=active.user_id, username=active.username, created_at=active.user_created_at
    )


@bp.get("/sessions")
@bearer_required
@document_response(list[SessionOut])
@problems(401)
async def sessions() -> list[SessionOut]:
    """The account's live browser sessions and API tokens, this token first."""
    active = api_session()
    listings = await list_user_sessions(
        get_db(), user_id=active.user_id, current_id=active.id, settings=get_settings()
    )
    return [
        SessionOut.model_validate(
            {**asdict(item), "device": describe_user_agent(item.user_agent, unknown="")}
        )
        for item in listings
    ]


# max: a larger id is no session of anybody's (a 404), not an integer the database overflows on:
# sessions.id is an INTEGER, 32 bits on PostgreSQL, where asyncpg refuses a wider value (a 503).
@bp.delete("/sessions/<int(max=2147483647):session_id>")
@bearer_required
@document_response(NoContent, 204)
@problems(401, 404)
async def delete_session(session_id: int) -> Response:
    """End one of the account's sessions or tokens (this one included); 404 for any other id."""
    active = api_session()
    db = get_db()
    kind = await revoke_user_session(db, user_id=active.user_id, session_id=session_id)
    if kind is None:
        return problem(404, "Not Found", "No such session or token of yours.")
    await add_event(db, active.user_id, ended_event(kind))
    await db.commit()
    return _no_content()


@bp.put("/me/password")
@bearer_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
@document_request(PasswordChangeInput)
@document_response(NoContent, 204)
@problems(400, 401, 403, 413, 415, 422, 429)
async def change_password() -> Response:
    """Change the password; every other session and token of the account ends."""
    active = api_session()
    user = await _account(active)
    entered = await read_schema(PasswordChangeInput)
    try:
        enforce(entered, settings=get_settings(), username=user.username)
    except InputRejected as error:
        raise rejected(error) from None
    if not await reauthenticate(user, entered.current_password):
        return _wrong_password("current_password")
    db = get_db()
    ended = await stage_password_change(db, user, entered.new_password, keep_session_id=active.id)
    if ended is None:  # another change or a deletion won meanwhile
        await db.rollback()
        await _account(active)
        return _wrong_password("current_password")
    await db.commit()
    return _no_content()


@bp.delete("/me")
@bearer_required
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
@document_request(AccountDeleteInput)
@document_response(NoContent, 204)
@problems(400, 401, 403, 413, 415, 422, 429)
async def delete_account() -> Response:
    """Delete the account, with every session, token and event of it."""
    active = api_session()
    user = await _account(active)
    entered = await read_input(AccountDeleteInput)
    if not await reauthenticate(user, entered.password):
        return _wrong_password("password")
    db = get_db()
    if user.email:  # the notice outlives the account, in the same commit
        await queue_notice(db, "account_deleted", to=user.email, username=user.username)
    await delete_user(db, user.id)
    await db.commit()
    return _no_content()


@bp.post("/password-reset")
@document_request(ResetRequestInput)
@document_response(ResetRequested, 202)
@problems(400, 413, 415)
async def request_password_reset() -> tuple[ResetRequested, int]:
    """Mail a reset link to the confirmed address of the account a username or address
    names. Always 202 with the same body: the answer tells nobody whether such an account
    exists (the lookup and the mail happen after it)."""
    entered = await read_input(ResetRequestInput)
    if entered.login.strip():
        current_app.add_background_task(request_reset, entered.login, notice_context())
    return ResetRequested(), 202


@bp.post("/password-reset/confirm")
@hashes_password
@rate_limited("THROTTLE_ACCOUNT_PER_MINUTE")
@document_request(ResetConfirmInput)
@document_response(NoContent, 204)
@problems(400, 413, 415, 422, 429)
async def confirm_password_reset() -> Response:
    """Set a new password with a mailed link's token: every session and token of the account
    ends. 422 for a token that is unknown, used, replaced or expired."""
    entered = await read_schema(ResetConfirmInput)
    db = get_db()
    user = await account_of_link(db, entered.token)
    await db.commit()  # end the read before argon2 runs
    if user is None:
        return _dead_link()
    try:
        enforce(entered, settings=get_settings(), username=user.username)
    except InputRejected as error:
        raise rejected(error) from None
    ip = request_ip()
    if await finish_reset(db, entered.token, entered.new_password, notice_context(), ip) is None:
        return _dead_link()
    return _no_content()


def _dead_link() -> Response:
    message = "The link was already used, a newer one replaced it, or it expired."
    return problem(
        422, "Unprocessable Content", message, errors=[{"field": "token", "message": message}]
    )


def _wrong_password(field: str) -> Response:
    errors = [{"field": field, "message": NOT_CURRENT}]
    return problem(403, "Forbidden", NOT_CURRENT, errors=errors)

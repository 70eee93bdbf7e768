"""The second step of signing in: ``/login/two-factor`` asks for an authenticator code or a
recovery code after the right password, for accounts with two-factor on."""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from quart_app.authn.second_factor import (
    PENDING_SIGN_IN,
    NoPendingSignIn,
    PendingStep,
    SecondFactorAbandoned,
    SecondFactorPassed,
    SecondFactorRefused,
    SecondFactorThrottled,
    check_second_factor,
    pending_step,
)
from quart_app.authn.sign_in import AccountGone, start_session
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, request_user_agent
from quart_app.mfa.passkeys import has_passkeys
from quart_app.sessions.models import BROWSER
from quart_app.state import get_settings
from quart_app.validation import InputRejected, SecondFactorInput, check
from quart_app.validation.inputs import WRONG_CODE
from quart_app.web.forms import form_input, read_form
from quart_app.web.pages import PageWithHeaders, page_with_headers
from quart_app.web.redirects import safe_next
from quart_app.web.route_policy import rate_limited

bp = Blueprint("second_factor", __name__)
Page = tuple[str, int] | PageWithHeaders | WerkzeugResponse


async def _page(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    step: PendingStep | None = None,
    **context: object,
) -> PageWithHeaders:
    """The code form; with "Use a passkey" when the pending account has one. ``step`` is the
    pending sign-in when the caller has just read it; otherwise it is read here."""
    db = get_db()
    if step is None:
        token = session.get(PENDING_SIGN_IN)
        step = await pending_step(db, token, BROWSER) if isinstance(token, str) else None
    context["has_passkeys"] = step is not None and await has_passkeys(db, step.user_id)
    await db.commit()
    page = await render_template("auth/two_factor.html", **context)
    return page_with_headers(page, status, headers)


async def _start_again(message: str) -> WerkzeugResponse:
    session.pop(PENDING_SIGN_IN, None)
    await flash(message, "error")
    return redirect(url_for("auth.login"), 303)


@bp.route("/login/two-factor", methods=["GET", "POST"])
@rate_limited("THROTTLE_LOGIN_PER_MINUTE")
async def login_step() -> Page:
    token = session.get(PENDING_SIGN_IN)
    if not isinstance(token, str):
        return await _start_again("Sign in with your password first.")
    if request.method != "POST":  # GET, and HEAD (Quart adds it to GET): only the form
        db = get_db()
        step = await pending_step(db, token, BROWSER)
        await db.commit()
        if step is None:
            return await _start_again("That sign-in has expired. Sign in again.")
        return await _page(step=step)
    try:
        entered = check(
            SecondFactorInput,
            form_input(await read_form(), SecondFactorInput),
            settings=get_settings(),
        )
    except InputRejected as rejected:
        return await _page(400, errors=rejected.by_field())
    outcome = await check_second_factor(token, entered.code, kind=BROWSER)
    if isinstance(outcome, SecondFactorRefused):
        left = outcome.attempts_left
        message = f"{WRONG_CODE} {left} attempt{'s' if left != 1 else ''} left."
        return await _page(401, errors={"code": [message]})
    if isinstance(outcome, SecondFactorThrottled):
        wait = outcome.retry_after_seconds
        message = f"Too many wrong codes: wait {wait} seconds, then try again."
        return await _page(429, {"Retry-After": str(wait)}, errors={"code": [message]})
    if isinstance(outcome, SecondFactorAbandoned):
        return await _start_again("Too many wrong codes. Sign in again.")
    if isinstance(outcome, NoPendingSignIn):
        return await _start_again("That sign-in has expired. Sign in again.")
    return await _signed_in(outcome)


async def _signed_in(passed: SecondFactorPassed) -> WerkzeugResponse:
    session.clear()  # the pending token and the old CSRF token: a fresh browser session
    try:
        await start_session(
            passed.user,
            remember=passed.step.remember,
            user_agent=request_user_agent(),
            event=EventKind.LOGIN_SUCCEEDED,
        )
    except AccountGone:
        return await _start_again("That sign-in has expired. Sign in again.")
    message = f"Signed in as {passed.user.username}."
    if passed.recovery_code_used:
        message += (
            " You used a recovery code: it will not work again, and your other sessions were "
            "signed out. If your authenticator app is lost, set up a new one."
        )
    await flash(message, "success")
    return redirect(safe_next(passed.step.next_path), 303)

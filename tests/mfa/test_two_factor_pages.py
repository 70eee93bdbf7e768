"""The two-factor account pages: enrolment confirmed by a code computed from the page's own
secret, recovery codes shown once, replacement and turning off, each needing the current
password, each an event and a notice that ends the other sessions."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
from quart import Quart
from sqlalchemy import select

from quart_app.accounts.models import User
from quart_app.events.models import AuthEvent
from quart_app.mfa.models import RecoveryCode, TotpCredential, TotpEnrolment
from quart_app.state import get_database
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows, csrf_from
from tests.support.mail import with_address

ENROL = "/account/two-factor/totp"
SECRET_SHOWN = re.compile(r'<p class="secret"><code[^>]*>([A-Z2-7 ]+)</code></p>')
CODE_SHOWN = re.compile(r"<li><code>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){5})</code></li>")


async def page_text(response: Any) -> str:
    return str(await response.get_data(as_text=True))


async def shown_secret(client: Client) -> str:
    page = await client.get(ENROL)
    assert page.status_code == 200
    text = await page_text(page)
    assert "<svg" in text and 'class="segno"' in text  # the QR code, inline
    (grouped,) = SECRET_SHOWN.findall(text)
    secret = grouped.replace(" ", "")
    assert f"secret={secret}" in html.unescape(text)  # the otpauth URI carries the same secret
    return secret


async def enrol(client: Client, password: str = PASSWORD) -> tuple[str, list[str]]:
    secret = await shown_secret(client)
    done = await client.post(
        ENROL, form={"code": pyotp.TOTP(secret).now(), "current_password": password}
    )
    assert done.status_code == 200, await page_text(done)
    codes = CODE_SHOWN.findall(await page_text(done))
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


async def kinds(app: Quart, user_id: int) -> list[str]:
    async with get_database(app).new_db() as db:
        query = select(AuthEvent.kind).where(AuthEvent.user_id == user_id).order_by(AuthEvent.id)
        return list((await db.scalars(query)).all())


async def test_enrolling_turns_two_factor_on_with_a_code_from_the_pages_secret(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    ann = await make_user("ann")
    await with_address(app, ann, "ann@example.org")
    browser, elsewhere = await signed_in_client(ann), await signed_in_client(ann)
    secret = await shown_secret(browser)
    assert await shown_secret(browser) == secret  # a reload shows the same pending secret
    _, codes = await enrol(browser)

    assert (await browser.get("/dashboard")).status_code == 200  # this session stays
    assert (await elsewhere.get("/dashboard")).status_code == 302  # the others end
    overview = await page_text(await browser.get("/account/two-factor"))
    assert "On since" in overview and "10 of 10" in overview
    async with get_database(app).new_db() as db:
        credential = await db.get(TotpCredential, ann.id)
        user = await db.get(User, ann.id)
    assert credential is not None and secret not in credential.secret  # sealed at rest
    assert user is not None and user.two_factor_since is not None
    assert await count_rows(app, TotpEnrolment) == 0
    assert await count_rows(app, RecoveryCode) == 10
    async with get_database(app).new_db() as db:
        digests = set((await db.scalars(select(RecoveryCode.digest))).all())
    assert not any(code.replace("-", "") in digest for code in codes for digest in digests)
    assert "two_factor_enabled" in await kinds(app, ann.id)
    (notice,) = await mail_outbox.wait_for(1)
    assert notice["Subject"] == "Two-factor sign-in was turned on"
    assert (
        not any(code in notice.as_string() for code in codes) and secret not in notice.as_string()
    )


async def test_enrolment_refuses_a_wrong_code_or_password_and_changes_nothing(
    app: Quart, make_user: Any, signed_in_client: Any
) -> None:
    ann = await make_user("ann")
    browser = await signed_in_client(ann)
    secret = await shown_secret(browser)
    right = pyotp.TOTP(secret).now()
    for form, field_message in [
        ({"code": "000000", "current_password": PASSWORD}, "That code is not right"),
        ({"code": right, "current_password": "not my password"}, "That is not your current"),
        ({"code": "12ab", "current_password": PASSWORD}, "Enter the 6-digit code"),
        ({"code": right}, "Enter your current password"),
    ]:
        refused = await browser.post(ENROL, form=form)
        assert refused.status_code == 400
        assert field_message in await page_text(refused)
        assert await shown_secret(browser) == secret  # the same enrolment waits
    assert await count_rows(app, TotpCredential) == 0
    assert await count_rows(app, RecoveryCode) == 0


async def test_an_enrolment_is_this_sessions_own(
    app: Quart, make_user: Any, signed_in_client: Any
) -> None:
    ann = await make_user("ann")
    first, second = await signed_in_client(ann), await signed_in_client(ann)
    secret = await shown_secret(first)
    assert await shown_secret(second) != secret
    # A code for the first session's secret does not confirm the second's.
    refused = await second.post(
        ENROL, form={"code": pyotp.TOTP(secret).now(), "current_password": PASSWORD}
    )
    assert refused.status_code == 400
    assert await count_rows(app, TotpCredential) == 0


async def test_new_recovery_codes_replace_the_old_ones(
    app: Quart, make_user: Any, signed_in_client: Any
) -> None:
    ann = await make_user("ann")
    browser = await signed_in_client(ann)
    _, old_codes = await enrol(browser)
    refused = await browser.post(
        "/account/two-factor/recovery-codes", form={"current_password": "nope"}
    )
    assert refused.status_code == 400
    assert "That is not your current password." in await page_text(refused)
    made = await browser.post(
        "/account/two-factor/recovery-codes", form={"current_password": PASSWORD}
    )
    assert made.status_code == 200
    new_codes = CODE_SHOWN.findall(await page_text(made))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert await count_rows(app, RecoveryCode) == 10
    assert "recovery_codes_replaced" in await kinds(app, ann.id)


async def test_turning_it_off_deletes_the_secret_and_codes_and_signs_in_with_the_password(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, signed_in_client: Any
) -> None:
    ann = await make_user("ann")
    browser = await signed_in_client(ann)
    await enrol(browser)
    refused = await browser.post("/account/two-factor/disable", form={"current_password": "nope"})
    assert refused.status_code == 400
    assert await count_rows(app, TotpCredential) == 1
    done = await browser.post("/account/two-factor/disable", form={"current_password": PASSWORD})
    assert (done.status_code, done.headers["Location"]) == (303, "/account/two-factor")
    assert await count_rows(app, TotpCredential) == 0
    assert await count_rows(app, RecoveryCode) == 0
    assert "Off: your password alone signs in" in await page_text(
        await browser.get("/account/two-factor")
    )
    assert (await auth.login("ann", PASSWORD)).headers["Location"] == "/"
    assert "two_factor_disabled" in await kinds(app, ann.id)


async def test_the_pages_need_a_sign_in_and_the_enrolment_page_needs_two_factor_off(
    client: Client, make_user: Any, signed_in_client: Any, totp_device: Any
) -> None:
    for path in ("/account/two-factor", ENROL):
        response = await client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    ann = await make_user("ann")
    await totp_device(ann)
    browser = await signed_in_client(ann)
    again = await browser.get(ENROL)
    assert (again.status_code, again.headers["Location"]) == (303, "/account/two-factor")


async def test_enrolling_ends_pending_sign_ins(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, signed_in_client: Any
) -> None:
    ann = await make_user("ann")
    browser = await signed_in_client(ann)
    secret, _ = await enrol(browser)
    assert (await auth.login("ann", PASSWORD)).headers["Location"] == "/login/two-factor"
    form = {"current_password": PASSWORD}
    assert (await browser.post("/account/two-factor/recovery-codes", form=form)).status_code == 200
    # The sign-in that was waiting for its code must start again.
    assert (await client.get("/login/two-factor")).headers["Location"] == "/login"
    page = await client.get("/login")
    assert csrf_from(await page_text(page))
    del secret

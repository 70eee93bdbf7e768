"""GET /metrics: who may read it, and that logins, registrations, throttling, shedding, hashing,
mail and request durations are counted as they happen (readings compared before and after:
metrics are per process, shared by every app a test makes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from quart import Quart

from quart_app import create_app
from quart_app.config import ConfigError, Settings
from quart_app.testing.metrics import LOOPBACK_CLIENT, MetricsReading, read_metrics
from quart_app.testing.totp import TotpDevice
from tests.support.auth import PASSWORD, AuthActions, Client
from tests.support.hashing import pool_held_by

LISTED = {
    "auth_logins_total",
    "auth_registrations_total",
    "auth_throttled_total",
    "auth_shed_total",
    "auth_password_hash_seconds_count",
    "auth_hash_queue_depth",
    "auth_mail_total",
    "auth_mail_outbox_pending",
    "http_request_duration_seconds_count",
}
TOKEN = "m" * 40
OUTSIDER = {"client": ("203.0.113.5", 40000)}


async def reading_when(
    client: Client, condition: Callable[[MetricsReading], bool]
) -> MetricsReading:
    """The first reading that meets ``condition``, or the last after about 6 s."""
    reading = await read_metrics(client)
    for _ in range(300):
        if condition(reading):
            break
        await asyncio.sleep(0.02)
        reading = await read_metrics(client)
    return reading


async def scrape(client: Client, **kwargs: Any) -> tuple[int, str]:
    response = await client.get("/metrics", **kwargs)
    return response.status_code, await response.get_data(as_text=True)


async def test_loopback_reads_every_listed_metric_in_prometheus_text(client: Client) -> None:
    response = await client.get("/metrics", scope_base=LOOPBACK_CLIENT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    reading = await read_metrics(client)
    assert LISTED <= reading.names()
    for outcome in ("success", "failed", "throttled", "shed", "second_factor_required"):
        assert ("auth_logins_total", frozenset({("outcome", outcome)})) in reading.samples


async def test_anyone_else_gets_the_plain_404(client: Client) -> None:
    status, body = await scrape(client, scope_base=OUTSIDER)
    assert status == 404
    assert "auth_logins_total" not in body
    assert (await scrape(client))[0] == 404  # no peer address at all


async def test_a_request_forwarded_by_an_undeclared_proxy_is_not_the_proxys(
    client: Client,
) -> None:
    """Behind a reverse proxy on the same host every request comes from 127.0.0.1: the
    forwarding header says it is someone else's."""
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        value = "for=198.51.100.7" if header == "Forwarded" else "198.51.100.7"
        status, _ = await scrape(client, headers={header: value}, scope_base=LOOPBACK_CLIENT)
        assert status == 404, header


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [("10.1.2.3", 200), ("198.51.100.7", 404), (None, 404)],
)
async def test_through_a_trusted_proxy_the_client_address_decides(
    app_config: dict[str, Any], forwarded_for: str | None, expected: int
) -> None:
    config = {**app_config, "TRUSTED_PROXIES": ("127.0.0.1",), "METRICS_ALLOW": ("10.0.0.0/8",)}
    app = create_app(config)
    async with app.test_app():
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        status, _ = await scrape(app.test_client(), headers=headers, scope_base=LOOPBACK_CLIENT)
    assert status == expected


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        (f"Bearer {TOKEN}x", 404),
        (f"Basic {TOKEN}", 404),
        ("Bearer ", 404),
        (None, 404),
    ],
)
async def test_the_token_opens_it_from_anywhere(
    app_config: dict[str, Any], authorization: str | None, expected: int
) -> None:
    app = create_app({**app_config, "METRICS_TOKEN": TOKEN, "METRICS_ALLOW": ()})
    async with app.test_app():
        headers = {"Authorization": authorization} if authorization else {}
        status, body = await scrape(app.test_client(), headers=headers, scope_base=OUTSIDER)
    assert status == expected
    assert TOKEN not in body


def test_settings_refuse_a_short_token_and_a_bad_network() -> None:
    with pytest.raises(ConfigError, match="METRICS_TOKEN needs at least 32") as short:
        Settings.load({}, {"METRICS_TOKEN": "short-token"})
    assert "short-token" not in str(short.value)
    with pytest.raises(ConfigError, match="METRICS_ALLOW"):
        Settings.load({"METRICS_ALLOW": "10.0.0.0/8,not-a-network"})
    assert Settings.load({"METRICS_ALLOW": "10.0.0.0/8, ::1"}).METRICS_ALLOW == (
        "10.0.0.0/8",
        "::1",
    )


async def test_sign_ins_are_counted_by_outcome(app: Quart, client: Client) -> None:
    auth = AuthActions(client)
    assert (await auth.register("alice")).status_code == 303
    await auth.logout()
    before = await read_metrics(client)
    assert (await auth.login("alice", "not the password at all")).status_code == 401
    assert (await auth.login("nobody", PASSWORD)).status_code == 401
    assert (await auth.login("alice")).status_code == 303
    after = await read_metrics(client)
    assert after.delta(before, "auth_logins_total", outcome="failed") == 2
    assert after.delta(before, "auth_logins_total", outcome="success") == 1
    # Three verifies (the unknown name's is against the dummy hash), each timed in its thread.
    assert after.delta(before, "auth_password_hash_seconds_count", operation="verify") == 3
    assert after.delta(before, "auth_password_hash_seconds_sum", operation="verify") > 0
    assert after.value("auth_hash_queue_depth") == 0


async def test_a_failed_login_limit_counts_as_throttled(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "THROTTLE_PAIR_LIMIT": 2})
    async with app.test_app():
        client = app.test_client()
        auth = AuthActions(client)
        await auth.register("alice")
        await auth.logout()
        before = await read_metrics(client)
        for _ in range(2):
            assert (await auth.login("alice", "wrong password here")).status_code == 401
        assert (await auth.login("alice")).status_code == 429
        after = await read_metrics(client)
    assert after.delta(before, "auth_logins_total", outcome="failed") == 2
    assert after.delta(before, "auth_logins_total", outcome="throttled") == 1
    assert after.delta(before, "auth_throttled_total", scope="login") == 1
    assert after.delta(before, "auth_logins_total", outcome="success") == 0


async def test_checking_the_current_password_is_not_a_sign_in(
    app: Quart, signed_in_client: Any, make_user: Any
) -> None:
    user = await make_user("alice")
    client = await signed_in_client(user)
    before = await read_metrics(client)
    form = {
        "current_password": "not my password",
        "new_password": "a new password of length",
        "csrf_token": await client.csrf_token(),
    }
    assert (await client.post("/account/password", form=form)).status_code == 400
    after = await read_metrics(client)
    assert after.delta(before, "auth_logins_total", outcome="failed") == 0
    assert after.delta(before, "auth_password_hash_seconds_count", operation="verify") == 1


async def test_second_factor_steps_are_counted(
    app: Quart, client: Client, make_user: Any, totp_device: Any
) -> None:
    user = await make_user("alice")
    device: TotpDevice = await totp_device(user)
    auth = AuthActions(client)
    before = await read_metrics(client)
    response = await auth.login("alice")
    assert response.headers["Location"] == "/login/two-factor"
    token = await auth.csrf("/login/two-factor")
    wrong = await client.post("/login/two-factor", form={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    right = {"code": await device.fresh_code(), "csrf_token": token}
    assert (await client.post("/login/two-factor", form=right)).status_code == 303
    after = await read_metrics(client)
    assert after.delta(before, "auth_logins_total", outcome="second_factor_required") == 1
    assert after.delta(before, "auth_logins_total", outcome="second_factor_failed") == 1
    assert after.delta(before, "auth_logins_total", outcome="success") == 1


async def test_api_sign_ins_count_like_the_browsers(
    app: Quart, client: Client, make_user: Any
) -> None:
    await make_user("alice")
    before = await read_metrics(client)
    good = await client.post("/api/v1/tokens", json={"username": "alice", "password": PASSWORD})
    bad = await client.post("/api/v1/tokens", json={"username": "alice", "password": "x" * 12})
    assert (good.status_code, bad.status_code) == (201, 401)
    after = await read_metrics(client)
    assert after.delta(before, "auth_logins_total", outcome="success") == 1
    assert after.delta(before, "auth_logins_total", outcome="failed") == 1


async def test_registrations_are_counted_by_outcome(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "THROTTLE_REGISTER_PER_MINUTE": 3})
    async with app.test_app():
        client = app.test_client()
        auth = AuthActions(client)
        before = await read_metrics(client)
        assert (await auth.register("alice")).status_code == 303
        await auth.logout()
        assert (await auth.register("alice")).status_code == 409
        assert (await auth.register("bob", "short")).status_code == 400
        api = await client.post("/api/v1/register", json={"username": "carol", "password": 1})
        assert api.status_code in {400, 422}
        assert (await auth.register("dave")).status_code == 429  # its 4th POST this minute
        after = await read_metrics(client)
    assert after.delta(before, "auth_registrations_total", outcome="success") == 1
    assert after.delta(before, "auth_registrations_total", outcome="taken") == 1
    assert after.delta(before, "auth_registrations_total", outcome="invalid") == 2
    assert after.delta(before, "auth_registrations_total", outcome="throttled") == 1
    assert after.delta(before, "auth_throttled_total", scope="ip") == 1


async def test_shed_logins_are_counted(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "HASH_POOL_SIZE": 1, "HASH_QUEUE_LIMIT": 0})
    async with app.test_app():
        first, second = AuthActions(app.test_client()), AuthActions(app.test_client())
        assert (await first.register("alice")).status_code == 303
        await first.logout()
        token = await second.csrf("/login")
        before = await read_metrics(second.client)
        async with pool_held_by(app, first.login("alice")) as holding:
            during = await read_metrics(second.client)
            form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
            assert (await second.client.post("/login", form=form)).status_code == 503
            assert (await second.client.get("/register")).status_code == 503
        assert (await holding).status_code == 303
        after = await read_metrics(second.client)
    assert during.value("auth_hash_queue_depth") == 1
    assert after.delta(before, "auth_shed_total") == 2
    assert after.delta(before, "auth_logins_total", outcome="shed") == 1
    assert after.delta(before, "auth_registrations_total", outcome="shed") == 1
    assert after.value("auth_hash_queue_depth") == 0


async def test_durations_are_labelled_by_route_template_never_the_path(
    app: Quart, client: Client
) -> None:
    secret = "a-token-that-must-not-be-a-label-0123456789"
    before = await read_metrics(client)
    assert (await client.get(f"/reset-password/{secret}")).status_code in {200, 400, 404}
    assert (await client.get(f"/no-such-page/{secret}")).status_code == 404
    assert (await client.open("/login", method="BREW")).status_code in {400, 405, 501}
    response = await client.get("/metrics", scope_base=LOOPBACK_CLIENT)
    body = await response.get_data(as_text=True)
    after = await read_metrics(client)
    assert secret not in body
    template = "/reset-password/<string(maxlength=100):token>"
    assert any(
        name == "http_request_duration_seconds_count" and ("route", template) in labels
        for name, labels in after.samples
    )
    assert after.total("http_request_duration_seconds_count", route="unmatched") > before.total(
        "http_request_duration_seconds_count", route="unmatched"
    )
    assert "BREW" not in body
    assert after.total("http_request_duration_seconds_count", method="other") >= 1


async def test_mail_is_counted_and_the_outbox_gauged(app_config: dict[str, Any]) -> None:
    """SMTP pointed at a closed port: the mail stays in the outbox, retried."""
    config = {**app_config, "SMTP_URL": "smtp://127.0.0.1:9", "MAIL_RETRY_DELAYS": (1,)}
    app = create_app(config)
    async with app.test_app():
        client = app.test_client()
        before = await read_metrics(client)
        registered = await AuthActions(client).register("alice", email="alice@example.com")
        assert registered.status_code == 303
        # The sender's first attempt fails at once: nothing listens.
        reading = await reading_when(
            client, lambda r: r.delta(before, "auth_mail_total", outcome="retried") >= 1
        )
    assert reading.delta(before, "auth_mail_total", outcome="retried") >= 1
    assert reading.value("auth_mail_outbox_pending") >= 1
    assert reading.delta(before, "auth_mail_total", outcome="sent") == 0


async def test_delivered_mail_is_counted_as_sent(
    app: Quart, client: Client, mail_outbox: Any
) -> None:
    before = await read_metrics(client)
    registered = await AuthActions(client).register("bob", email="bob@example.com")
    assert registered.status_code == 303
    await mail_outbox.wait_for(1)
    # The sender deletes the row just after the SMTP server has the mail.
    reading = await reading_when(
        client,
        lambda r: (
            r.delta(before, "auth_mail_total", outcome="sent") >= 1
            and r.value("auth_mail_outbox_pending") == 0
        ),
    )
    assert reading.delta(before, "auth_mail_total", outcome="sent") == 1
    assert reading.value("auth_mail_outbox_pending") == 0

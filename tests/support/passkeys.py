"""Passkey route-test helpers: add one through the account's ceremony, sign in with one."""

from __future__ import annotations

from typing import Any

from quart_app.testing.webauthn import SoftPasskey
from tests.support.auth import Client, csrf_from

ORIGIN = "http://localhost:8000"  # the default PUBLIC_URL's


async def add(browser: Any, passkey: SoftPasskey, name: str = "Laptop", **extra: str) -> Any:
    options = await browser.post("/account/passkeys/options", json={"name": name, **extra})
    assert options.status_code == 200, await options.get_data(as_text=True)
    body = await options.get_json()
    credential = passkey.create(body["publicKey"])
    return await browser.post(
        "/account/passkeys", json={"ceremony": body["ceremony"], "credential": credential}
    )


async def with_csrf(client: Client, path: str = "/login") -> dict[str, str]:
    page = await client.get(path)
    return {"X-CSRF-Token": csrf_from(await page.get_data(as_text=True))}


async def passkey_sign_in(
    client: Client, passkey: SoftPasskey, path: str = "/login/passkey", **query: str
) -> Any:
    headers = await with_csrf(client)
    options = await client.post(f"{path}/options", json={}, headers=headers)
    assert options.status_code == 200, await options.get_data(as_text=True)
    body = await options.get_json()
    credential = passkey.get(body["publicKey"])
    return await client.post(
        path,
        json={"ceremony": body["ceremony"], "credential": credential},
        headers=headers,
        query_string=query or None,
    )

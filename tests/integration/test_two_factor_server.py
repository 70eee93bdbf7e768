"""Two-factor against the real two-worker server: enrolled through its pages with codes that
pyotp computes from the page's own secret, as an authenticator app would; the code step, the
replay guard across workers, a recovery code, and the API's two-step sign-in."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pyotp

from tests.support.http import (
    extract_csrf_token,
    fetch_csrf_token,
    login,
    logout,
    register,
    unique_password,
    unique_username,
)
from tests.support.servers import LiveServer
from tests.support.workers import client_per_worker, worker_of_response

SECRET = re.compile(r'<p class="secret"><code[^>]*>([A-Z2-7 ]+)</code></p>')
RECOVERY_CODE = re.compile(r"<li><code>([A-Z2-7-]{29})</code></li>")


def browser(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, timeout=30)


async def enrol(client: httpx.AsyncClient, password: str) -> tuple[pyotp.TOTP, list[str]]:
    page = (await client.get("/account/two-factor/totp")).text
    (grouped,) = SECRET.findall(page)
    app = pyotp.TOTP(grouped.replace(" ", ""))
    form = {"code": app.now(), "current_password": password, "csrf_token": extract_csrf_token(page)}
    done = await client.post("/account/two-factor/totp", data=form)
    assert done.status_code == 200, done.text
    codes = RECOVERY_CODE.findall(done.text)
    assert len(codes) == 10
    return app, codes


async def code_step(client: httpx.AsyncClient, code: str) -> httpx.Response:
    token = await fetch_csrf_token(client, "/login/two-factor")
    return await client.post("/login/two-factor", data={"code": code, "csrf_token": token})


async def test_the_whole_two_factor_flow_on_a_real_server(live_server: LiveServer) -> None:
    username, password = unique_username("tfa"), unique_password()
    async with browser(live_server) as client:
        assert (await register(client, username, password)).status_code == 303
        app, recovery_codes = await enrol(client, password)
        await logout(client)

        step = await login(client, username, password, next_path="/account/activity")
        assert (step.status_code, step.headers["Location"]) == (303, "/login/two-factor")
        assert (await client.get("/dashboard")).status_code == 302
        code = app.at(time.time() + 30)  # the enrolment used this step's code
        done = await code_step(client, code)
        assert (done.status_code, done.headers["Location"]) == (303, "/account/activity")
        assert (await client.get("/dashboard")).status_code == 200

    # The same code, sent to both workers at once by two fresh sign-ins: refused everywhere.
    async def replay(pid: str, other: httpx.AsyncClient) -> int:
        assert (await login(other, username, password)).status_code == 303
        refused = await code_step(other, code)
        assert await worker_of_response(live_server, refused) == pid
        return refused.status_code

    async with client_per_worker(live_server) as clients:
        assert await asyncio.gather(*(replay(*pinned) for pinned in clients.items())) == [401] * 2

    async with browser(live_server) as client:
        await login(client, username, password)
        used = await code_step(client, recovery_codes[0])
        assert used.status_code == 303
        assert "recovery code" in (await client.get(used.headers["Location"])).text

    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as api:
        first = await api.post("/api/v1/tokens", json={"username": username, "password": password})
        assert first.status_code == 401
        pending = first.json()["second_factor_token"]
        issued = await api.post(
            "/api/v1/tokens/second-factor",
            json={"second_factor_token": pending, "code": recovery_codes[1]},
        )
        assert issued.status_code == 201, issued.text
        me = await api.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {issued.json()['token']}"}
        )
        assert me.status_code == 200 and me.json()["username"] == username

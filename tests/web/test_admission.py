"""Admission control: a bounded queue in front of the hash pool, and a fast 503 past it."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest
from argon2 import PasswordHasher

from quart_app import create_app
from quart_app.passwords.hasher import HashPoolBusy, PasswordHasherPool
from quart_app.state import get_hasher
from quart_app.web.admission import AdmissionControl
from tests.support.auth import PASSWORD, AuthActions
from tests.support.hashing import GatedHasher, pool_held_by
from tests.support.headers import assert_security_headers


async def test_pool_sheds_past_pool_plus_queue_and_recovers() -> None:
    pool = PasswordHasherPool(
        time_cost=1, memory_cost=1024, parallelism=1, pool_size=1, queue_limit=2
    )
    await pool.start()
    digest = await pool.hash("correct horse battery")
    gate = threading.Event()
    pool.hasher = GatedHasher(gate)
    try:
        admitted = [
            asyncio.ensure_future(pool.verify(digest, "correct horse battery")) for _ in range(3)
        ]
        await asyncio.sleep(0)  # let all three start: one running, two queued
        assert pool.admitted == 3
        with pytest.raises(HashPoolBusy):
            await pool.verify(digest, "correct horse battery")
        gate.set()
        assert await asyncio.gather(*admitted) == [True, True, True]
        assert pool.admitted == 0
        assert await pool.verify(digest, "correct horse battery")  # capacity is back
    finally:
        gate.set()
        pool.shutdown()


async def test_cancelled_waiter_frees_its_place() -> None:
    pool = PasswordHasherPool(
        time_cost=1, memory_cost=1024, parallelism=1, pool_size=1, queue_limit=1
    )
    await pool.start()
    digest = await pool.hash("correct horse battery")
    gate = threading.Event()
    pool.hasher = GatedHasher(gate)
    try:
        running = asyncio.ensure_future(pool.verify(digest, "correct horse battery"))
        waiting = asyncio.ensure_future(pool.verify(digest, "correct horse battery"))
        await asyncio.sleep(0)
        assert pool.admitted == 2
        waiting.cancel()  # the client went away while queued
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.admitted == 1
        gate.set()
        assert await running
    finally:
        gate.set()
        pool.shutdown()


async def test_login_past_capacity_gets_fast_503_with_retry_after(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "HASH_POOL_SIZE": 1, "HASH_QUEUE_LIMIT": 0})
    async with app.test_app():
        first, second = AuthActions(app.test_client()), AuthActions(app.test_client())
        assert (await first.register("alice")).status_code == 303
        await first.logout()
        token = await second.csrf("/login")
        async with pool_held_by(app, first.login("alice")) as holding:
            assert get_hasher(app).admitted == 1
            # The form was loaded before the pool filled up (now the form itself is shed too).
            form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
            shed = await second.client.post("/login", form=form)
            html = await shed.get_data(as_text=True)
            assert shed.status_code == 503
            assert shed.headers["Retry-After"] in {"1", "2", "3"}
            assert "Too many sign-ins at once" in html and PASSWORD not in html
            assert not any(c.startswith("auth=") for c in shed.headers.getlist("Set-Cookie"))
        assert (await holding).status_code == 303
        assert (await second.login("alice")).status_code == 303  # served once capacity is back


async def test_shedding_happens_before_any_other_work(app_config: dict[str, Any]) -> None:
    # No CSRF token and no form at all: a 400 would mean the request got past the door.
    app = create_app({**app_config, "HASH_POOL_SIZE": 1, "HASH_QUEUE_LIMIT": 0})
    async with app.test_app():
        hasher = get_hasher(app)
        digest = await hasher.hash("correct horse battery")
        gate = threading.Event()
        hasher.hasher = GatedHasher(gate)
        try:
            holding = asyncio.ensure_future(hasher.verify(digest, "correct horse battery"))
            await asyncio.sleep(0)
            for path in ("/login", "/register", "/account/password", "/account/delete"):
                response = await app.test_client().post(path)
                assert response.status_code == 503
                assert "Too many sign-ins at once" in await response.get_data(as_text=True)
                assert response.headers["Retry-After"] in {"1", "2", "3"}
                assert_security_headers(response.headers)
                assert response.headers["Cache-Control"] == "no-store"
            assert (await app.test_client().post("/logout")).status_code == 400  # not hashing
            # The forms too: served now, they would only come back as POSTs to refuse.
            for path in ("/login", "/register"):
                assert (await app.test_client().get(path)).status_code == 503
            assert (await app.test_client().get("/")).status_code == 200  # the rest of the site
            gate.set()
            assert await holding
        finally:
            gate.set()
        assert (await app.test_client().post("/login")).status_code == 400  # back to normal
        assert (await app.test_client().get("/login")).status_code == 200


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread niceness is a POSIX feature")
async def test_hashing_threads_run_at_lower_priority_than_the_loop() -> None:
    pool = PasswordHasherPool(time_cost=1, memory_cost=1024, parallelism=1, pool_size=1)
    await pool.start()
    try:
        loop_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen: list[int] = []

        class RecordingHasher(PasswordHasher):
            def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
                seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
                return super().hash(password, salt=salt)

        pool.hasher = RecordingHasher(time_cost=1, memory_cost=1024, parallelism=1)
        await pool.hash("correct horse battery")
        assert seen == [min(loop_niceness + 10, 19)]
    finally:
        pool.shutdown()


class Door:
    """AdmissionControl around an ASGI app that reads its body, then waits for ``gate``."""

    def __init__(self, capacity: int) -> None:
        self.pool = PasswordHasherPool(
            time_cost=1, memory_cost=1024, parallelism=1, pool_size=1, queue_limit=capacity - 1
        )
        self.gate = asyncio.Event()
        self.reached = 0  # requests that got past the door
        self.door = AdmissionControl(self.inner, self.pool, {"/login": "login"}, {}, "Latchkey")

    async def inner(self, scope: Any, receive: Any, send: Any) -> None:
        self.reached += 1
        while (await receive()).get("more_body", False):
            pass
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 303, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def post(self, *bodies: dict[str, Any], hold: bool = False) -> list[int]:
        """POST /login with these body messages (then, ``hold``, a receive that never returns);
        the statuses sent."""
        statuses: list[int] = []
        messages = [{"type": "http.request", **body} for body in bodies]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            if hold:
                await asyncio.Event().wait()  # the rest of the body never comes
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "path": "/login", "method": "POST"}
        await self.door(scope, receive, send)  # type: ignore[arg-type]
        return statuses


async def test_the_door_counts_requests_before_they_reach_the_pool() -> None:
    """A burst must be refused at the door: the pool alone sees nothing until forms are parsed."""
    door = Door(capacity=2)
    admitted = [asyncio.ensure_future(door.post({"body": b"x"})) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert door.reached == 2 and door.door.in_flight == 2 and door.pool.admitted == 0
    assert await door.post({"body": b"x"}) == [503]  # refused without reaching the app
    assert door.reached == 2
    door.gate.set()
    assert await asyncio.gather(*admitted) == [[303], [303]]
    assert door.door.in_flight == 0
    assert await door.post({"body": b"x"}) == [303]  # the places are back


async def test_a_client_dribbling_its_body_holds_no_place() -> None:
    door = Door(capacity=1)
    door.gate.set()
    slow = asyncio.ensure_future(door.post({"body": b"x", "more_body": True}, hold=True))
    await asyncio.sleep(0.01)
    assert door.reached == 1 and door.door.in_flight == 0
    assert await door.post({"body": b"x"}) == [303]  # admitted beside it
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert door.door.in_flight == 0


async def test_a_failing_request_gives_its_place_back() -> None:
    door = Door(capacity=1)

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise RuntimeError("the app failed")

    door.door.app = failing
    with pytest.raises(RuntimeError):
        await door.post({"body": b"x"})
    assert door.door.in_flight == 0
    door.door.app = door.inner
    door.gate.set()
    assert await door.post({"body": b"x"}) == [303]

"""Throttling holds across both workers of a real server: counters are not per process."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.support.http import fetch_csrf_token, register, unique_password, unique_username
from tests.support.servers import TEST_SECRET_KEY, LiveServer, running_server

LOGINS_PER_MINUTE = 12


@pytest.fixture(scope="module")
def throttled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Failed-login limits at their defaults; per-IP POST limits off (see ip_limited_server)."""
    with running_server(
        tmp_path_factory.mktemp("throttle-instance"), secret_key=TEST_SECRET_KEY
    ) as server:
        yield server


def ip_limited_server(instance_path: Path) -> AbstractContextManager[LiveServer]:
    """A fresh server whose only limit in play is the per-IP login POST rate."""
    return running_server(
        instance_path,
        secret_key=TEST_SECRET_KEY,
        extra_env={"THROTTLE_LOGIN_PER_MINUTE": str(LOGINS_PER_MINUTE)},
    )


async def login_on_new_connection(server: LiveServer, username: str, password: str) -> int:
    """Each attempt on its own connection, so the kernel spreads them over both workers."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        token = await fetch_csrf_token(client, "/login")
        response = await client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        return response.status_code


def login_workers_since(server: LiveServer, offset: int) -> set[str]:
    """The worker pids that answered POST /login after ``offset`` characters of the log."""
    return set(re.findall(r'<pid <(\d+)>> "POST /login 1\.1"', server.log_text()[offset:]))


async def test_failed_logins_are_counted_across_workers(throttled_server: LiveServer) -> None:
    # The kernel may hand every connection of one round to the same worker; then the round
    # proves nothing about sharing, so another round (with another account) is tried.
    for _ in range(5):
        username, password = unique_username("victim"), unique_password()
        async with httpx.AsyncClient(base_url=throttled_server.base_url, timeout=30) as client:
            assert (await register(client, username, password)).status_code == 303
        offset = len(throttled_server.log_text())
        statuses = [
            await login_on_new_connection(throttled_server, username, "wrong password here")
            for _ in range(7)
        ]
        # Per-process counters would allow five failures per worker; shared ones allow five.
        assert statuses == [401] * 5 + [429] * 2
        assert await login_on_new_connection(throttled_server, username, password) == 429
        await asyncio.sleep(0.1)  # a worker logs a request just after answering it
        if len(login_workers_since(throttled_server, offset)) == 2:
            return
    pytest.fail("every round's logins went to one worker; sharing was never exercised")


async def test_login_posts_per_ip_are_counted_across_workers(tmp_path: Path) -> None:
    # As above, a round whose connections all went to one worker proves nothing about sharing;
    # the allowance is per minute, so each further round takes a fresh server.
    for round_number in range(5):
        with ip_limited_server(tmp_path / f"ip-limit-instance-{round_number}") as server:
            statuses = [
                await login_on_new_connection(server, unique_username("n"), unique_password())
                for _ in range(LOGINS_PER_MINUTE + 2)
            ]
            # Per-process counters would let each worker take its own LOGINS_PER_MINUTE.
            assert statuses == [401] * LOGINS_PER_MINUTE + [429] * 2
            await asyncio.sleep(0.1)
            if len(login_workers_since(server, 0)) == 2:
                return
    pytest.fail("every round's logins went to one worker; sharing was never exercised")

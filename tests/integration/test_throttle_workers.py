"""Throttling holds across both workers of a real server: counters are not per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.support.http import login, register, unique_password, unique_username
from tests.support.servers import TEST_SECRET_KEY, LiveServer, running_server
from tests.support.workers import client_per_worker, worker_of_response

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


async def alternate_logins(server: LiveServer, usernames: list[str], password: str) -> list[int]:
    """One login per username, sent to the two workers in turn; the statuses, once the log
    shows that each went to the worker it was sent to."""
    async with client_per_worker(server) as clients:
        pinned = list(clients.items())
        order = [pinned[n % len(pinned)] for n in range(len(usernames))]
        responses = [
            await login(client, username, password)
            for (_, client), username in zip(order, usernames, strict=True)
        ]
        answered_by = [await worker_of_response(server, response) for response in responses]
    assert answered_by == [pid for pid, _ in order]
    return [response.status_code for response in responses]


async def test_failed_logins_are_counted_across_workers(throttled_server: LiveServer) -> None:
    username, password = unique_username("victim"), unique_password()
    async with httpx.AsyncClient(base_url=throttled_server.base_url, timeout=30) as client:
        assert (await register(client, username, password)).status_code == 303
    statuses = await alternate_logins(throttled_server, [username] * 7, "wrong password here")
    # Per-process counters would let each worker take five failures (4 and 3 here: all 401).
    assert statuses == [401] * 5 + [429] * 2
    assert await alternate_logins(throttled_server, [username] * 2, password) == [429, 429]


async def test_login_posts_per_ip_are_counted_across_workers(tmp_path: Path) -> None:
    with ip_limited_server(tmp_path / "ip-limit-instance") as server:
        names = [unique_username("n") for _ in range(LOGINS_PER_MINUTE + 2)]
        statuses = await alternate_logins(server, names, unique_password())
    # Per-process counters would let each worker take its own LOGINS_PER_MINUTE (7 each here).
    assert statuses == [401] * LOGINS_PER_MINUTE + [429] * 2

"""A keep-alive connection on each worker of a real server, for tests that must reach both.

The kernel hands a new connection to whichever worker accepts first, and on an idle machine
that can be the same worker for every connection of a test: sequential one-shot connections
proved nothing about sharing in a CI run. Here several connections are opened at once,
the access log (which names each answer's worker and request id) says where each landed, and
one per worker is kept; a test then sends each request to the worker it chooses and checks,
from the log again, that the worker it chose answered.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from quart_app.testing.server import WORKERS, LiveServer

# quart_app.testing.server's access log format: <pid <123>> "GET /login 1.1" 200 <request id>
ACCESS_LINE = re.compile(r'<pid <(\d+)>> "[A-Z]+ \S+ 1\.1" \d{3} (\S+)')
PROBES_AT_ONCE = 8
PIN_TIMEOUT_SECONDS = 30.0
LOG_WAIT_SECONDS = 5.0  # a worker writes its access line just after it answers


async def worker_of(server: LiveServer, request_id: str) -> str:
    """The pid of the worker that answered the request with this X-Request-ID."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        answered = {rid: pid for pid, rid in ACCESS_LINE.findall(server.log_text())}
        if request_id in answered:
            return answered[request_id]
        if time.monotonic() > deadline:
            raise AssertionError(f"no access line for request {request_id} in the server log")
        await asyncio.sleep(0.02)


async def worker_of_response(server: LiveServer, response: httpx.Response) -> str:
    return await worker_of(server, response.headers["X-Request-ID"])


def _one_connection_client(server: LiveServer) -> httpx.AsyncClient:
    # One connection at most, kept alive: every request of this client goes to one worker.
    return httpx.AsyncClient(
        base_url=server.base_url, timeout=30, limits=httpx.Limits(max_connections=1)
    )


async def _probe(server: LiveServer, client: httpx.AsyncClient) -> str:
    """Open the client's connection with a GET /login and return the worker that took it."""
    request_id = f"pin-{secrets.token_hex(8)}"
    response = await client.get("/login", headers={"X-Request-ID": request_id})
    assert response.status_code == 200, response.status_code
    return await worker_of(server, request_id)


@asynccontextmanager
async def client_per_worker(server: LiveServer) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One client per worker pid, each on a kept-alive connection that worker accepted."""
    pinned: dict[str, httpx.AsyncClient] = {}
    async with AsyncExitStack() as kept:
        deadline = time.monotonic() + PIN_TIMEOUT_SECONDS
        while len(pinned) < WORKERS:
            if time.monotonic() > deadline:
                raise AssertionError(f"only workers {sorted(pinned)} took a connection")
            batch = [_one_connection_client(server) for _ in range(PROBES_AT_ONCE)]
            for client in batch:
                kept.push_async_callback(client.aclose)  # closing twice is harmless
            # At once, so one worker is still busy with a request when the next one connects.
            pids = await asyncio.gather(*(_probe(server, client) for client in batch))
            for client, pid in zip(batch, pids, strict=True):
                if pid in pinned:
                    await client.aclose()  # a spare: its worker already has a connection
                else:
                    pinned[pid] = client
        yield pinned

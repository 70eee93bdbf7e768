"""Spread the clients' keep-alive connections evenly over hypercorn's workers before a scenario.

hypercorn's workers share one listening socket and nothing balances connections between them:
whichever worker wakes first accepts, so a handful of long-lived keep-alive connections often
all land on one worker and the other idles for the whole run, halving what is measured, and at
random. A load balancer or a steady stream of new visitors evens this out in production; here
each connection's worker is looked up (psutil) and a client on a crowded worker reconnects
(``Connection: close``, then a new request) until the spread is even or the attempts run out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import aiohttp
import psutil

from bench.server import Server

ATTEMPTS_PER_CLIENT = 10


def _own_connections(server_port: int) -> set[int]:
    """Local ports of this process's open connections to ``server_port``."""
    return {
        connection.laddr.port
        for connection in psutil.Process().net_connections(kind="tcp")
        if connection.status == psutil.CONN_ESTABLISHED
        and connection.raddr
        and connection.raddr.port == server_port
    }


async def open_connection(client: aiohttp.ClientSession, path: str, server_port: int) -> int | None:
    """GET ``path`` on a client with no open connection; the local port of the one it opened.

    aiohttp hands a small response's connection back to its pool before the caller can look at
    it, so the port is found as the one connection this process did not have before.
    """
    before = _own_connections(server_port)
    async with client.get(path, allow_redirects=False) as response:
        await response.read()
    opened = _own_connections(server_port) - before
    return opened.pop() if len(opened) == 1 else None


async def drop_connection(client: aiohttp.ClientSession, path: str) -> None:
    """Ask the server to close this client's connection after one more answer."""
    async with client.get(path, allow_redirects=False, headers={"Connection": "close"}) as answer:
        await answer.read()


async def balance_connections(
    clients: Sequence[aiohttp.ClientSession], server: Server, path: str
) -> list[int]:
    """Open each client's connection (one at a time), then even them out; returns the spread."""
    for client in clients:
        await drop_connection(client, path)  # a signed-in client may already hold one
    ports = [await open_connection(client, path, server.port) for client in clients]
    workers = sorted(worker.pid for worker in server.workers())
    if len(workers) < 2:
        return server.connections_per_worker()
    fair_share = -(-len(clients) // len(workers))  # ceiling division
    for _ in range(ATTEMPTS_PER_CLIENT * len(clients)):
        owners = server.connection_owners()
        load = Counter({pid: 0 for pid in workers})
        load.update(owners[port] for port in ports if port in owners)
        crowded = max(workers, key=lambda pid: load[pid])
        if load[crowded] <= fair_share:
            break
        movable = [
            i for i, port in enumerate(ports) if port is not None and owners.get(port) == crowded
        ]
        if not movable:
            break
        index = movable[0]
        await drop_connection(clients[index], path)
        ports[index] = await open_connection(clients[index], path, server.port)
    return server.connections_per_worker()

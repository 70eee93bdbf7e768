"""argon2 on demand: a hasher that holds the pool's threads busy until the test lets go."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from argon2 import PasswordHasher
from quart import Quart

from quart_app.state import get_hasher

T = TypeVar("T")


class GatedHasher(PasswordHasher):
    """argon2 that waits for the test to open a gate: holds pool threads busy on demand."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate = gate

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        if not self.gate.wait(timeout=30):
            raise TimeoutError("test gate never opened")
        return super().verify(hash, password)


@asynccontextmanager
async def pool_held_by(
    app: Quart, request: Coroutine[Any, Any, T]
) -> AsyncIterator[asyncio.Future[T]]:
    """Run ``request`` (a login, say) until its hash holds a pool thread, and keep it there
    while the block runs (the pool's capacity is the test's to choose); the block gets the
    request's future, let go to finish when the block ends (or when it sets the gate)."""
    gate = threading.Event()
    hasher = get_hasher(app)
    hasher.hasher = GatedHasher(gate)
    holding = asyncio.ensure_future(request)
    try:
        for _ in range(10_000):  # until the request holds a thread (bounded)
            if hasher.admitted:
                break
            await asyncio.sleep(0.001)
        yield holding
    finally:
        gate.set()

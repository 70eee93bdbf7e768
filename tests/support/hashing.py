"""argon2 on demand: a hasher that holds the pool's threads busy until the test lets go."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher


class GatedHasher(PasswordHasher):
    """argon2 that waits for the test to open a gate: holds pool threads busy on demand."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate = gate

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        if not self.gate.wait(timeout=30):
            raise TimeoutError("test gate never opened")
        return super().verify(hash, password)

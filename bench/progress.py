"""Progress on stderr while the benchmark runs: a status line redrawn in place on a terminal,
plain lines every few seconds otherwise (a log or a test's captured output stays readable)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO

from bench.stats import Recorder

TTY_INTERVAL_SECONDS = 0.25
PLAIN_INTERVAL_SECONDS = 5.0


class Progress:
    """Writes the bench's progress to ``stream`` (stderr), never to stdout (the table's)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()

    def note(self, text: str) -> None:
        """A permanent line (a phase done, a result)."""
        self._clear()
        elapsed = time.monotonic() - self.started
        self.stream.write(f"[{elapsed:6.1f}s] {text}\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")

    def _status(
        self, recorders: list[Recorder], duration: float, rate: float, ok_rate: float
    ) -> str:
        main = recorders[0]
        elapsed = time.monotonic() - main.started
        failures = sum(r.errors + r.timeouts for r in recorders)
        return (
            f"{main.name:<12} {elapsed:5.1f}/{duration:g}s  "
            f"req {sum(r.requests for r in recorders):>7} ({rate:7.1f}/s)  "
            f"ok {sum(r.ok for r in recorders):>6} ({ok_rate:7.1f}/s)  "
            f"shed {sum(r.shed for r in recorders)}  err {failures}"
        )

    @asynccontextmanager
    async def watching(self, duration: float, *recorders: Recorder) -> AsyncIterator[None]:
        """Show the recorders' live counts while the block runs."""
        task = asyncio.create_task(self._run(duration, list(recorders)))
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            self._clear()
            self.stream.flush()

    async def _run(self, duration: float, recorders: list[Recorder]) -> None:
        interval = TTY_INTERVAL_SECONDS if self.live else PLAIN_INTERVAL_SECONDS
        last_time, last_count, last_ok = time.monotonic(), 0, 0
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            count, ok = sum(r.requests for r in recorders), sum(r.ok for r in recorders)
            rates = ((count - last_count) / (now - last_time), (ok - last_ok) / (now - last_time))
            last_time, last_count, last_ok = now, count, ok
            line = self._status(recorders, duration, *rates)
            if self.live:
                self.stream.write(f"\r\x1b[2K{line}")
            else:
                self.stream.write(f"  {line}\n")
            self.stream.flush()

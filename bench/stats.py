"""What one scenario's clients saw: counts, a status histogram and latencies, then a summary.

Throughput counts only operations finished inside the timed window, so requests still in
flight at the deadline do not inflate the rate; their latencies are still recorded.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["ok", "shed", "error", "timeout"]
# Load shedding answers. With a Retry-After header they are "shed"; without one they are errors
# (the app's database-failure 503 has none), counted apart so the header check is visible.
SHED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class Outcome:
    """One operation (a page request, or a whole login of GET + POST) as the client saw it."""

    kind: Kind
    label: str  # the histogram key: a status code ("303"), "GET 500", or an exception name
    latency: float  # seconds for the whole operation
    answer_latency: float  # seconds for its last request alone (the one that was shed, say)
    requests: int  # HTTP requests it sent
    status: int | None = None  # HTTP status of the last answer; None when there was none
    retry_after: float | None = None  # seconds a shed answer asked to wait


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


@dataclass
class Recorder:
    """Accumulates Outcomes for one scenario (single event loop: no locking needed)."""

    name: str
    started: float = field(default_factory=time.monotonic)
    deadline: float = math.inf
    finished: float | None = None
    requests: int = 0
    ok: int = 0
    ok_in_window: int = 0
    shed: int = 0
    shed_without_retry_after: int = 0
    errors: int = 0
    timeouts: int = 0
    server_errors_not_shed: int = 0  # 5xx other than a 503 with Retry-After
    latencies: list[float] = field(default_factory=list)
    shed_latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def start(self, duration: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + duration

    def record(self, outcome: Outcome) -> None:
        self.requests += outcome.requests
        self.statuses[outcome.label] += 1
        if outcome.kind == "ok":
            self.ok += 1
            self.latencies.append(outcome.latency)
            if time.monotonic() <= self.deadline:
                self.ok_in_window += 1
        elif outcome.kind == "shed":
            self.shed += 1
            self.shed_latencies.append(outcome.answer_latency)
        elif outcome.kind == "timeout":
            self.timeouts += 1
        else:
            self.errors += 1
            if outcome.status in SHED_STATUSES:
                self.shed_without_retry_after += 1
            if outcome.status is not None and outcome.status >= 500:
                self.server_errors_not_shed += 1

    def finish(self) -> None:
        self.finished = time.monotonic()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def window(self) -> float:
        """The timed window: start to deadline, or to the end if the run stopped earlier."""
        end = self.finished or time.monotonic()
        return max(min(end, self.deadline) - self.started, 1e-9)

    def summary(self) -> dict[str, Any]:
        """The JSON form: rates per second, latencies in milliseconds."""
        return {
            "window_s": round(self.window, 3),
            "elapsed_s": round(self.elapsed, 3),
            "requests": self.requests,
            "ok": self.ok,
            "ok_per_s": round(self.ok_in_window / self.window, 2),
            "requests_per_s": round(self.requests / self.elapsed, 2) if self.elapsed else 0.0,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "shed": self.shed,
            "shed_without_retry_after": self.shed_without_retry_after,
            "server_errors_not_shed": self.server_errors_not_shed,
            "latency_ms": {
                "p50": _ms(percentile(self.latencies, 50)),
                "p95": _ms(percentile(self.latencies, 95)),
                "p99": _ms(percentile(self.latencies, 99)),
                "max": _ms(max(self.latencies, default=None)),
            },
            "shed_latency_ms": {
                "p50": _ms(percentile(self.shed_latencies, 50)),
                "p99": _ms(percentile(self.shed_latencies, 99)),
            },
            "statuses": dict(sorted(self.statuses.items())),
        }


@dataclass
class AnswerRecorder(Recorder):
    """A Recorder that also keeps each status's answer latencies and every Retry-After, for a
    scenario that judges one kind of answer (the limiter's 429s) among the others."""

    answer_latencies: dict[int, list[float]] = field(default_factory=dict)
    retry_afters: list[float] = field(default_factory=list)

    def record(self, outcome: Outcome) -> None:
        super().record(outcome)
        if outcome.status is not None:
            self.answer_latencies.setdefault(outcome.status, []).append(outcome.answer_latency)
        if outcome.retry_after is not None:
            self.retry_afters.append(outcome.retry_after)

    def answered(self, status: int) -> int:
        """Answers with ``status``, with or without Retry-After."""
        return len(self.answer_latencies.get(status, ()))

    def answer_latency_ms(self, status: int) -> dict[str, float | None]:
        """p50 / p99 of the answers with ``status`` alone, in milliseconds."""
        values = self.answer_latencies.get(status, [])
        return {"p50": _ms(percentile(values, 50)), "p99": _ms(percentile(values, 99))}

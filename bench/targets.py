"""The project's performance targets, each checked against numbers measured in the same run.

Limits are ratios to this run's own baselines (hash limit, ceiling, idle latency, idle memory),
so the verdicts mean the same on a laptop and on a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

SHED_P99_LIMIT_MS = 50.0
LOGIN_SHARE_OF_HASH_LIMIT = 0.9
DASHBOARD_SHARE_OF_CEILING = 0.6
ISOLATION_P99_FACTOR = 3.0
WORKER_OVERHEAD_MIB = 64.0


@dataclass(frozen=True)
class Target:
    key: str
    scenario: str
    rule: str  # the target in words, ending with its limit in this run
    value: float | None
    limit: float | None
    higher_is_better: bool
    passed: bool | None  # None: cannot be judged (e.g. nothing was shed)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.limit:
            return None
        return self.value / self.limit

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "N/A"
        return "PASS" if self.passed else "MISS"

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            **asdict(self),
            "ratio": None if ratio is None else round(ratio, 3),
            "verdict": self.verdict,
        }


def _judge(
    key: str,
    scenario: str,
    rule: str,
    value: float | None,
    limit: float | None,
    *,
    higher_is_better: bool,
) -> Target:
    compare: Callable[[float, float], bool] = (
        (lambda v, lim: v >= lim) if higher_is_better else (lambda v, lim: v <= lim)
    )
    passed = None if value is None or limit is None else compare(value, limit)
    return Target(key, scenario, rule, value, limit, higher_is_better, passed)


def memory_limit_mib(memory: dict[str, Any], meta: dict[str, Any]) -> float:
    """idle RSS + workers x (hashing threads x argon2 memory + 64 MiB)."""
    argon2_mib = meta["argon2"]["memory_cost_kib"] / 1024
    per_worker = meta["hash_pool_size"] * argon2_mib + WORKER_OVERHEAD_MIB
    return float(memory["idle_total_mib"] + meta["workers"] * per_worker)


def _limit_text(value: float) -> str:
    return f"{value:,.1f}"


def evaluate(meta: dict[str, Any], scenarios: dict[str, Any]) -> list[Target]:
    hash_limit = scenarios["hash_limit"]["ideal_logins_per_s"]
    storm = scenarios["login_storm"]
    dash = scenarios["dashboard"]
    iso = scenarios["isolation"]
    over = scenarios["overload"]
    memory = scenarios["memory"]
    idle_p99 = dash["latency_ms"]["p99"]
    shed_p99 = over["shed_latency_ms"]["p99"]
    logins_limit = LOGIN_SHARE_OF_HASH_LIMIT * hash_limit
    dashboard_limit = DASHBOARD_SHARE_OF_CEILING * scenarios["ceiling"]["ok_per_s"]
    isolation_limit = None if idle_p99 is None else ISOLATION_P99_FACTOR * idle_p99
    memory_limit = memory_limit_mib(memory, meta)
    return [
        _judge(
            "logins_per_s",
            "login storm",
            f"≥ {LOGIN_SHARE_OF_HASH_LIMIT:g} × hash limit = {_limit_text(logins_limit)}",
            storm["ok_per_s"],
            logins_limit,
            higher_is_better=True,
        ),
        _judge(
            "dashboard_rps",
            "dashboard",
            f"≥ {DASHBOARD_SHARE_OF_CEILING:g} × ceiling = {_limit_text(dashboard_limit)}",
            dash["ok_per_s"],
            dashboard_limit,
            higher_is_better=True,
        ),
        _judge(
            "isolation_p99",
            "isolation",
            f"≤ {ISOLATION_P99_FACTOR:g} × dashboard p99"
            + ("" if isolation_limit is None else f" = {_limit_text(isolation_limit)} ms"),
            iso["latency_ms"]["p99"],
            isolation_limit,
            higher_is_better=False,
        ),
        _judge("overload_timeouts", "overload", "= 0", over["timeouts"], 0, higher_is_better=False),
        _judge(
            "overload_other_5xx",
            "overload",
            "= 0",
            over["server_errors_not_shed"],
            0,
            higher_is_better=False,
        ),
        _judge(
            "shed_without_retry_after",
            "overload",
            "= 0",
            over["shed_without_retry_after"],
            0,
            higher_is_better=False,
        ),
        _judge(
            "shed_p99_ms",
            "overload",
            f"p99 ≤ {SHED_P99_LIMIT_MS:g} ms" + ("" if shed_p99 is not None else " (none shed)"),
            shed_p99,
            SHED_P99_LIMIT_MS if shed_p99 is not None else None,
            higher_is_better=False,
        ),
        _judge(
            "peak_rss_mib",
            "memory",
            f"≤ idle + {meta['workers']} × ({meta['hash_pool_size']} × "
            f"{meta['argon2']['memory_cost_kib'] / 1024:g} + {WORKER_OVERHEAD_MIB:g})"
            f" = {_limit_text(memory_limit)} MiB",
            memory["peak_mib"],
            memory_limit,
            higher_is_better=False,
        ),
    ]
